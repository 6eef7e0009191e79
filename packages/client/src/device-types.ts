/**
 * What a device is and knows, without where it keeps it: the device's identity, its pinned
 * peers, and `DeviceHomeStore`, the interface a device home implements (the Node folder in
 * `device-home.ts`; IndexedDB in the web wallet). Browser-safe.
 * @module
 */
import {
  PAIR_MAX_NAME,
  type PairingLockout,
  type PartyIdentity,
  type PartyPublic,
  TesseraError,
} from '@tessera/core';

/** The lockout entry that counts every failed attempt of the device, whoever the peer. */
export const DEVICE_WIDE = '*device*';

/**
 * | code              | meaning                                                           |
 * |-------------------|-------------------------------------------------------------------|
 * | `DEVICE_EXISTS`   | `init` on a home that already holds a device                      |
 * | `NO_DEVICE`       | no `device.json` in the home (run `tessera device init`)          |
 * | `DEVICE_CORRUPTED`| a home file does not parse                                        |
 * | `BAD_NAME`        | a device name of 0 or more than 64 UTF-8 bytes, or with controls  |
 * | `PAIRING_LOCKED`  | three failed attempts within 10 minutes (with this peer, or on the device) |
 * | `PAIRING_BUSY`    | another live process is pairing from this home                    |
 * | `UNKNOWN_PEER`    | no pinned peer has that name or fingerprint                       |
 * | `AMBIGUOUS_PEER`  | several pinned peers match (give a fingerprint)                   |
 */
export class DeviceError extends TesseraError {
  override name = 'DeviceError';
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message);
    this.details = details;
  }
}

export interface DeviceInfo {
  name: string;
  identity: PartyIdentity;
  fingerprint: string;
  createdAt: number;
}

export interface PeerRecord {
  name: string;
  /** Ed25519 key, hex. */
  publicKey: string;
  /** X25519 key, hex. */
  x25519: string;
  fingerprint: string;
  /** ms since the epoch. */
  pairedAt: number;
}

/** The same check core's pairing applies to names (1..64 UTF-8 bytes, no control character). */
export function checkDeviceName(name: string): string {
  const bytes = new TextEncoder().encode(name);
  let ok = bytes.length >= 1 && bytes.length <= PAIR_MAX_NAME;
  for (const ch of name) {
    const cp = ch.codePointAt(0) as number;
    // Control characters, and lone surrogates (which UTF-8 cannot carry).
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0xd800 && cp <= 0xdfff)) ok = false;
  }
  if (!ok)
    throw new DeviceError(
      'BAD_NAME',
      `a device name is 1..${PAIR_MAX_NAME} UTF-8 bytes without control characters`
    );
  return name;
}

/**
 * Where a device keeps its identity, peers and pairing lockout. Each method may answer at once
 * or with a promise; a write must be durable before it returns (or its promise resolves).
 */
export interface DeviceHomeStore {
  /** The device, or `NO_DEVICE`. */
  load(): DeviceInfo | Promise<DeviceInfo>;
  /** Pins a peer (replacing an earlier record of the same fingerprint). */
  addPeer(p: { name: string; peer: PartyPublic }): PeerRecord | Promise<PeerRecord>;
  /** The pinned peer `q` names (`findPeerIn`). */
  findPeer(q: string): PeerRecord | Promise<PeerRecord>;
  /** The pinned peers, oldest first. */
  peers(): PeerRecord[] | Promise<PeerRecord[]>;
  /**
   * Before an attempt: an attempt a dead process left behind counts as failed; a live one is
   * `PAIRING_BUSY`; then `PAIRING_LOCKED` if the device (or `peer`) is locked.
   */
  beginPairing(peer?: string): void | Promise<void>;
  /** `PAIRING_LOCKED` while the device, or pairing with `peer`, is locked. */
  assertUnlocked(peer?: string): void | Promise<void>;
  /** Written before a code is shown: if the device dies from here on, the attempt counts as failed. */
  markAttempt(peer: string): void | Promise<void>;
  /** A failed attempt (mismatch, refusal, a broken confirmation): counted, durably, at once. */
  recordFailure(peer: string | null): void | Promise<void>;
  /** The attempt ended without a code being shown, or succeeded with `peer`. */
  endPairing(success?: string): void | Promise<void>;
}

/**
 * The pinned peer `q` names among `all`: its fingerprint, a fingerprint prefix of 8 or more hex
 * digits, or its name. `UNKNOWN_PEER` if none does, `AMBIGUOUS_PEER` if several do.
 */
export function findPeerIn(all: readonly PeerRecord[], q: string): PeerRecord {
  const lower = q.toLowerCase();
  let hits = all.filter((p) => p.fingerprint === lower);
  if (hits.length === 0 && /^[0-9a-f]{8,63}$/.test(lower))
    hits = all.filter((p) => p.fingerprint.startsWith(lower));
  if (hits.length === 0) hits = all.filter((p) => p.name === q);
  if (hits.length === 1) return hits[0] as PeerRecord;
  if (hits.length === 0)
    throw new DeviceError(
      'UNKNOWN_PEER',
      `no paired device is named "${q}" (see tessera device peers)`
    );
  throw new DeviceError(
    'AMBIGUOUS_PEER',
    `${hits.length} paired devices match "${q}": give a fingerprint (see tessera device peers)`
  );
}

/** `PAIRING_LOCKED` while `lockout` locks the device, or pairing with `peer`. */
export function assertPairingOpen(lockout: PairingLockout, now: number, peer?: string): void {
  for (const [key, what] of [
    [DEVICE_WIDE, 'pairing on this device'],
    [peer, 'pairing with this peer'],
  ] as const) {
    if (key === undefined) continue;
    const s = lockout.status(key);
    if (s.locked)
      throw new DeviceError(
        'PAIRING_LOCKED',
        `${what} is locked for ${Math.ceil(((s.until as number) - now) / 1000)} s after three failed attempts in 10 minutes`,
        { until: s.until }
      );
  }
}
