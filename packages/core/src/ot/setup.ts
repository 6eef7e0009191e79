/**
 * Shapes shared by the DKLs23 OT layers (docs/protocols/ecdsa.md, "Pairwise setup"). For a directed
 * pair `(a→b)`, `a` is the OT-extension sender (and base-OT receiver) and `b` the OT-extension
 * receiver (and base-OT sender). Leaf seeds are one flat buffer: seed `(ν, y)` is bytes `[(16ν +
 * y)·32, +32)`.
 * @module
 */

/** Base OTs per directed pair (κ_base). */
export const BASE_OT_COUNT = 256;
/** SoftSpokenOT parameter k: bits per block. */
export const OTE_K = 4;
/** Blocks B = κ_base / k. */
export const OTE_BLOCKS = 64;
/** Leaves per block, 2^k. */
export const OTE_LEAVES = 16;
/** Bytes per leaf seed. */
export const SEED_BYTES = 32;
/** Bytes of all leaf seeds of one directed pair: 64 × 16 × 32. */
export const SEEDS_BYTES = OTE_BLOCKS * OTE_LEAVES * SEED_BYTES;

/** Offset of seed `(ν, y)` in a flat seed buffer. */
export const seedOffset = (nu: number, y: number): number => (nu * OTE_LEAVES + y) * SEED_BYTES;

/** What the OT-extension sender `a` keeps for `(a→b)` after key generation. Secret. */
export interface OteSenderSetup {
  /** `setupId_{a→b}` (32 bytes). */
  setupId: Uint8Array;
  /** `Δ_ν ∈ [0,16)` for each of the 64 blocks (64 bytes). */
  delta: Uint8Array;
  /** All 64×16 leaf seeds; the seed at `(ν, Δ_ν)` is unknown to `a` and stored as zeros. */
  seeds: Uint8Array;
}

/** What the OT-extension receiver `b` keeps for `(a→b)` after key generation. Secret. */
export interface OteReceiverSetup {
  /** `setupId_{a→b}` (32 bytes). */
  setupId: Uint8Array;
  /** All 64×16 leaf seeds. */
  seeds: Uint8Array;
}
