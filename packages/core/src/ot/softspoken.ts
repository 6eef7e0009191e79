/**
 * SoftSpokenOT extension with k = 4 and its Fiat–Shamir consistency check over GF(2^128),
 * docs/protocols/ecdsa.md ("SoftSpokenOT extension"). One extension of ξ = 512 OTs (plus 128 check
 * columns, L' = 640) per directed pair per signature.
 *
 * Receiver `b` (choice bits β) sends `M1 = nB ‖ u_0..u_63 ‖ β̃ ‖ t̃_0..t̃_255` (9,264 bytes).
 * Sender `a` rebuilds its rows `W_r = V_r ⊕ Δ'_r·β̄` from its 15-of-16 leaves and checks every
 * row against `t̃_r ⊕ Δ'_r·β̃` without early exit; any failure is `OteConsistency`, after which the
 * caller must ban the pair (docs/protocols/ecdsa.md, "Bans"). Fresh `nB` (in the PRG) and `nA` (in
 * the output hash) make pads single-use even if a session id is replayed.
 * @module
 */
import { concatBytes, ctEqual, u32be, writeU32be } from '../bytes.ts';
import { CheckFailed, DecodeError } from '../errors.ts';
import type { Rng } from '../rng.ts';
import { H256, list, PrefixedHash } from '../transcript.ts';
import { GfMultiplier, gfDot4 } from './gf128.ts';
import {
  OTE_BLOCKS,
  OTE_LEAVES,
  type OteReceiverSetup,
  type OteSenderSetup,
  SEED_BYTES,
  seedOffset,
} from './setup.ts';

/** Extended OTs per use (ξ). */
export const OTE_XI = 512;
/** Bytes per extended row: L' = 640 bits. */
export const ROW_BYTES = 80;
/** Rows: one per base OT (κ = 256). */
export const ROWS = 256;
/** Size of the receiver's message M1. */
export const M1_BYTES = 32 + OTE_BLOCKS * ROW_BYTES + 16 + ROWS * 16;

/** `sidX = H256("ote/sidx", sidS, a, b, setupId, nB)`. */
export function oteSidX(
  sidS: Uint8Array,
  a: number,
  b: number,
  setupId: Uint8Array,
  nB: Uint8Array
): Uint8Array {
  return H256('ote/sidx', sidS, u32be(a), u32be(b), setupId, nB);
}

/** `sidY = H256("ote/sidy", sidX, nA)`. */
export const oteSidY = (sidX: Uint8Array, nA: Uint8Array): Uint8Array => H256('ote/sidy', sidX, nA);

/**
 * Leaf PRG `r_{ν,y} = XOF("ote/prg", sidX, u32be(ν), u32be(y), seed_{ν,y}; 80)`, written into one
 * reused 80-byte buffer (the caller consumes it before the next leaf and wipes it at the end).
 */
class LeafPrg {
  readonly #h: PrefixedHash;
  readonly #nu = new Uint8Array(4);
  readonly #y = new Uint8Array(4);
  readonly row = new Uint8Array(ROW_BYTES);
  /** `row` as 32-bit words, for the XORs. */
  readonly rowWords = new Uint32Array(this.row.buffer);

  constructor(sidX: Uint8Array) {
    this.#h = new PrefixedHash('ote/prg', [sidX], 4);
  }

  /** Fills `row` with `r_{ν,y}` and returns it. */
  leaf(nu: number, y: number, seeds: Uint8Array): Uint8Array {
    const off = seedOffset(nu, y);
    writeU32be(this.#nu, 0, nu);
    writeU32be(this.#y, 0, y);
    this.#h.xofInto([this.#nu, this.#y, seeds.subarray(off, off + SEED_BYTES)], this.row);
    return this.row;
  }

  destroy(): void {
    this.#h.destroy();
    this.row.fill(0);
  }
}

/**
 * Rows are XORed as 32-bit words (a row is 20 of them): 4× fewer operations than bytes, and
 * byte order does not matter to an XOR. Offsets and lengths here count words.
 */
const ROW_WORDS = ROW_BYTES / 4;

/** A fresh zeroed byte buffer with its 32-bit word view over the same memory. */
function wordBuffer(bytes: number): { bytes: Uint8Array; words: Uint32Array } {
  const words = new Uint32Array(bytes / 4);
  return { bytes: new Uint8Array(words.buffer), words };
}

function xorRow(dst: Uint32Array, dOff: number, src: Uint32Array, sOff: number): void {
  for (let i = 0; i < ROW_WORDS; i++)
    dst[dOff + i] = (dst[dOff + i] as number) ^ (src[sOff + i] as number);
}

/** `dst ^= src & mask` over a row, `mask` 0 or −1: the same work whatever the secret bit is. */
function xorRowMasked(
  dst: Uint32Array,
  dOff: number,
  src: Uint32Array,
  sOff: number,
  mask: number
): void {
  for (let i = 0; i < ROW_WORDS; i++)
    dst[dOff + i] = (dst[dOff + i] as number) ^ ((src[sOff + i] as number) & mask);
}

/** −1 (all bits set) when bit `b` of `x` is set, else 0. */
const bitMask = (x: number, b: number): number => -((x >> b) & 1);

type Omegas = readonly [GfMultiplier, GfMultiplier, GfMultiplier, GfMultiplier];

/** The four challenges `ω_j`, from the `u` rows, ready to multiply. */
function challenges(sidX: Uint8Array, u: Uint8Array): Omegas {
  const rows: Uint8Array[] = [];
  for (let nu = 0; nu < OTE_BLOCKS; nu++)
    rows.push(u.subarray(nu * ROW_BYTES, (nu + 1) * ROW_BYTES));
  const D = H256('ote/u', sidX, list(rows));
  const w = (j: number) => new GfMultiplier(H256('ote/chal', sidX, D, u32be(j)).subarray(0, 16));
  return [w(0), w(1), w(2), w(3)];
}

/** `gfmul(ω_0, Z[0]) ⊕ … ⊕ gfmul(ω_3, Z[3]) ⊕ Z[4]` for an 80-byte row `Z` at `off`. */
function compress(omega: Omegas, row: Uint8Array, off: number): Uint8Array {
  const out = new Uint8Array(16);
  gfDot4(omega, row, off, out, 0);
  return out;
}

/** Receiver state kept between its M1 and the sender's reply (secret). */
export interface OteReceiverState {
  sidX: Uint8Array;
  /** Rows V_r, 256 × 80 bytes. */
  V: Uint8Array;
}

/**
 * Receiver side: extends with choice bits `beta` (512 bits = 64 bytes, bit i in the bit order of
 * docs/protocols/common.md). Returns M1 and the state needed to compute pads once `nA` is known.
 */
export function oteReceiverStart(
  setup: OteReceiverSetup,
  sidS: Uint8Array,
  a: number,
  b: number,
  beta: Uint8Array,
  rng: Rng
): { m1: Uint8Array; state: OteReceiverState } {
  if (beta.length !== OTE_XI / 8) throw new RangeError('beta must be 512 bits');
  const nB = rng(32);
  const sidX = oteSidX(sidS, a, b, setup.setupId, nB);
  const betaBar = concatBytes(beta, rng(16));
  const { bytes: u, words: uWords } = wordBuffer(OTE_BLOCKS * ROW_BYTES);
  const { bytes: V, words: vWords } = wordBuffer(ROWS * ROW_BYTES);
  const prg = new LeafPrg(sidX);
  for (let nu = 0; nu < OTE_BLOCKS; nu++) {
    u.set(betaBar, nu * ROW_BYTES);
    for (let y = 0; y < OTE_LEAVES; y++) {
      prg.leaf(nu, y, setup.seeds);
      xorRow(uWords, nu * ROW_WORDS, prg.rowWords, 0);
      // y is the public leaf index, not a secret: branching on it is fine.
      for (let l = 0; l < 4; l++)
        if ((y >> l) & 1) xorRow(vWords, (4 * nu + l) * ROW_WORDS, prg.rowWords, 0);
    }
  }
  prg.destroy();
  const omega = challenges(sidX, u);
  const betaTilde = compress(omega, betaBar, 0);
  const tTilde = new Uint8Array(ROWS * 16);
  for (let r = 0; r < ROWS; r++) tTilde.set(compress(omega, V, r * ROW_BYTES), r * 16);
  betaBar.fill(0);
  return { m1: concatBytes(nB, u, betaTilde, tTilde), state: { sidX, V } };
}

/** Bit `r` of Δ' (bit ℓ of Δ_ν for r = 4ν + ℓ). */
const deltaBit = (delta: Uint8Array, r: number): number =>
  ((delta[r >> 2] as number) >> (r & 3)) & 1;

/**
 * Sender side: processes M1, runs the consistency check (all 256 rows, no early exit) and
 * returns `sidX` and the rows `W_r` (256 × 80 bytes). Throws `DecodeError` for a malformed M1 and
 * `CheckFailed('OteConsistency')` when the check fails.
 */
export function oteSenderProcess(
  setup: OteSenderSetup,
  sidS: Uint8Array,
  a: number,
  b: number,
  m1: Uint8Array
): { sidX: Uint8Array; W: Uint8Array } {
  if (m1.length !== M1_BYTES)
    throw new DecodeError('MalformedMessage', `M1: expected ${M1_BYTES} bytes`);
  const nB = m1.subarray(0, 32);
  const u = m1.subarray(32, 32 + OTE_BLOCKS * ROW_BYTES);
  const betaTilde = m1.subarray(32 + OTE_BLOCKS * ROW_BYTES, 32 + OTE_BLOCKS * ROW_BYTES + 16);
  const tTilde = m1.subarray(M1_BYTES - ROWS * 16);
  const sidX = oteSidX(sidS, a, b, setup.setupId, nB);
  const { bytes: W, words: wWords } = wordBuffer(ROWS * ROW_BYTES);
  // u sits at an arbitrary offset of the message: copied once to be read as words.
  const uWords = new Uint32Array(OTE_BLOCKS * ROW_WORDS);
  new Uint8Array(uWords.buffer).set(u);
  // Δ is this pair's long-term secret: every row update does the same work whatever its bits
  // are (masks, no branches). The punctured leaf is expanded too and masked out.
  const prg = new LeafPrg(sidX);
  for (let nu = 0; nu < OTE_BLOCKS; nu++) {
    const d = setup.delta[nu] as number;
    for (let y = 0; y < OTE_LEAVES; y++) {
      prg.leaf(nu, y, setup.seeds);
      // 0 for the punctured leaf y = Δ_ν (its r counts as zero), −1 otherwise.
      const keep = (((y ^ d) - 1) >> 31) ^ -1;
      const x = d ^ y;
      for (let l = 0; l < 4; l++) {
        xorRowMasked(wWords, (4 * nu + l) * ROW_WORDS, prg.rowWords, 0, bitMask(x, l) & keep);
      }
    }
    for (let l = 0; l < 4; l++) {
      xorRowMasked(wWords, (4 * nu + l) * ROW_WORDS, uWords, nu * ROW_WORDS, bitMask(d, l));
    }
  }
  prg.destroy();
  const omega = challenges(sidX, u);
  let ok = true;
  const expected = new Uint8Array(16);
  for (let r = 0; r < ROWS; r++) {
    const mask = -deltaBit(setup.delta, r) & 0xff;
    for (let k = 0; k < 16; k++)
      expected[k] = (tTilde[r * 16 + k] as number) ^ ((betaTilde[k] as number) & mask);
    // No early exit: every row is checked whatever happened before, so timing does not say which
    // failed.
    ok = ctEqual(compress(omega, W, r * ROW_BYTES), expected) && ok;
  }
  if (!ok) throw new CheckFailed('OteConsistency', 'the OT-extension consistency check failed');
  return { sidX, W };
}

/**
 * Transposes the first 512 columns of a 256 × 640-bit row matrix: column i (32 bytes) has bit r
 * equal to bit i of row r.
 *
 * It works on 8 × 8 bit blocks: byte `c` of rows 8g..8g+7 holds bit j of row 8g+k at bit 8k + j
 * of a 64-bit word (two 32-bit halves), and three delta swaps (2 × 2, then 4 × 4, then 8 × 8
 * blocks) move it to bit 8j + k, so that byte j is bits 8g..8g+7 of column 8c + j. The rows
 * depend on secret choice bits and Δ: shifts, masks and XORs only, no data-dependent branch or
 * index.
 */
export function columns(rows: Uint8Array): Uint8Array {
  const cols = new Uint8Array(OTE_XI * 32);
  const at = (k: number, c: number) => rows[k * ROW_BYTES + c] as number;
  for (let g = 0; g < ROWS / 8; g++) {
    const k = 8 * g;
    for (let c = 0; c < OTE_XI / 8; c++) {
      let lo = at(k, c) | (at(k + 1, c) << 8) | (at(k + 2, c) << 16) | (at(k + 3, c) << 24);
      let hi = at(k + 4, c) | (at(k + 5, c) << 8) | (at(k + 6, c) << 16) | (at(k + 7, c) << 24);
      let t = (lo ^ (lo >>> 7)) & 0x00aa00aa;
      lo ^= t ^ (t << 7);
      t = (hi ^ (hi >>> 7)) & 0x00aa00aa;
      hi ^= t ^ (t << 7);
      t = (lo ^ (lo >>> 14)) & 0x0000cccc;
      lo ^= t ^ (t << 14);
      t = (hi ^ (hi >>> 14)) & 0x0000cccc;
      hi ^= t ^ (t << 14);
      t = (lo ^ (hi << 4)) & 0xf0f0f0f0;
      lo ^= t;
      hi ^= t >>> 4;
      const out = 8 * c * 32 + g;
      for (let j = 0; j < 4; j++) {
        cols[out + 32 * j] = (lo >>> (8 * j)) & 0xff;
        cols[out + 32 * (j + 4)] = (hi >>> (8 * j)) & 0xff;
      }
    }
  }
  return cols;
}

/** The 32-byte Δ' as a bit string (bit r = bit r&3 of Δ_{r>>2}). */
export function deltaPrime(delta: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  // Δ' is the pair's long-term secret: shift its bits in, never branch on them.
  for (let r = 0; r < ROWS; r++)
    out[r >> 3] = (out[r >> 3] as number) | (deltaBit(delta, r) << (r & 7));
  return out;
}

/**
 * The pads of one extension, `HashToScalar("ote/out", sidY, i, m, col)`, sharing the hash state
 * of their common prefix. `pad` returns each before its reduction modulo q (below 2^384,
 * `PrefixedHash.wideScalar`): every use reduces a sum of them anyway. Holds secret-derived state:
 * `destroy()` when done.
 */
export class OtePads {
  readonly #h: PrefixedHash;
  readonly #i = new Uint8Array(4);
  readonly #m = new Uint8Array(4);

  constructor(sidY: Uint8Array) {
    this.#h = new PrefixedHash('ote/out', [sidY], 4);
  }

  /** Pad `(i, m)` for the column `col`, congruent to `HashToScalar` modulo q. */
  pad(i: number, m: number, col: Uint8Array): bigint {
    writeU32be(this.#i, 0, i);
    writeU32be(this.#m, 0, m);
    return this.#h.wideScalar([this.#i, this.#m, col]);
  }

  destroy(): void {
    this.#h.destroy();
  }
}
