/**
 * Public keys as secp256k1 points with a precomputed multiplication table, shared by every ECDSA
 * verification in the process (core's final check of a threshold signature, `@tessera/api`'s
 * signature verification), so that a key's table is built once.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from './bytes.ts';
import { BoundedCache } from './util/bounded-cache.ts';

/** A secp256k1 point of noble's. */
export type Secp256k1Point = InstanceType<typeof secp256k1.Point>;

/** Keys with a table kept; a table costs ≈ 17 ms to build and ≈ 100 kB to keep. */
const KEY_TABLES = 64;
const tables = new BoundedCache<string, Secp256k1Point>(KEY_TABLES);

/**
 * The 33-byte compressed public key `pk` as a point with a window-4 table, so that verifying
 * against it costs a table multiplication instead of a full one. Public data only. Throws if `pk`
 * is not a valid encoding of a point on the curve.
 */
export function secp256k1KeyTable(pk: Uint8Array): Secp256k1Point {
  return tables.getOrCreate(bytesToHex(pk), () => {
    // fromBytes validates the encoding and that the point is on the curve.
    const p = secp256k1.Point.fromBytes(pk);
    p.precompute(4, false);
    return p;
  });
}
