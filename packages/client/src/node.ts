/**
 * Node-only parts of the client: the encrypted file share store and a `ws`-backed WebSocket.
 * Import from `@tessera/client/node`.
 *
 * Layout under the home directory: `store.json` (format, KDF salt and parameters, a key check
 * value) and `keys/<keyId>.json` (public facts and, per epoch, the sealed share). Shares are
 * sealed with AES-256-GCM under a store key, with the key id and epoch as AAD. The store key
 * comes from a passphrase (scrypt, N = 2^17, r = 8) or from a 32-byte secret the platform
 * provides (a keychain entry, a secrets manager, or the default `<home>/secret.key`, mode 0600).
 * @module
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { WebSocket } from 'ws';
import { ClientError } from './errors.ts';
import type { ShareStore, StoredKey } from './store.ts';
import type { WebSocketFactory, WebSocketLike } from './transport.ts';

const FORMAT = 'tessera-client-store/1';
const SCRYPT = { N: 2 ** 17, r: 8, p: 1, dkLen: 32 };

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

  private constructor(home: string, key: Uint8Array) {
    this.home = home;
    this.#key = key;
  }

  static async open(home: string, secret: FileStoreSecret = {}): Promise<FileShareStore> {
    mkdirSync(join(home, 'keys'), { recursive: true, mode: 0o700 });
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

/** Write-then-rename, so a crash leaves the old file or the new one. */
function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.${bytesToHex(randomBytes(4))}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A WebSocket factory backed by the `ws` package (Node has no global WebSocket before v22). */
export const nodeWebSocket: WebSocketFactory = (url) =>
  new WebSocket(url) as unknown as WebSocketLike;
