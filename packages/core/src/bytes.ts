/**
 * Byte helpers: fixed-width integers, hex, and constant-time comparison.
 * @module
 */
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

export { bytesToHex, concatBytes, hexToBytes, utf8ToBytes };

/** 4-byte big-endian encoding of an integer in [0, 2^32). */
export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new RangeError(`u32be: ${n} out of range`);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** 2-byte big-endian encoding of an integer in [0, 2^16). */
export function u16be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`u16be: ${n} out of range`);
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** Reads a 4-byte big-endian integer. */
export function readU32be(b: Uint8Array, offset = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(offset);
}

/**
 * Compares two byte strings in time that depends only on their lengths. Use it for every value
 * derived from a secret (commitments, MACs, echo hashes of secret-dependent transcripts).
 */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** Overwrites a buffer with zeros (best effort: JS cannot erase copies made by the engine). */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
