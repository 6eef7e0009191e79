/**
 * Devices on one LAN (docs/devices.md, "On a LAN"): DNS-SD over mDNS, with `bonjour-service`.
 *
 * A device that listens (`device serve --lan`, `device pair --lan`) advertises an instance of
 * `_tessera._tcp` on its LAN address and port, whose TXT record holds `v=1`, its name, its
 * status (`ready`: it answers requests; `available`: it waits for a device to pair with;
 * `offline`: it is going away) and its identity's fingerprint: nothing secret. Others browse for
 * a few seconds and connect to the address and port. Discovery is untrusted: anyone on the LAN
 * can advertise any name and fingerprint; what authenticates a peer is its pinned identity
 * (pairing, then signed envelopes), never what mDNS says.
 *
 * IPv4 only (IPv6-only responders are not seen by the library), and not on loopback (multicast
 * does not loop back to the same host reliably): LAN tests run in two network namespaces.
 * @module
 */
import { networkInterfaces } from 'node:os';
import { Bonjour, type Service } from 'bonjour-service';

export const LAN_SERVICE = 'tessera';

/**
 * multicast-dns options (the library types them as service defaults): send on the interface of
 * `host`, but bind the wildcard address, since a socket bound to a unicast address receives no
 * multicast on Linux.
 */
const mdnsOptions = (host?: string) =>
  (host ? { interface: host, bind: '0.0.0.0' } : {}) as ConstructorParameters<typeof Bonjour>[0];
export type LanStatus = 'ready' | 'available' | 'offline';

/** A device found on the LAN, as it advertises itself (untrusted). */
export interface LanDevice {
  name: string;
  fingerprint: string;
  status: LanStatus;
  /** `http://<IPv4>:<port>`, the address the answer came from and the advertised port. */
  url: string;
}

/** The first non-internal IPv4 address of this host (or the one named), else null. */
export function lanAddress(prefer?: string): string | null {
  const all = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => (i as { address: string }).address);
  if (prefer !== undefined) return all.includes(prefer) ? prefer : null;
  return all[0] ?? null;
}

/** DNS-SD instance names are at most 63 bytes: the device name cut on a character boundary. */
function instanceName(name: string, fingerprint: string): string {
  const suffix = ` (${fingerprint.slice(0, 8)})`;
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch + suffix) > 63) break;
    out += ch;
  }
  return out + suffix;
}

/** An advertisement on the LAN; `status` republishes, `close` says goodbye. */
export class LanAdvertiser {
  readonly #bonjour: Bonjour;
  readonly #o: { name: string; fingerprint: string; port: number; host: string };
  #service: Service | null = null;

  constructor(o: {
    name: string;
    fingerprint: string;
    port: number;
    host: string;
    status: LanStatus;
  }) {
    this.#o = o;
    this.#bonjour = new Bonjour(mdnsOptions(o.host), () => {});
    this.#publish(o.status);
  }

  #publish(status: LanStatus): void {
    this.#service = this.#bonjour.publish({
      name: instanceName(this.#o.name, this.#o.fingerprint),
      type: LAN_SERVICE,
      protocol: 'tcp',
      port: this.#o.port,
      disableIPv6: true,
      txt: { v: '1', name: this.#o.name, fp: this.#o.fingerprint, status },
    });
  }

  /** Replaces the advertisement with one of another status. */
  async status(status: LanStatus): Promise<void> {
    const old = this.#service;
    this.#service = null;
    if (old) await new Promise<void>((r) => old.stop?.(() => r()) ?? r());
    this.#publish(status);
  }

  /** Announces `offline`, then withdraws the advertisement and closes the socket. */
  async close(): Promise<void> {
    await this.status('offline');
    await new Promise((r) => setTimeout(r, 300));
    await new Promise<void>((r) => this.#bonjour.unpublishAll(() => r()));
    await new Promise<void>((r) => this.#bonjour.destroy(() => r()));
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const STATUSES: readonly string[] = ['ready', 'available', 'offline'];

/**
 * Browses `_tessera._tcp` for `timeoutMs` (default 3 s) and returns what answered, one entry per
 * fingerprint (the latest answer wins). Malformed advertisements are left out.
 */
export async function discoverDevices(
  o: { timeoutMs?: number; host?: string } = {}
): Promise<LanDevice[]> {
  const bonjour = new Bonjour(mdnsOptions(o.host), () => {});
  const found = new Map<string, LanDevice>();
  const take = (s: Service) => {
    const txt = (s.txt ?? {}) as Record<string, unknown>;
    const address = [...(s.addresses ?? []), s.referer?.address].find(
      (a): a is string => typeof a === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(a)
    );
    const fp = String(txt.fp ?? '');
    const status = String(txt.status ?? '');
    const name = String(txt.name ?? '');
    if (!address || !HEX64.test(fp) || !STATUSES.includes(status) || !name || name.length > 64)
      return;
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) return;
    found.set(fp, {
      name,
      fingerprint: fp,
      status: status as LanStatus,
      url: `http://${address}:${s.port}`,
    });
  };
  const browser = bonjour.find({ type: LAN_SERVICE, protocol: 'tcp' }, take);
  browser.on('txt-update', take);
  await new Promise((r) => setTimeout(r, o.timeoutMs ?? 3000));
  browser.stop();
  await new Promise<void>((r) => bonjour.destroy(() => r()));
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The pinned peer `fingerprint` on the LAN, ready to answer: browses until it answers or
 * `timeoutMs` (default 5 s) passes; null if it did not.
 */
export async function findPeerOnLan(
  fingerprint: string,
  o: { timeoutMs?: number; host?: string; status?: LanStatus } = {}
): Promise<LanDevice | null> {
  const deadline = Date.now() + (o.timeoutMs ?? 5000);
  while (Date.now() < deadline) {
    const step = Math.min(1500, deadline - Date.now());
    const hit = (
      await discoverDevices({ timeoutMs: step, ...(o.host ? { host: o.host } : {}) })
    ).find((d) => d.fingerprint === fingerprint && d.status === (o.status ?? 'ready'));
    if (hit) return hit;
  }
  return null;
}
