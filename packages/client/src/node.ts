/**
 * Node-only parts of the client: the encrypted file share store and a `ws`-backed WebSocket.
 * Import from `@tessera/client/node`.
 *
 * Layout under the home directory:
 * - `store.json`: format, KDF salt and parameters, a key check value;
 * - `keys/<keyId>.json`: public facts and, per epoch, the sealed share;
 * - `ledger/<keyId>.log`: the nonce ledger, one line per single-use id (a 128-bit hash of it);
 * - `guard/<h>.pending`, `guard/<h>.banned`: pending-check markers and bans of ECDSA pairs, named
 *   by a hash `h` of the pair.
 * Shares are sealed with AES-256-GCM under a store key, with the key id and epoch as AAD. The
 * store key comes from a passphrase (scrypt, N = 2^17, r = 8) or from a 32-byte secret the
 * platform provides (a keychain entry, a secrets manager, or the default `<home>/secret.key`,
 * mode 0600). Every write is flushed to disk (file and directory) before its promise resolves,
 * since bans and used nonces must survive a crash that follows.
 * @module
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { RelaySocket, RelayWebSocketFactory } from '@tessera/api/relay';
import { WebSocket } from 'ws';
import { fsyncDir, fsyncFile, pidAlive } from './durable.ts';
import { ClientError } from './errors.ts';
import { PairMarkerDir } from './pair-markers.ts';
import type { PairMarkerState, ShareStore, StoredKey } from './store.ts';
import type { WebSocketFactory, WebSocketLike } from './transport.ts';

const FORMAT = 'tessera-client-store/1';
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, dkLen: 32 };
/** How long `consume` waits for another process's ledger lock before giving up. */
const LOCK_WAIT_MS = 10_000;
/** A ledger lock is held for milliseconds: one this old was left by a crash, wherever. */
const LOCK_LEASE_MS = 30_000;

interface StoreFile {
  format: string;
  mode: 'passphrase' | 'secret';
  salt: string;
  kdf: { N: number; r: number; p: number } | null;
  check: string;
}

interface KeyFile extends Omit<StoredKey, 'epochs'> {
  shares: Record<string, string>;
}

/** `{ passphrase }` or `{ secret }` (32 bytes); with neither, `<home>/secret.key` is used (created on first use). */
export type FileStoreSecret =
  | { passphrase: string }
  | { secret: Uint8Array }
  | Record<string, never>;

export class FileShareStore implements ShareStore {
  readonly home: string;
  readonly #key: Uint8Array;
  /** Ledger lines known per key, and how many bytes of its file they cover. */
  readonly #ledgers = new Map<string, { size: number; ids: Set<string> }>();
  readonly #markers: PairMarkerDir;

  private constructor(home: string, key: Uint8Array) {
    this.home = home;
    this.#key = key;
    this.#markers = new PairMarkerDir(join(home, 'guard'));
  }

  static async open(home: string, secret: FileStoreSecret = {}): Promise<FileShareStore> {
    for (const d of ['keys', 'ledger']) mkdirSync(join(home, d), { recursive: true, mode: 0o700 });
    const metaPath = join(home, 'store.json');
    let meta: StoreFile;
    const mode = 'passphrase' in secret ? 'passphrase' : 'secret';
    if (existsSync(metaPath)) {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as StoreFile;
      if (meta.format !== FORMAT)
        throw new ClientError('BAD_INPUT', `${metaPath}: unknown store format`);
      if (meta.mode !== mode)
        throw new ClientError(
          'BAD_INPUT',
          `the store in ${home} is protected by a ${meta.mode}; supply that instead`
        );
    } else {
      meta = {
        format: FORMAT,
        mode,
        salt: bytesToHex(randomBytes(16)),
        kdf: mode === 'passphrase' ? { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p } : null,
        check: '',
      };
    }
    const salt = hexToBytes(meta.salt);
    let key: Uint8Array;
    if ('passphrase' in secret) {
      if (typeof secret.passphrase !== 'string' || secret.passphrase.length < 8)
        throw new ClientError('BAD_INPUT', 'the store passphrase must have at least 8 characters');
      key = await scryptAsync(utf8ToBytes(secret.passphrase.normalize('NFKC')), salt, {
        ...(meta.kdf ?? SCRYPT),
        dkLen: 32,
      });
    } else {
      const ikm = 'secret' in secret ? secret.secret : machineSecret(home);
      if (ikm.length !== 32)
        throw new ClientError('BAD_INPUT', 'the store secret must be 32 bytes');
      key = hkdf(sha256, ikm, salt, utf8ToBytes(FORMAT), 32);
    }
    const check = bytesToHex(hkdf(sha256, key, salt, utf8ToBytes('check'), 16));
    if (meta.check && meta.check !== check)
      throw new ClientError('BAD_INPUT', `wrong ${mode} for the store in ${home}`);
    if (!meta.check) atomicWrite(metaPath, JSON.stringify({ ...meta, check }, null, 2));
    return new FileShareStore(home, key);
  }

  #path(keyId: string): string {
    if (!/^[0-9a-f]{64}$/.test(keyId)) throw new ClientError('BAD_INPUT', `not a key id: ${keyId}`);
    return join(this.home, 'keys', `${keyId}.json`);
  }

  #read(keyId: string): KeyFile | null {
    const p = this.#path(keyId);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as KeyFile) : null;
  }

  #aad(keyId: string, epoch: string): Uint8Array {
    return utf8ToBytes(`${FORMAT}|${keyId}|${epoch}`);
  }

  async put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void> {
    const prev = this.#read(key.keyId);
    const nonce = randomBytes(12);
    const sealed = gcm(this.#key, nonce, this.#aad(key.keyId, key.epoch)).encrypt(share);
    const file: KeyFile = {
      ...key,
      shares: { ...(prev?.shares ?? {}), [key.epoch]: bytesToHex(nonce) + bytesToHex(sealed) },
    };
    atomicWrite(this.#path(key.keyId), JSON.stringify(file, null, 2));
  }

  async get(keyId: string, epoch?: string): Promise<Uint8Array | null> {
    const f = this.#read(keyId);
    const e = epoch ?? f?.epoch;
    const blob = e ? f?.shares[e] : undefined;
    if (!f || !e || !blob) return null;
    const raw = hexToBytes(blob);
    try {
      return gcm(this.#key, raw.subarray(0, 12), this.#aad(keyId, e)).decrypt(raw.subarray(12));
    } catch {
      throw new ClientError(
        'BAD_INPUT',
        `the stored share of key ${keyId} failed authentication (tampered or wrong store key)`
      );
    }
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    const f = this.#read(keyId);
    return f ? publicOf(f) : null;
  }

  async list(): Promise<StoredKey[]> {
    return readdirSync(join(this.home, 'keys'))
      .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
      .map((n) => publicOf(this.#read(n.slice(0, 64)) as KeyFile));
  }

  async prune(keyId: string, keep: string): Promise<void> {
    const f = this.#read(keyId);
    if (!f?.shares[keep]) return;
    atomicWrite(
      this.#path(keyId),
      JSON.stringify({ ...f, epoch: keep, shares: { [keep]: f.shares[keep] } }, null, 2)
    );
  }

  async consume(keyId: string, ids: readonly string[]): Promise<boolean> {
    const path = join(this.home, 'ledger', `${this.#checkKeyId(keyId)}.log`);
    return withLock(`${path}.lock`, () => {
      const known = this.#ledger(keyId, path);
      const lines = ids.map(ledgerLine);
      const fresh = new Set(lines).size === lines.length && lines.every((l) => !known.ids.has(l));
      const add = [...new Set(lines)].filter((l) => !known.ids.has(l));
      if (add.length > 0) {
        const created = !existsSync(path);
        // After a crash mid-append the file may end in a torn line: start on a line of our own.
        const torn = !created && lastByte(path) !== 0x0a;
        appendDurably(path, `${torn ? '\n' : ''}${add.join('\n')}\n`);
        if (created) fsyncDir(dirname(path));
        for (const l of add) known.ids.add(l);
        known.size = statSync(path).size;
      }
      return fresh;
    });
  }

  /** The ledger lines of a key, reading only what other processes appended since last time. */
  #ledger(keyId: string, path: string): { size: number; ids: Set<string> } {
    const known = this.#ledgers.get(keyId) ?? { size: 0, ids: new Set<string>() };
    this.#ledgers.set(keyId, known);
    if (!existsSync(path)) return known;
    const size = statSync(path).size;
    if (size > known.size) {
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(size - known.size);
        readSync(fd, buf, 0, buf.length, known.size);
        // A torn last line (a crash mid-append) is ignored; it never stood for a sent message.
        for (const line of buf.toString('latin1').split('\n'))
          if (/^[0-9a-f]{32}$/.test(line)) known.ids.add(line);
      } finally {
        closeSync(fd);
      }
      known.size = size;
    }
    return known;
  }

  pairBegin(pair: string): Promise<PairMarkerState> {
    return this.#markers.begin(pair);
  }

  pairEnd(pair: string): Promise<void> {
    return this.#markers.end(pair);
  }

  pairBan(pair: string): Promise<void> {
    return this.#markers.ban(pair);
  }

  pairBanned(pair: string): Promise<boolean> {
    return this.#markers.banned(pair);
  }

  #checkKeyId(keyId: string): string {
    if (!/^[0-9a-f]{64}$/.test(keyId)) throw new ClientError('BAD_INPUT', `not a key id: ${keyId}`);
    return keyId;
  }
}

/** The ledger's line for an id: a 128-bit hash (ids are public, but long and unbounded). */
const ledgerLine = (id: string): string =>
  bytesToHex(sha256(utf8ToBytes(`tessera-client-ledger/1\n${id}`)).subarray(0, 16));

/** The last byte of a non-empty file, or -1 for an empty one. */
function lastByte(path: string): number {
  const size = statSync(path).size;
  if (size === 0) return -1;
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] as number;
  } finally {
    closeSync(fd);
  }
}

function appendDurably(path: string, text: string): void {
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `fn` (synchronous: the lock is never held across an await) holding an exclusive lock
 * file, created with O_EXCL and naming its holder. A lock left behind is broken: one of this
 * process (it can only be a crashed predecessor's under the same pid), one of a dead process on
 * this host, an unreadable one older than a second, any older than `LOCK_LEASE_MS`. Waiting
 * longer than `LOCK_WAIT_MS` fails the call, which sends nothing.
 */
async function withLock<T>(lock: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const me = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() });
  for (;;) {
    try {
      writeFileSync(lock, me, { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (staleLock(lock)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new ClientError('STORE_BUSY', 'the share store is locked by another process');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function staleLock(lock: string): boolean {
  let age: number;
  let owner: { pid?: unknown; host?: unknown } = {};
  try {
    age = Date.now() - statSync(lock).mtimeMs;
    owner = JSON.parse(readFileSync(lock, 'utf8')) as typeof owner;
  } catch {
    // Gone (retry at once), or torn by a crash between create and write.
    return !existsSync(lock) || Date.now() - mtimeOr(lock, 0) > 1_000;
  }
  if (age > LOCK_LEASE_MS) return true;
  if (owner.host !== hostname() || typeof owner.pid !== 'number') return false;
  return owner.pid === process.pid || !pidAlive(owner.pid);
}

function mtimeOr(path: string, fallback: number): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return fallback;
  }
}

function publicOf(f: KeyFile): StoredKey {
  const { shares, ...rest } = f;
  return { ...rest, epochs: Object.keys(shares) };
}

function machineSecret(home: string): Uint8Array {
  const p = join(home, 'secret.key');
  if (!existsSync(p)) writeFileSync(p, bytesToHex(randomBytes(32)), { mode: 0o600, flag: 'wx' });
  return hexToBytes(readFileSync(p, 'utf8').trim());
}

/** Write, flush, rename, flush the directory: a crash leaves the old file or the new one. */
function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${bytesToHex(randomBytes(4))}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  fsyncFile(tmp);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/** A relay WebSocket factory backed by the `ws` package (subprotocols offered as given). */
export const relayWebSocket: RelayWebSocketFactory = (url, protocols) =>
  new WebSocket(url, protocols) as unknown as RelaySocket;

/** A WebSocket factory backed by the `ws` package (Node has no global WebSocket before v22). */
export const nodeWebSocket: WebSocketFactory = (url) =>
  new WebSocket(url) as unknown as WebSocketLike;

export {
  type CreatedRoom,
  RelayClient,
  type RelayClientOptions,
  RelayError,
  type RelayMessage,
  type RelaySocket,
  RelaySubscription,
  type RelayWebSocketFactory,
  type RoomManifest,
  type RoomMember,
  relayLoginMessage,
  relayManifestMessage,
} from '@tessera/api/relay';
export {
  checkDeviceName,
  DEVICE_WIDE,
  DeviceError,
  DeviceHome,
  type DeviceInfo,
  type PeerRecord,
} from './device-home.ts';
export {
  DEVICE_PROTOCOL,
  type DeviceKey,
  DeviceNode,
  type DeviceNodeOptions,
  type DeviceOperation,
  type DeviceProgress,
  type DeviceRequest,
  type DeviceSignature,
  type ServedRequest,
} from './device-node.ts';
export {
  decodeInvite,
  encodeInvite,
  type PairingInvite,
  type PairOptions,
  type PairOutcome,
  pairAsInitiator,
  pairAsResponder,
} from './device-pairing.ts';
export {
  discoverDevices,
  findPeerOnLan,
  LAN_SERVICE,
  LanAdvertiser,
  type LanDevice,
  type LanStatus,
  lanAddress,
} from './lan.ts';
export { PairMarkerDir } from './pair-markers.ts';
