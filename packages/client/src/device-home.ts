/**
 * A device's home folder (docs/devices.md): its identity, the peers it paired with, and the
 * pairing lockout. Node only.
 *
 * - `device.json` (mode 0600): `{ format, name, publicKey, x25519, signingKey, x25519Secret,
 *   createdAt }`, keys in hex: the Ed25519 and X25519 secrets in the clear, protected by the
 *   file mode only (like an SSH key without a passphrase);
 * - `peers/<fingerprint>.json`: `{ name, publicKey, x25519, fingerprint, pairedAt }`;
 * - `pairing/lockout.json`: core's `PairingLockoutState`, with the device-wide entry `*device*`;
 * - `pairing/attempt.json`: the attempt in progress (written before a code is shown).
 *
 * Every write goes to a fresh temporary file, is flushed, renamed over the target and the folder
 * flushed, so a crash leaves the old or the new file, never a torn one.
 * @module
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  fingerprint,
  newPartyIdentity,
  PairingLockout,
  type PairingLockoutState,
  type PartyPublic,
} from '@tessera/core';
import {
  assertPairingOpen,
  checkDeviceName,
  DEVICE_WIDE,
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  findPeerIn,
  type PeerRecord,
} from './device-types.ts';
import { fsyncDir, pidAlive } from './durable.ts';

export {
  checkDeviceName,
  DEVICE_WIDE,
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  findPeerIn,
  type PeerRecord,
};

const FORMAT = 'tessera-device/1';

interface DeviceFile {
  format: string;
  name: string;
  publicKey: string;
  x25519: string;
  signingKey: string;
  x25519Secret: string;
  createdAt: number;
}

interface AttemptFile {
  pid: number;
  host: string;
  at: number;
  /** The peer's fingerprint, when known. */
  peer: string | null;
}

/** Writes `text` to `path` atomically and durably, mode 0600. */
function writeDurable(path: string, dir: string, text: string): void {
  const tmp = join(dir, `.${bytesToHex(randomBytes(8))}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}

function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new DeviceError('DEVICE_CORRUPTED', `${path} does not parse`);
  }
}

const HEX32 = /^[0-9a-f]{64}$/;

export class DeviceHome implements DeviceHomeStore {
  readonly home: string;
  readonly #clock: () => number;

  constructor(home: string, opts: { clock?: () => number } = {}) {
    this.home = home;
    this.#clock = opts.clock ?? Date.now;
  }

  get #devicePath(): string {
    return join(this.home, 'device.json');
  }
  get #peersDir(): string {
    return join(this.home, 'peers');
  }
  get #pairingDir(): string {
    return join(this.home, 'pairing');
  }

  #mkdir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  exists(): boolean {
    return existsSync(this.#devicePath);
  }

  /** Creates the device: a fresh identity under `name`. Refuses (`DEVICE_EXISTS`) to overwrite. */
  init(name: string): DeviceInfo {
    checkDeviceName(name);
    this.#mkdir(this.home);
    if (this.exists())
      throw new DeviceError('DEVICE_EXISTS', `${this.home} already holds a device`);
    const identity = newPartyIdentity();
    const createdAt = this.#clock();
    const f: DeviceFile = {
      format: FORMAT,
      name,
      publicKey: bytesToHex(identity.public.publicKey),
      x25519: bytesToHex(identity.public.x25519),
      signingKey: bytesToHex(identity.signingKey),
      x25519Secret: bytesToHex(identity.x25519Secret),
      createdAt,
    };
    const tmp = join(this.home, `.${bytesToHex(randomBytes(8))}.tmp`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(f, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // No rename over an existing device, even one created meanwhile by another process.
    try {
      renameNoReplace(tmp, this.#devicePath);
    } finally {
      rmSync(tmp, { force: true });
    }
    fsyncDir(this.home);
    return { name, identity, fingerprint: fingerprint(identity.public), createdAt };
  }

  /** The device, or `NO_DEVICE`. Checks that the stored public keys match the secrets. */
  load(): DeviceInfo {
    const f = readJson<DeviceFile>(this.#devicePath);
    if (f === null)
      throw new DeviceError(
        'NO_DEVICE',
        `no device in ${this.home}: run "tessera device init --name NAME" first`
      );
    const bad = () => new DeviceError('DEVICE_CORRUPTED', `${this.#devicePath} is damaged`);
    if (
      f.format !== FORMAT ||
      typeof f.name !== 'string' ||
      ![f.publicKey, f.x25519, f.signingKey, f.x25519Secret].every(
        (h) => typeof h === 'string' && HEX32.test(h)
      )
    )
      throw bad();
    const signingKey = hexToBytes(f.signingKey);
    const x25519Secret = hexToBytes(f.x25519Secret);
    const pub: PartyPublic = {
      publicKey: ed25519.getPublicKey(signingKey),
      x25519: x25519.getPublicKey(x25519Secret),
    };
    if (bytesToHex(pub.publicKey) !== f.publicKey || bytesToHex(pub.x25519) !== f.x25519)
      throw bad();
    return {
      name: f.name,
      identity: { public: pub, signingKey, x25519Secret },
      fingerprint: fingerprint(pub),
      createdAt: f.createdAt,
    };
  }

  /** Pins a peer (replacing an earlier record of the same fingerprint). */
  addPeer(p: { name: string; peer: PartyPublic }): PeerRecord {
    this.#mkdir(this.#peersDir);
    const rec: PeerRecord = {
      name: p.name,
      publicKey: bytesToHex(p.peer.publicKey),
      x25519: bytesToHex(p.peer.x25519),
      fingerprint: fingerprint(p.peer),
      pairedAt: this.#clock(),
    };
    writeDurable(
      join(this.#peersDir, `${rec.fingerprint}.json`),
      this.#peersDir,
      `${JSON.stringify(rec, null, 2)}\n`
    );
    return rec;
  }

  /**
   * The pinned peer `q` names: its fingerprint, a fingerprint prefix of 8 or more hex digits, or
   * its name. `UNKNOWN_PEER` if none does, `AMBIGUOUS_PEER` if several do.
   */
  findPeer(q: string): PeerRecord {
    return findPeerIn(this.peers(), q);
  }

  /** The pinned peers, oldest first. */
  peers(): PeerRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.#peersDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: PeerRecord[] = [];
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.json$/.exec(n);
      if (!m) continue;
      const r = readJson<PeerRecord>(join(this.#peersDir, n));
      if (r && r.fingerprint === m[1]) out.push(r);
    }
    return out.sort(
      (a, b) => a.pairedAt - b.pairedAt || a.fingerprint.localeCompare(b.fingerprint)
    );
  }

  // --- The lockout ---------------------------------------------------------------------------

  #lockoutPath(): string {
    return join(this.#pairingDir, 'lockout.json');
  }
  #attemptPath(): string {
    return join(this.#pairingDir, 'attempt.json');
  }

  lockout(): PairingLockout {
    const s = readJson<PairingLockoutState>(this.#lockoutPath());
    try {
      return new PairingLockout(this.#clock, s ?? undefined);
    } catch {
      throw new DeviceError('DEVICE_CORRUPTED', `${this.#lockoutPath()} is damaged`);
    }
  }

  #saveLockout(l: PairingLockout): void {
    this.#mkdir(this.#pairingDir);
    writeDurable(this.#lockoutPath(), this.#pairingDir, `${JSON.stringify(l.toJSON())}\n`);
  }

  /**
   * Before an attempt: an attempt a dead process left behind counts as failed; a live one is
   * `PAIRING_BUSY`; then `PAIRING_LOCKED` if the device (or `peer`) is locked.
   */
  beginPairing(peer?: string): void {
    const a = readJson<AttemptFile>(this.#attemptPath());
    if (a !== null) {
      const mine = a.pid === process.pid && a.host === hostname();
      if (!mine && a.host === hostname() && pidAlive(a.pid))
        throw new DeviceError('PAIRING_BUSY', 'another process is pairing from this home');
      if (!mine) this.#fail(a.peer);
    }
    this.assertUnlocked(peer);
  }

  /** `PAIRING_LOCKED` while the device, or pairing with `peer`, is locked. */
  assertUnlocked(peer?: string): void {
    assertPairingOpen(this.lockout(), this.#clock(), peer);
  }

  /**
   * Written (durably) before a code is shown: if this process dies from here on, the next
   * attempt counts this one as failed.
   */
  markAttempt(peer: string): void {
    this.#mkdir(this.#pairingDir);
    const a: AttemptFile = { pid: process.pid, host: hostname(), at: this.#clock(), peer };
    writeDurable(this.#attemptPath(), this.#pairingDir, `${JSON.stringify(a)}\n`);
  }

  #fail(peer: string | null): void {
    const l = this.lockout();
    if (peer) l.recordFailure(peer);
    l.recordFailure(DEVICE_WIDE);
    this.#saveLockout(l);
    rmSync(this.#attemptPath(), { force: true });
    fsyncDir(this.#pairingDir);
  }

  /** A failed attempt (mismatch, refusal, a broken confirmation): counted, on disk, at once. */
  recordFailure(peer: string | null): void {
    this.#fail(peer);
  }

  /** The attempt ended without a code being shown, or succeeded with `peer`. */
  endPairing(success?: string): void {
    if (success) {
      const l = this.lockout();
      l.recordSuccess(success);
      this.#saveLockout(l);
    }
    if (existsSync(this.#attemptPath())) {
      rmSync(this.#attemptPath(), { force: true });
      fsyncDir(this.#pairingDir);
    }
  }
}

/** `rename` that refuses to replace: a hard link (fails on EEXIST), then the link is the file. */
function renameNoReplace(from: string, to: string): void {
  try {
    // linkSync is atomic and refuses an existing target.
    linkSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DeviceError('DEVICE_EXISTS', `${to} already exists`);
    throw e;
  }
}
