/**
 * The base encryption of PVE (docs/protocols/pve.md, "Base encryption"): ECIES on X25519 or P-256
 * with HKDF-SHA256 and AES-256-GCM, **deterministic given a seed** so that a verifier holding the
 * seed of an opened repetition can encrypt again and compare bytes.
 *
 * `E ‖ AES-256-GCM(k, n, aad, m)` where `e` comes from the seed, `E = e·B`, and `k ‖ n` =
 * HKDF-SHA256(ikm = ECDH(e, P), salt = "", info = "tessera/pve/kem/v1" ‖ kem ‖ E ‖ P, 44). Every
 * encryption has a fresh ephemeral key, so the derived nonce is never used twice with one key.
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes, wipe } from '../bytes.ts';
import { InputError } from '../errors.ts';
import { type Rng, systemRng } from '../rng.ts';
import { hashToScalar, TAGS, XOF } from '../transcript.ts';

/** The curves a backup key may be on. */
export type PveKem = 'x25519' | 'p256';
/** Every KEM, with its byte in the ciphertext format. */
export const PVE_KEMS: Readonly<Record<PveKem, number>> = { x25519: 1, p256: 2 };

/** A backup public key: X25519 (32 bytes) or P-256 (33-byte compressed SEC1). */
export interface PveBackupKey {
  readonly kem: PveKem;
  readonly publicKey: Uint8Array;
}

/**
 * What decrypts: the private key itself, or `ecdh`, a function computing the 32-byte shared
 * secret with an ephemeral public key (an HSM that never exports the key: for P-256 the X
 * coordinate of `d·E`, PKCS#11's CKM_ECDH1_DERIVE with CKD_NULL).
 */
export type PveDecryptionKey =
  | { readonly kem: PveKem; readonly privateKey: Uint8Array }
  | {
      readonly kem: PveKem;
      readonly publicKey: Uint8Array;
      readonly ecdh: (ephemeral: Uint8Array) => Uint8Array;
    };

/** A backup key pair. Keep `privateKey` offline. */
export interface PveKeyPair extends PveBackupKey {
  readonly privateKey: Uint8Array;
}

const KEM_INFO = utf8ToBytes('tessera/pve/kem/v1');
const TAG_BYTES = 16;
/** Ephemeral public key length per KEM. */
export const ephemeralLength = (kem: PveKem): number => (kem === 'x25519' ? 32 : 33);
/** Ciphertext length for a plaintext of `n` bytes. */
export const kemCiphertextLength = (kem: PveKem, n: number): number =>
  ephemeralLength(kem) + n + TAG_BYTES;

/** All bytes zero, in time independent of where a non-zero byte is (shared secrets). */
function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i] as number;
  return acc === 0;
}

const bad = (what: string): never => {
  throw new InputError(`PVE backup key: ${what}`, { check: 'PveBackupKey' });
};

/**
 * Checks a backup public key: the right length, and a point that is not of small order (X25519)
 * or on the curve and not the identity (P-256). Returns a copy.
 */
export function checkBackupKey(key: PveBackupKey): PveBackupKey {
  if (key === null || typeof key !== 'object') return bad('not an object');
  if (key.kem !== 'x25519' && key.kem !== 'p256') return bad('kem must be x25519 or p256');
  if (!(key.publicKey instanceof Uint8Array)) return bad('publicKey must be bytes');
  const pk = key.publicKey;
  if (key.kem === 'x25519') {
    if (pk.length !== 32) bad('an X25519 key is 32 bytes');
    // A small-order point makes every shared secret predictable: refuse it up front.
    const probe = new Uint8Array(32).fill(0x5a);
    let shared: Uint8Array | undefined;
    try {
      shared = x25519.getSharedSecret(probe, pk);
    } catch {}
    if (!shared || isZero(shared)) bad('a small-order point');
    // Encryption works on the Edwards form: a key must be a canonical point of the curve (not
    // of its twist), as every honestly generated X25519 key is.
    let edwards: ReturnType<typeof edwardsOfU> | undefined;
    try {
      edwards = edwardsOfU(pk);
    } catch {}
    if (!edwards) bad('not a canonical Curve25519 point');
    else if (edwards.clearCofactor().is0()) bad('a small-order point');
  } else {
    if (pk.length !== 33 || (pk[0] !== 0x02 && pk[0] !== 0x03))
      bad('a P-256 key is 33 bytes, compressed');
    try {
      p256.Point.fromBytes(pk).assertValidity();
    } catch {
      bad('not a P-256 point');
    }
  }
  return { kem: key.kem, publicKey: new Uint8Array(pk) };
}

/** `"x25519:<hex>"` or `"p256:<hex>"`: how a backup public key is written and passed around. */
export function encodeBackupKey(key: PveBackupKey): string {
  const k = checkBackupKey(key);
  return `${k.kem}:${bytesToHex(k.publicKey)}`;
}

/** Parses `encodeBackupKey`'s form strictly (lower-case hex) and checks the key. */
export function decodeBackupKey(s: string): PveBackupKey {
  if (typeof s !== 'string') return bad('not a string');
  const m = /^(x25519|p256):([0-9a-f]{64}|[0-9a-f]{66})$/.exec(s);
  if (!m) return bad('expected "x25519:<64 hex>" or "p256:<66 hex>"');
  return checkBackupKey({ kem: m[1] as PveKem, publicKey: hexToBytes(m[2] as string) });
}

/** A fresh backup key pair from the platform CSPRNG. */
export function pveKeygen(kem: PveKem = 'x25519', rng: Rng = systemRng): PveKeyPair {
  if (kem === 'x25519') {
    const privateKey = rng(32);
    return { kem, privateKey, publicKey: x25519.getPublicKey(privateKey) };
  }
  if (kem !== 'p256') return bad('kem must be x25519 or p256');
  const d = hashToScalar(TAGS.pveKeygen, [rng(48)], p256.Point.Fn.ORDER);
  const privateKey = p256.Point.Fn.toBytes(d);
  return { kem, privateKey, publicKey: p256.getPublicKey(privateKey, true) };
}

/** The ephemeral secret of one encryption, from its seed. */
function ephemeralSecret(kem: PveKem, seed: Uint8Array): Uint8Array {
  if (kem === 'x25519') return XOF(TAGS.pveRho, [seed], 32);
  // Zero has probability 2^-256: refuse it rather than produce the identity.
  const e = hashToScalar(TAGS.pveRho, [seed], p256.Point.Fn.ORDER);
  if (e === 0n) throw new InputError('PVE: a zero ephemeral scalar', { check: 'PveBackupKey' });
  return p256.Point.Fn.toBytes(e);
}

/**
 * Encryption's two multiplications, `e·B` and `e·P`, with `P` fixed for every repetition. For
 * X25519 they run on the Edwards form of Curve25519 (RFC 7748 §4.1's birational map), where noble
 * has constant-time fixed-window multiplication with precomputed tables; the Montgomery ladder is
 * about three times slower. The result is the same u-coordinate byte for byte (tested against
 * noble's `x25519` on random inputs): a clamped `e` is `8·e'`, so `e·P = e'·(8·P)` with `8·P` in
 * the prime-order subgroup, where scalars act modulo ℓ.
 */
function ephemeralAndShared(
  key: PveBackupKey,
  e: Uint8Array
): { E: Uint8Array; shared: Uint8Array } {
  const tables = tablesOf(key);
  if (key.kem === 'p256') {
    const d = p256.Point.Fn.fromBytes(e);
    const E = tables.base.multiply(d).toBytes(true);
    return { E, shared: tables.peer.multiply(d).toBytes(true).subarray(1) };
  }
  const clamped = new Uint8Array(e);
  clamped[0] = (clamped[0] as number) & 248;
  clamped[31] = ((clamped[31] as number) & 127) | 64;
  const Fn = ed25519.Point.Fn;
  const eBase = Fn.create(bytesToNumberLE(clamped)); // e mod ℓ: B has order ℓ
  const eEighth = Fn.create(bytesToNumberLE(clamped) >> 3n); // e' = e / 8
  wipe(clamped);
  const E = montgomeryU(tables.base.multiply(eBase));
  const shared = montgomeryU(tables.peer.multiply(eEighth));
  if (isZero(shared)) throw new Error('X25519: small-order point');
  return { E, shared };
}

type TablePoint = {
  multiply(s: bigint): TablePoint;
  toBytes(compressed?: boolean): Uint8Array;
  readonly Y: bigint;
  readonly Z: bigint;
};
/** Per backup key: the base and `P` (X25519: `8·P` in Edwards form) with precomputed tables. */
const TABLES = new Map<string, { base: TablePoint; peer: TablePoint }>();
const TABLES_MAX = 8;

function tablesOf(key: PveBackupKey): { base: TablePoint; peer: TablePoint } {
  const id = `${key.kem}:${bytesToHex(key.publicKey)}`;
  const hit = TABLES.get(id);
  if (hit) return hit;
  let t: { base: TablePoint; peer: TablePoint };
  if (key.kem === 'p256') {
    const Pt = p256.Point;
    t = {
      base: Pt.fromAffine(Pt.BASE.toAffine()).precompute(8, false),
      peer: Pt.fromBytes(key.publicKey).precompute(8, false),
    };
  } else {
    const Pt = ed25519.Point;
    t = {
      base: Pt.fromAffine(Pt.BASE.toAffine()).precompute(8, false),
      peer: edwardsOfU(key.publicKey).clearCofactor().precompute(8, false),
    };
  }
  if (TABLES.size >= TABLES_MAX) TABLES.delete(TABLES.keys().next().value as string);
  TABLES.set(id, t);
  return t;
}

/** The Edwards point with u-coordinate `u` (either sign of x: both give the same u after any multiplication). */
function edwardsOfU(uBytes: Uint8Array) {
  const Fp = ed25519.Point.Fp;
  const u = bytesToNumberLE(uBytes);
  if (u >= Fp.ORDER) throw new Error('X25519: non-canonical u');
  if (u === Fp.ORDER - 1n) throw new Error('X25519: u = -1 has no Edwards point');
  const y = Fp.div(Fp.sub(u, 1n), Fp.add(u, 1n));
  // Throws when u is on the twist: no Curve25519 point has it, and no honest key is there.
  return ed25519.Point.fromBytes(Fp.toBytes(y));
}

/** `u = (Z + Y) / (Z − Y)`: the Montgomery u-coordinate of an Edwards point, little-endian. */
function montgomeryU(P: TablePoint): Uint8Array {
  const Fp = ed25519.Point.Fp;
  return Fp.toBytes(Fp.div(Fp.add(P.Z, P.Y), Fp.sub(P.Z, P.Y)));
}

function sharedSecret(kem: PveKem, secret: Uint8Array, pub: Uint8Array): Uint8Array {
  if (kem === 'x25519') {
    const s = x25519.getSharedSecret(secret, pub);
    if (isZero(s)) throw new Error('X25519: small-order point');
    return s;
  }
  return p256.getSharedSecret(secret, pub, true).subarray(1);
}

function keyAndNonce(
  kem: PveKem,
  shared: Uint8Array,
  E: Uint8Array,
  P: Uint8Array
): [Uint8Array, Uint8Array] {
  const okm = hkdf(
    sha256,
    shared,
    undefined,
    concatBytes(KEM_INFO, new Uint8Array([PVE_KEMS[kem]]), E, P),
    44
  );
  return [okm.subarray(0, 32), okm.subarray(32)];
}

/**
 * Encrypts `plaintext` to `key` with all randomness from `seed` (16 bytes): the same inputs give
 * the same bytes. `aad` is authenticated, not encrypted.
 */
export function kemEncrypt(
  key: PveBackupKey,
  plaintext: Uint8Array,
  aad: Uint8Array,
  seed: Uint8Array
): Uint8Array {
  const e = ephemeralSecret(key.kem, seed);
  const { E, shared } = ephemeralAndShared(key, e);
  const [k, n] = keyAndNonce(key.kem, shared, E, key.publicKey);
  const ct = gcm(k, n, aad).encrypt(plaintext);
  wipe(e, shared, k);
  return concatBytes(E, ct);
}

/**
 * Decrypts one `kemEncrypt` ciphertext. Throws (a plain `Error`) on any failure: a bad ephemeral
 * key, a small-order point or a tag that does not verify. The caller decides what a failure means.
 */
export function kemDecrypt(
  dk: PveDecryptionKey,
  publicKey: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array
): Uint8Array {
  const el = ephemeralLength(dk.kem);
  if (ciphertext.length < el + TAG_BYTES) throw new Error('PVE: ciphertext too short');
  const E = ciphertext.subarray(0, el);
  if (dk.kem === 'p256') p256.Point.fromBytes(E).assertValidity();
  let shared: Uint8Array;
  if ('ecdh' in dk) {
    try {
      shared = dk.ecdh(new Uint8Array(E));
    } catch (e) {
      throw new EcdhFailure(e);
    }
  } else shared = sharedSecret(dk.kem, dk.privateKey, E);
  if (!(shared instanceof Uint8Array) || shared.length !== 32)
    throw new Error('PVE: the ECDH function must return 32 bytes');
  if (dk.kem === 'x25519' && isZero(shared)) throw new Error('X25519: small-order point');
  const [k, n] = keyAndNonce(dk.kem, shared, E, publicKey);
  try {
    return gcm(k, n, aad).decrypt(ciphertext.subarray(el));
  } finally {
    wipe(shared, k);
  }
}

/**
 * The caller's ECDH function (an HSM) failed. Not a defect of the ciphertext: decryption passes
 * the function's own error on instead of trying the next repetition.
 */
export class EcdhFailure extends Error {
  override name = 'EcdhFailure';
  constructor(readonly reason: unknown) {
    super('the ECDH function failed');
  }
}

/** The public key of a decryption key: derived from the private key, or as the HSM gave it. */
export function publicKeyOf(dk: PveDecryptionKey): Uint8Array {
  if (!('privateKey' in dk)) return dk.publicKey;
  if (dk.kem === 'x25519') return x25519.getPublicKey(dk.privateKey);
  return p256.getPublicKey(dk.privateKey, true);
}
