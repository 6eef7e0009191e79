/**
 * SHA-256 for the many short, same-prefix hashes of the OT extension (≈ 45,000 compressions per
 * signature), run through noble's own compression function.
 *
 * noble's `update`/`digestInto` cost about as much again as the compression itself for a
 * one-block message (buffer copies, a `DataView` per call, clearing the schedule after each
 * call). Here the caller lays out whole padded blocks once and `Sha256Blocks` runs noble's
 * `process` on them from a given chaining state. Nothing of SHA-256 is reimplemented: the round
 * function, constants and schedule are noble's (`_SHA256`); this module only writes the standard
 * Merkle–Damgård padding (FIPS 180-4 §5.1.1), and a property test checks every output against
 * noble's `sha256` byte for byte.
 * @module
 */
import { _SHA256 } from '@noble/hashes/sha2.js';

/** A SHA-256 chaining state: eight 32-bit words. */
export type Sha256State = Uint32Array;

/** Bytes per SHA-256 block. */
export const SHA256_BLOCK = 64;

/** Bytes a message of `n` bytes takes once padded: `0x80`, zeros, the 64-bit bit length. */
export const paddedLength = (n: number): number => Math.ceil((n + 9) / SHA256_BLOCK) * SHA256_BLOCK;

/**
 * Writes the padding of a message that ends at `buf[end]` and has `total` bytes in all (blocks
 * already compressed included). `buf` must hold `paddedLength(end)` bytes.
 */
export function writePadding(buf: Uint8Array, view: DataView, end: number, total: number): number {
  const padded = paddedLength(end);
  buf[end] = 0x80;
  buf.fill(0, end + 1, padded - 8);
  const bits = total * 8;
  view.setUint32(padded - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(padded - 4, bits >>> 0);
  return padded;
}

/** noble's SHA-256 engine, driven one block at a time from an explicit chaining state. */
export class Sha256Blocks extends _SHA256 {
  /** The initial state `H^(0)` (FIPS 180-4 §5.3.3), as noble has it. */
  static readonly IV: Sha256State = Uint32Array.from(new Sha256Blocks().get());

  /**
   * `out = compress(state, block)` for the 64-byte block at `offset` of `view`. `out` may be
   * `state`.
   */
  compress(state: Sha256State, view: DataView, offset: number, out: Sha256State): void {
    this.set(
      state[0] as number,
      state[1] as number,
      state[2] as number,
      state[3] as number,
      state[4] as number,
      state[5] as number,
      state[6] as number,
      state[7] as number
    );
    this.process(view, offset);
    out[0] = this.A;
    out[1] = this.B;
    out[2] = this.C;
    out[3] = this.D;
    out[4] = this.E;
    out[5] = this.F;
    out[6] = this.G;
    out[7] = this.H;
  }

  /**
   * `out = compress(…compress(state, block_0)…, block_{n−1})` over the blocks of `view` from 0 to
   * `end` (a multiple of 64).
   */
  compressAll(state: Sha256State, view: DataView, end: number, out: Sha256State): void {
    let from = state;
    for (let off = 0; off < end; off += SHA256_BLOCK) {
      this.compress(from, view, off, out);
      from = out;
    }
  }

  /**
   * Clears the engine's state and noble's shared message schedule, which keeps the words of the
   * last block compressed (noble clears it after each of its own calls; we clear once per batch).
   */
  wipe(): void {
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    this.roundClean();
  }
}

/** Writes the state words big-endian (that is, the digest) through `view` at byte `off`. */
export function stateToBytes(state: Sha256State, view: DataView, off: number): void {
  for (let i = 0; i < 8; i++) view.setUint32(off + 4 * i, state[i] as number);
}
