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
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Writes `n` as 4 big-endian bytes at `off` (no allocation; hot paths). */
export function writeU32be(buf: Uint8Array, off: number, n: number): void {
  buf[off] = n >>> 24;
  buf[off + 1] = (n >>> 16) & 0xff;
  buf[off + 2] = (n >>> 8) & 0xff;
  buf[off + 3] = n & 0xff;
}

/** 2-byte big-endian encoding of an integer in [0, 2^16). */
export function u16be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`u16be: ${n} out of range`);
  return Uint8Array.of(n >>> 8, n & 0xff);
}

/** Reads a 4-byte big-endian integer. */
export function readU32be(b: Uint8Array, offset = 0): number {
  if (offset < 0 || offset + 4 > b.length) throw new RangeError('readU32be: out of bounds');
  return (
    (((b[offset] as number) << 24) |
      ((b[offset + 1] as number) << 16) |
      ((b[offset + 2] as number) << 8) |
      (b[offset + 3] as number)) >>>
    0
  );
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

/**
 * A copy of `b` in memory of its own. `slice()` does not copy a Node `Buffer` (it returns a view),
 * and state that is wiped when a session ends must never share memory with its caller's input.
 */
export const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);
