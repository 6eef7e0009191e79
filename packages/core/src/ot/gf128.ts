/**
 * GF(2^128) multiplication for the SoftSpokenOT consistency check (docs/protocols/ecdsa.md,
 * "SoftSpokenOT extension").
 *
 * Field: GF(2)[x]/(x^128 + x^7 + x^2 + x + 1). A 16-byte string `a` is the polynomial
 * `Σ bit_k(a)·x^k` with `bit_k(a) = (a[k>>3] >> (k & 7)) & 1` (docs/protocols/common.md), i.e. the
 * 16 bytes are a little-endian 128-bit integer. This is NOT GHASH's reflected bit order; the two
 * are related by `gfmul(a, b) = rev(GHASH(key = rev(b), one block rev(a)))`, where `rev` reverses
 * the bits inside each byte.
 * Internally an element is four 32-bit words, word `w` = little-endian bytes `4w..4w+3`, so bit
 * `k` of the polynomial is bit `k & 31` of word `k >> 5`.
 *
 * Why this file exists: the project rule is "never hand-roll field arithmetic". This module is
 * the one documented exception (docs/protocols/ecdsa.md, "SoftSpokenOT extension"). Neither
 * `@noble/curves` nor `@noble/hashes` has a GF(2^128) multiply; the other route,
 * `@noble/ciphers` GHASH with bit reflection, would make the OT layer depend on ciphers, and it
 * looks up its precomputed tables with the bits of the block being hashed, which here is a secret
 * OT row. The code is small (shift, AND, XOR on 32-bit words) and is tested against
 * `@noble/ciphers` GHASH through the bit-reversal identity, against the field identities (`a·1 =
 * a`, commutativity, associativity, distributivity, `a^(2^128) = a`, `x^127·x = x^7+x^2+x+1`), and
 * the fast paths against the reference `gfmul`.
 *
 * Timing: no branch, loop bound or memory index in this file depends on the value of either
 * factor; loop bounds and indices depend only on the public offsets. Every bit of a factor
 * becomes an all-zeros/all-ones mask (`-bit`, or `v >> 31` on the word holding it) that selects
 * the other factor by AND, and the reduction by the modulus is selected by the same kind of mask.
 * Every product therefore executes the same instruction sequence (128 Horner steps). There are
 * no lookup tables at all. This is constant time at the level of the algorithm only:
 * JavaScript makes no timing promise, and an engine may still take data-dependent time (for
 * example an unoptimised interpreter boxing 32-bit values that do not fit its small-integer
 * tag). That is the same best-effort guarantee as the rest of our JavaScript cryptography
 * (noble's included).
 *
 * API: `gfmul` is the simple, obviously correct reference (fine for a handful of products).
 * `GfMultiplier` holds a fixed factor `h` (validated once, kept as four words) and multiplies
 * without allocating (`mulXorInto`). `gfDot4` computes one SoftSpokenOT check value
 * `ω_0·Z[0] ⊕ ω_1·Z[1] ⊕ ω_2·Z[2] ⊕ ω_3·Z[3] ⊕ Z[4]` for an 80-byte row `Z` anywhere inside a
 * larger buffer, in one fused Horner pass with the four `ω_j` held in local variables.
 * @module
 */

/** Bytes in one GF(2^128) element. */
export const GF128_BYTES = 16;

/** Bytes in one SoftSpokenOT row: five 16-byte chunks (640 bits). */
export const GF_ROW_BYTES = 80;

/**
 * The reduction constant: x^128 ≡ x^7 + x^2 + x + 1 = 0x87 (bit order of docs/protocols/common.md).
 */
const R = 0x87;

function checkElement(a: Uint8Array, what: string): void {
  if (a.length !== GF128_BYTES)
    throw new RangeError(`gf128: ${what} must be ${GF128_BYTES} bytes, got ${a.length}`);
}

function checkRange(buf: Uint8Array, offset: number, len: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + len > buf.length)
    throw new RangeError(
      `gf128: ${what} needs ${len} bytes at offset ${offset} of a ${buf.length}-byte buffer`
    );
}

/** Little-endian 32-bit word at `b[o..o+4)`, as a signed int32. Caller checks the range. */
function ld32(b: Uint8Array, o: number): number {
  return (
    (b[o] as number) |
    ((b[o + 1] as number) << 8) |
    ((b[o + 2] as number) << 16) |
    ((b[o + 3] as number) << 24)
  );
}

/** Writes `w` little-endian into `b[o..o+4)`. Caller checks the range. */
function st32(b: Uint8Array, o: number, w: number): void {
  b[o] = w;
  b[o + 1] = w >>> 8;
  b[o + 2] = w >>> 16;
  b[o + 3] = w >>> 24;
}

/**
 * Product of two field elements: `a·b` in GF(2)[x]/(x^128 + x^7 + x^2 + x + 1), bit order of
 * docs/protocols/common.md. The reference implementation: Horner's rule over the bits of `b` from
 * x^127 down to x^0 (`acc = acc·x ⊕ bit_k(b)·a`), on four 32-bit words, branch-free.
 * @param a - 16-byte element.
 * @param b - 16-byte element.
 * @returns a new 16-byte array holding `a·b`.
 * @throws RangeError if either input is not exactly 16 bytes.
 */
export function gfmul(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkElement(a, 'a');
  checkElement(b, 'b');
  const a0 = ld32(a, 0);
  const a1 = ld32(a, 4);
  const a2 = ld32(a, 8);
  const a3 = ld32(a, 12);
  let z0 = 0;
  let z1 = 0;
  let z2 = 0;
  let z3 = 0;
  for (let k = 127; k >= 0; k--) {
    // acc = acc·x mod P: shift the 128-bit value left by one; the bit shifted out of x^127
    // becomes x^128 ≡ 0x87.
    const carry = z3 >> 31; // all ones iff the x^127 coefficient is 1
    z3 = (z3 << 1) | (z2 >>> 31);
    z2 = (z2 << 1) | (z1 >>> 31);
    z1 = (z1 << 1) | (z0 >>> 31);
    z0 = (z0 << 1) ^ (R & carry);
    // acc ^= bit_k(b)·a
    const m = -(((b[k >> 3] as number) >>> (k & 7)) & 1);
    z0 ^= a0 & m;
    z1 ^= a1 & m;
    z2 ^= a2 & m;
    z3 ^= a3 & m;
  }
  const out = new Uint8Array(GF128_BYTES);
  st32(out, 0, z0);
  st32(out, 4, z1);
  st32(out, 8, z2);
  st32(out, 12, z3);
  return out;
}

/** Reads the words of a multiplier's factor (set in GfMultiplier's static block; module-private). */
let wordsOf: (m: GfMultiplier) => Int32Array;

/**
 * Multiplication by a fixed element `h`, for the many products with the same factor in the
 * SoftSpokenOT check. It validates `h` once and keeps its four 32-bit words, which the hot paths
 * hold in local variables (registers) for the whole product: Horner's rule over the bits of the
 * other factor, `acc = acc·x ⊕ bit·h`, with every bit turned into a mask. No allocation in
 * `mulXorInto` or `gfDot4`, and no branch or memory index that depends on either factor.
 *
 * (A table of `h·x^k`, k = 0..127, with the reduction folded in, was measured too: with masked
 * selection it needs four bounds-checked loads per bit and ran about 2× slower than keeping `h`
 * in registers; windowed tables indexed by the bits of the secret factor are ruled out above.)
 */
export class GfMultiplier {
  /** The four little-endian 32-bit words of `h`. */
  readonly #h: Int32Array;

  static {
    wordsOf = (m) => m.#h;
  }

  /**
   * @param h - the fixed 16-byte factor (copied; later changes to `h` have no effect).
   * @throws RangeError if `h` is not exactly 16 bytes.
   */
  constructor(h: Uint8Array) {
    checkElement(h, 'h');
    this.#h = Int32Array.of(ld32(h, 0), ld32(h, 4), ld32(h, 8), ld32(h, 12));
  }

  /**
   * XORs `h·x` into `acc[accOffset..accOffset+16)`, where `x = x[xOffset..xOffset+16)`.
   * Allocates nothing. `acc` may overlap `x` (all of `x` is read before `acc` is written).
   * @throws RangeError if either 16-byte range is outside its buffer.
   */
  mulXorInto(x: Uint8Array, xOffset: number, acc: Uint8Array, accOffset: number): void {
    checkRange(x, xOffset, GF128_BYTES, 'x');
    checkRange(acc, accOffset, GF128_BYTES, 'acc');
    const h = this.#h;
    const h0 = h[0] as number;
    const h1 = h[1] as number;
    const h2 = h[2] as number;
    const h3 = h[3] as number;
    let z0 = 0;
    let z1 = 0;
    let z2 = 0;
    let z3 = 0;
    // Words 3..0 of x, and inside each word bits 31..0 (x^127 first): the sign bit is the mask,
    // then the next bit is shifted up.
    for (let q = 12; q >= 0; q -= 4) {
      let v = ld32(x, xOffset + q);
      for (let b = 0; b < 32; b++) {
        const c = z3 >> 31;
        z3 = (z3 << 1) | (z2 >>> 31);
        z2 = (z2 << 1) | (z1 >>> 31);
        z1 = (z1 << 1) | (z0 >>> 31);
        z0 = (z0 << 1) ^ (R & c);
        const m = v >> 31;
        v <<= 1;
        z0 ^= h0 & m;
        z1 ^= h1 & m;
        z2 ^= h2 & m;
        z3 ^= h3 & m;
      }
    }
    st32(acc, accOffset, ld32(acc, accOffset) ^ z0);
    st32(acc, accOffset + 4, ld32(acc, accOffset + 4) ^ z1);
    st32(acc, accOffset + 8, ld32(acc, accOffset + 8) ^ z2);
    st32(acc, accOffset + 12, ld32(acc, accOffset + 12) ^ z3);
  }

  /**
   * Returns `h·x` as a new 16-byte array, where `x = x[xOffset..xOffset+16)`.
   * @throws RangeError if the 16-byte range is outside `x`.
   */
  mul(x: Uint8Array, xOffset = 0): Uint8Array {
    const out = new Uint8Array(GF128_BYTES);
    this.mulXorInto(x, xOffset, out, 0);
    return out;
  }
}

/**
 * One SoftSpokenOT check value (docs/protocols/ecdsa.md, "SoftSpokenOT extension"):
 * `out[outOffset..+16) = ω_0·Z[0] ⊕ ω_1·Z[1] ⊕ ω_2·Z[2] ⊕ ω_3·Z[3] ⊕ Z[4]`, where `ω_j` is the
 * fixed factor of `mults[j]`, `Z = row[rowOffset..rowOffset+80)` and chunk `Z[j]` is bytes
 * `[16j, 16j+16)` of `Z`. The four products share one Horner pass: for each bit position k from
 * 127 down to 0, `acc = acc·x ⊕ Σ_j bit_k(Z[j])·ω_j`, so one shift-and-reduce serves four input
 * bits. No allocation. `out` is overwritten (not XORed into) and may overlap the row (all of the
 * row is read first).
 * @throws RangeError if the 80-byte row or the 16-byte output range is outside its buffer.
 */
export function gfDot4(
  mults: readonly [GfMultiplier, GfMultiplier, GfMultiplier, GfMultiplier],
  row: Uint8Array,
  rowOffset: number,
  out: Uint8Array,
  outOffset: number
): void {
  checkRange(row, rowOffset, GF_ROW_BYTES, 'row');
  checkRange(out, outOffset, GF128_BYTES, 'out');
  const w0 = wordsOf(mults[0]);
  const w1 = wordsOf(mults[1]);
  const w2 = wordsOf(mults[2]);
  const w3 = wordsOf(mults[3]);
  // aJW = word W of ω_J.
  const a00 = w0[0] as number;
  const a01 = w0[1] as number;
  const a02 = w0[2] as number;
  const a03 = w0[3] as number;
  const a10 = w1[0] as number;
  const a11 = w1[1] as number;
  const a12 = w1[2] as number;
  const a13 = w1[3] as number;
  const a20 = w2[0] as number;
  const a21 = w2[1] as number;
  const a22 = w2[2] as number;
  const a23 = w2[3] as number;
  const a30 = w3[0] as number;
  const a31 = w3[1] as number;
  const a32 = w3[2] as number;
  const a33 = w3[3] as number;
  let z0 = 0;
  let z1 = 0;
  let z2 = 0;
  let z3 = 0;
  for (let q = 12; q >= 0; q -= 4) {
    // Word q/4 of each chunk Z[0..3]; bit 31 (the highest remaining power of x) first.
    let v0 = ld32(row, rowOffset + q);
    let v1 = ld32(row, rowOffset + 16 + q);
    let v2 = ld32(row, rowOffset + 32 + q);
    let v3 = ld32(row, rowOffset + 48 + q);
    for (let b = 0; b < 32; b++) {
      const c = z3 >> 31;
      z3 = (z3 << 1) | (z2 >>> 31);
      z2 = (z2 << 1) | (z1 >>> 31);
      z1 = (z1 << 1) | (z0 >>> 31);
      z0 = (z0 << 1) ^ (R & c);
      let m = v0 >> 31;
      v0 <<= 1;
      z0 ^= a00 & m;
      z1 ^= a01 & m;
      z2 ^= a02 & m;
      z3 ^= a03 & m;
      m = v1 >> 31;
      v1 <<= 1;
      z0 ^= a10 & m;
      z1 ^= a11 & m;
      z2 ^= a12 & m;
      z3 ^= a13 & m;
      m = v2 >> 31;
      v2 <<= 1;
      z0 ^= a20 & m;
      z1 ^= a21 & m;
      z2 ^= a22 & m;
      z3 ^= a23 & m;
      m = v3 >> 31;
      v3 <<= 1;
      z0 ^= a30 & m;
      z1 ^= a31 & m;
      z2 ^= a32 & m;
      z3 ^= a33 & m;
    }
  }
  // ⊕ Z[4] (not multiplied), read before out is written.
  z0 ^= ld32(row, rowOffset + 64);
  z1 ^= ld32(row, rowOffset + 68);
  z2 ^= ld32(row, rowOffset + 72);
  z3 ^= ld32(row, rowOffset + 76);
  st32(out, outOffset, z0);
  st32(out, outOffset + 4, z1);
  st32(out, outOffset + 8, z2);
  st32(out, outOffset + 12, z3);
}
