/**
 * What the gateway hands back instead of keeping: the client's share sealed under a random data
 * key (`encryptedShare`), and that data key wrapped under the user's password (`secretStore`).
 * Changing the password rewraps the data key alone; the share's ciphertext never changes.
 *
 * Both are opaque strings `v1.` + base64url (canonical: any other spelling of the bytes is
 * refused, so every altered character is caught). Layouts (all integers big-endian):
 *
 *   encryptedShare  party(1) scheme(1) keyId(32) epoch(32) | nonce(12) AES-256-GCM(plain)
 *                   plain = metaLen(4) meta share, meta = JSON {userId, key: the SDK's key record}
 *                   AAD   = "tessera-gateway/share/v1" ‖ the header
 *   secretStore     alg(1)=1 m(4, KiB) t(4) p(1) keyId(32) salt(16) | nonce(12) AES-256-GCM(dataKey)
 *                   key   = Argon2id(NFC(password), salt, m, t, p, 32 bytes)
 *                   AAD   = "tessera-gateway/secret-store/v1" ‖ the header
 *
 * The headers are public (they bind the ciphertext to its key id, party, epoch and KDF
 * parameters through the AAD) and are read before any KDF runs: a malformed blob, a blob of
 * another key, or KDF parameters outside [KDF_FLOOR, KDF_CEILING] cost nothing to refuse.
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js';
import {
  bytesToHex,
  concatBytes,
  hexToBytes,
  randomBytes,
  utf8ToBytes,
} from '@noble/hashes/utils.js';
import { GatewayError } from './errors.ts';

export interface KdfParams {
  /** Memory, KiB. */
  m: number;
  /** Passes. */
  t: number;
  /** Lanes. */
  p: number;
}

/** OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): what the gateway uses. */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ m: 19_456, t: 2, p: 1 });
/** The least a `secretStore` may ask for: below it the password is too cheap to guess. */
export const KDF_FLOOR: Readonly<KdfParams> = DEFAULT_KDF_PARAMS;
/**
 * The most a `secretStore` may ask for: the parameters come with the request, and a caller must
 * not make a worker hash with a gigabyte for seconds.
 */
export const KDF_CEILING: Readonly<KdfParams> = Object.freeze({ m: 65_536, t: 8, p: 4 });

/** Argon2id over the password's UTF-8 bytes, 32 bytes out; run by the worker pool. */
export type Kdf = (password: string, salt: Uint8Array, params: KdfParams) => Promise<Uint8Array>;

export type ShareScheme = 'ecdsa' | 'ed25519' | 'bip340';

/** The share and what the SDK's store keeps beside it. */
export interface PlainShare {
  keyId: string;
  epoch: string;
  party: number;
  scheme: ShareScheme;
  /** The user the key was made for: the subject of every token its requests use. */
  userId: string;
  /** The SDK's stored key record (public facts: ids, public key, label, nodes). */
  meta: Record<string, unknown>;
  share: Uint8Array;
}

/** The public header of an `encryptedShare`, readable without any key. */
export interface SealedShare {
  keyId: string;
  epoch: string;
  party: number;
  scheme: ShareScheme;
  header: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** The public header of a `secretStore`. */
export interface WrappedKey {
  params: KdfParams;
  keyId: string;
  salt: Uint8Array;
  header: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** A key derived from a password, with what a `secretStore` records to derive it again. */
export interface PasswordKey {
  key: Uint8Array;
  salt: Uint8Array;
  params: KdfParams;
}

const PREFIX = 'v1.';
const SHARE_AAD = utf8ToBytes('tessera-gateway/share/v1');
const STORE_AAD = utf8ToBytes('tessera-gateway/secret-store/v1');
const SCHEMES: readonly ShareScheme[] = ['ecdsa', 'ed25519', 'bip340'];
const SHARE_HEADER = 1 + 1 + 32 + 32;
const STORE_HEADER = 1 + 4 + 4 + 1 + 32 + 16;
const NONCE = 12;
const TAG = 16;
const ALG_ARGON2ID_AESGCM = 1;
/** A share with its OT seeds is tens of KiB; the meta a few hundred bytes. */
const MAX_META = 16 * 1024;

// Encoding -----------------------------------------------------------------------------------

function encode(bytes: Uint8Array): string {
  return (
    PREFIX + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
  );
}

/** The bytes of `v1.<base64url>`, or null if the string is anything else (canonical only). */
function decode(s: string): Uint8Array | null {
  if (typeof s !== 'string' || !s.startsWith(PREFIX)) return null;
  const body = s.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) return null;
  const bytes = Buffer.from(body, 'base64url');
  // Base64 has spare bits in its last character: only the one spelling that encodes back counts.
  if (bytes.toString('base64url') !== body) return null;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const readU32 = (b: Uint8Array, at: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);

// encryptedShare -----------------------------------------------------------------------------

const corrupted = (why: string) =>
  new GatewayError('SHARE_CORRUPTED', `the encryptedShare is damaged or not one: ${why}`);

/** Seals a share under a fresh random data key; the caller wraps the key and then zeroes it. */
export function sealShare(p: PlainShare): { encryptedShare: string; dataKey: Uint8Array } {
  const schemeByte = SCHEMES.indexOf(p.scheme) + 1;
  if (schemeByte === 0 || !Number.isInteger(p.party) || p.party < 1 || p.party > 255)
    throw new TypeError('sealShare: bad scheme or party');
  const header = concatBytes(
    Uint8Array.of(p.party, schemeByte),
    hex32(p.keyId, 'keyId'),
    hex32(p.epoch, 'epoch')
  );
  const meta = utf8ToBytes(JSON.stringify({ userId: p.userId, key: p.meta }));
  if (meta.length > MAX_META) throw new TypeError('sealShare: key record too large');
  const plain = concatBytes(u32(meta.length), meta, p.share);
  const dataKey = randomBytes(32);
  const nonce = randomBytes(NONCE);
  const ciphertext = gcm(dataKey, nonce, concatBytes(SHARE_AAD, header)).encrypt(plain);
  plain.fill(0);
  return { encryptedShare: encode(concatBytes(header, nonce, ciphertext)), dataKey };
}

/** The public header of an `encryptedShare` (no key needed); SHARE_CORRUPTED if malformed. */
export function parseEncryptedShare(s: string): SealedShare {
  const b = decode(s);
  if (!b) throw corrupted('not a v1 encryptedShare');
  if (b.length < SHARE_HEADER + NONCE + TAG + 4) throw corrupted('too short');
  const scheme = SCHEMES[(b[1] as number) - 1];
  if (!scheme || b[0] === 0) throw corrupted('unknown scheme or party');
  const header = b.slice(0, SHARE_HEADER);
  return {
    party: b[0] as number,
    scheme,
    keyId: bytesToHex(b.subarray(2, 34)),
    epoch: bytesToHex(b.subarray(34, 66)),
    header,
    nonce: b.slice(SHARE_HEADER, SHARE_HEADER + NONCE),
    ciphertext: b.slice(SHARE_HEADER + NONCE),
  };
}

/** Opens a sealed share with its data key; any altered byte is SHARE_CORRUPTED. */
export function openShare(sealed: SealedShare, dataKey: Uint8Array): PlainShare {
  let plain: Uint8Array;
  try {
    plain = gcm(dataKey, sealed.nonce, concatBytes(SHARE_AAD, sealed.header)).decrypt(
      sealed.ciphertext
    );
  } catch {
    throw corrupted('its authentication tag does not check');
  }
  try {
    const metaLen = readU32(plain, 0);
    if (metaLen > MAX_META || 4 + metaLen >= plain.length) throw corrupted('bad layout');
    let outer: { userId?: unknown; key?: Record<string, unknown> | null };
    try {
      outer = JSON.parse(
        new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(4, 4 + metaLen))
      );
    } catch {
      throw corrupted('its key record is not JSON');
    }
    const meta = outer?.key;
    if (
      typeof outer?.userId !== 'string' ||
      typeof meta !== 'object' ||
      meta === null ||
      meta.keyId !== sealed.keyId ||
      meta.epoch !== sealed.epoch ||
      meta.scheme !== sealed.scheme
    )
      throw corrupted('its key record is not of its header');
    return {
      keyId: sealed.keyId,
      epoch: sealed.epoch,
      party: sealed.party,
      scheme: sealed.scheme,
      userId: outer.userId,
      meta,
      share: plain.slice(4 + metaLen),
    };
  } finally {
    plain.fill(0);
  }
}

// secretStore --------------------------------------------------------------------------------

const invalidStore = (why: string) =>
  new GatewayError('SECRET_STORE_INVALID', `the secretStore cannot be read: ${why}`);

/** A fresh salt and the key Argon2id derives from the password with it. */
export async function derivePasswordKey(
  password: string,
  params: KdfParams,
  kdf: Kdf
): Promise<PasswordKey> {
  checkParams(params);
  const salt = randomBytes(16);
  return { key: await kdf(password, salt, params), salt, params };
}

/** Wraps a data key under a password key: the `secretStore` of key `keyId`. */
export function wrapDataKey(dataKey: Uint8Array, keyId: string, pk: PasswordKey): string {
  if (dataKey.length !== 32) throw new TypeError('wrapDataKey: a data key is 32 bytes');
  const { m, t, p } = pk.params;
  const header = concatBytes(
    Uint8Array.of(ALG_ARGON2ID_AESGCM),
    u32(m),
    u32(t),
    Uint8Array.of(p),
    hex32(keyId, 'keyId'),
    pk.salt
  );
  const nonce = randomBytes(NONCE);
  const ciphertext = gcm(pk.key, nonce, concatBytes(STORE_AAD, header)).encrypt(dataKey);
  return encode(concatBytes(header, nonce, ciphertext));
}

/**
 * The public header of a `secretStore`, its KDF parameters checked against the floor and the
 * ceiling; SECRET_STORE_INVALID otherwise (before any password is hashed).
 */
export function parseSecretStore(s: string): WrappedKey {
  const b = decode(s);
  if (!b) throw invalidStore('not a v1 secretStore');
  if (b.length !== STORE_HEADER + NONCE + 32 + TAG) throw invalidStore('wrong length');
  if (b[0] !== ALG_ARGON2ID_AESGCM) throw invalidStore('unknown algorithm');
  const params = { m: readU32(b, 1), t: readU32(b, 5), p: b[9] as number };
  checkParams(params);
  return {
    params,
    keyId: bytesToHex(b.subarray(10, 42)),
    salt: b.slice(42, 58),
    header: b.slice(0, STORE_HEADER),
    nonce: b.slice(STORE_HEADER, STORE_HEADER + NONCE),
    ciphertext: b.slice(STORE_HEADER + NONCE),
  };
}

/** The password key of a parsed `secretStore` (the salt and parameters it records). */
export async function passwordKeyOf(
  w: WrappedKey,
  password: string,
  kdf: Kdf
): Promise<PasswordKey> {
  return { key: await kdf(password, w.salt, w.params), salt: w.salt, params: w.params };
}

/**
 * The data key, or INVALID_PASSWORD: a wrong password and an altered `secretStore` look the same
 * to an AEAD, and saying which would be an oracle.
 */
export function unwrapDataKey(w: WrappedKey, pk: PasswordKey): Uint8Array {
  try {
    return gcm(pk.key, w.nonce, concatBytes(STORE_AAD, w.header)).decrypt(w.ciphertext);
  } catch {
    throw new GatewayError('INVALID_PASSWORD', 'the password does not open this secretStore');
  }
}

function checkParams(k: KdfParams): void {
  const ok = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (
    !ok(k.m, KDF_FLOOR.m, KDF_CEILING.m) ||
    !ok(k.t, KDF_FLOOR.t, KDF_CEILING.t) ||
    !ok(k.p, KDF_FLOOR.p, KDF_CEILING.p) ||
    k.m < 8 * k.p
  )
    throw invalidStore(
      `its Argon2id parameters are outside m ${KDF_FLOOR.m}..${KDF_CEILING.m} KiB, t ${KDF_FLOOR.t}..${KDF_CEILING.t}, p ${KDF_FLOOR.p}..${KDF_CEILING.p}`
    );
}

function hex32(h: string, what: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(h)) throw new TypeError(`${what}: 32 bytes of lower-case hex`);
  return hexToBytes(h);
}

/** Zero-fills byte arrays (best effort: JS cannot reach the engine's own copies). */
export function wipe(...bs: (Uint8Array | null | undefined)[]): void {
  for (const b of bs) b?.fill(0);
}
