/**
 * The final check both parties of a co-signed key make (architecture invariant 4): a signature
 * is verified against the stored public key, with noble and independently of the core that
 * produced it, before its wire form is returned to anyone.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
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
    if (!secp256k1.verify(sig.compact, signed, pk, { prehash: false, lowS: true })) return null;
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
