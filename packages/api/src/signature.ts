/**
 * The final check both parties of a co-signed key make (architecture invariant 4): a signature
 * is verified against the stored public key, with noble and independently of the core that
 * produced it, before its wire form is returned to anyone.
 *
 * ECDSA is verified as SEC 1 §4.1.4 states it, on noble's point arithmetic, with the public key
 * kept as a point with a small multiplication table (per key, bounded): a server verifies every
 * signature of the same few keys, and the table makes that ≈ 4× cheaper than noble's one-shot
 * `verify`, which decodes the key and multiplies without a table each time. The table is noble's
 * own point, kept in the process-wide cache `@tessera/core` also verifies with
 * (`secp256k1KeyTable`): only the cache is shared, not the verification. A property test checks
 * it against noble's `verify` and OpenSSL.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { secp256k1KeyTable } from '@tessera/core';
import type { SchemeName } from './payload.ts';
import type { SignResultBody } from './schemas.ts';

/** An ECDSA signature as the core returns it. */
export interface EcdsaSignatureParts {
  compact: Uint8Array;
  r: Uint8Array;
  s: Uint8Array;
  recovery: 0 | 1;
  der: Uint8Array;
}

/**
 * Verifies `sig` over `signed` (the ECDSA digest, or the Ed25519/BIP-340 message) under the hex
 * public key; returns the wire form, or null if it does not verify (ECDSA: low-s required).
 */
export function checkedSignature(
  scheme: SchemeName,
  publicKey: string,
  signed: Uint8Array,
  sig: EcdsaSignatureParts | Uint8Array
): SignResultBody | null {
  const pk = hexToBytes(publicKey);
  if (scheme === 'ecdsa') {
    if (sig instanceof Uint8Array) return null;
    if (!verifyEcdsaDigest(publicKey, signed, sig.compact)) return null;
    return {
      signature: bytesToHex(sig.compact),
      r: bytesToHex(sig.r),
      s: bytesToHex(sig.s),
      recovery: sig.recovery,
      der: bytesToHex(sig.der),
    };
  }
  if (!(sig instanceof Uint8Array)) return null;
  const ok =
    scheme === 'ed25519' ? ed25519.verify(sig, signed, pk) : schnorr.verify(sig, signed, pk);
  return ok ? { signature: bytesToHex(sig) } : null;
}

const Point = secp256k1.Point;
const Fn = Point.Fn;
type SecpPoint = InstanceType<typeof Point>;

/**
 * ECDSA verification of a 32-byte digest (SEC 1 §4.1.4) with low `s` required (BIP-62, as every
 * chain we serve demands): `R' = (e/s)·G + (r/s)·Q` must be a point whose `x mod n` is `r`.
 */
export function verifyEcdsaDigest(
  publicKeyHex: string,
  digest: Uint8Array,
  compact: Uint8Array
): boolean {
  if (digest.length !== 32 || compact.length !== 64) return false;
  const r = bytesToNumberBE(compact.subarray(0, 32));
  const s = bytesToNumberBE(compact.subarray(32));
  if (r === 0n || r >= Fn.ORDER || s === 0n || s > Fn.ORDER >> 1n) return false;
  let Q: SecpPoint;
  try {
    Q = secp256k1KeyTable(hexToBytes(publicKeyHex));
  } catch {
    return false;
  }
  const e = Fn.create(bytesToNumberBE(digest));
  const w = Fn.inv(s);
  const R = Point.BASE.multiplyUnsafe(Fn.mul(e, w)).add(Q.multiplyUnsafe(Fn.mul(r, w)));
  return !R.is0() && Fn.create(R.toAffine().x) === r;
}
