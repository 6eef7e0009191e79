/**
 * Schnorr proof of knowledge of `w` with `X = w·G`, made non-interactive with Fischlin's
 * transform (straight-line extractable); docs/protocols/common.md, "Schnorr proof of knowledge".
 *
 * Parameters are constants, never read from a proof: ρ = 32 repetitions, b = 4 hash bits,
 * challenges e ∈ [0, 2^9). Knowledge error ≈ 2^-(ρ·b) = 2^-128 per hash query. The context
 * `ctx` must contain the purpose tag, the session id and the prover id, so a proof cannot be
 * replayed in another session or by another party.
 * @module
 */
import { ctEqual, u16be, u32be } from '../bytes.ts';
import { DecodeError } from '../errors.ts';
import type { Group, GroupPoint } from '../group.ts';
import type { Rng } from '../rng.ts';
import { H256, list } from '../transcript.ts';

/** Number of repetitions (ρ_F). */
export const FISCHLIN_REPS = 32;
/** Hash bits that must be zero per repetition (b_F). */
export const FISCHLIN_BITS = 4;
/** Challenge space is [0, 2^FISCHLIN_CHALLENGE_BITS) (t_F). */
export const FISCHLIN_CHALLENGE_BITS = 9;

const E_MAX = 1 << FISCHLIN_CHALLENGE_BITS;
const MASK = (0xff << (8 - FISCHLIN_BITS)) & 0xff;

/** Encoded proof length for a group: ρ × (point + u16 + scalar). */
export const fischlinProofLength = (g: Group): number => FISCHLIN_REPS * (g.pointLength + 2 + 32);

function tryHash(c0: Uint8Array, k: number, e: number, z: Uint8Array): Uint8Array {
  return H256('pok/try', c0, u32be(k), u32be(e), z);
}

/** Proves knowledge of `w` for `X = w·G` under context `ctx`. Returns the encoded proof. */
export function fischlinProve(
  g: Group,
  w: bigint,
  X: GroupPoint,
  ctx: Uint8Array[],
  rng: Rng
): Uint8Array {
  const Xb = g.encodePoint(X);
  const stride = g.pointLength + 2 + 32;
  for (;;) {
    const r: bigint[] = [];
    for (let k = 0; k < FISCHLIN_REPS; k++) r.push(g.randomScalar(rng));
    // r_k are secret: constant-time fixed-base multiplication, then one shared inversion.
    const A = g.encodePoints(r.map((rk) => g.base(rk)));
    const c0 = H256('pok/common', ...ctx, Xb, list(A));
    const proof = new Uint8Array(fischlinProofLength(g));
    let ok = true;
    for (let k = 0; k < FISCHLIN_REPS && ok; k++) {
      let z = r[k] as bigint;
      ok = false;
      for (let e = 0; e < E_MAX; e++) {
        const zb = g.encodeScalar(z);
        if (((tryHash(c0, k, e, zb)[0] as number) & MASK) === 0) {
          proof.set(A[k] as Uint8Array, k * stride);
          proof.set(u16be(e), k * stride + g.pointLength);
          proof.set(zb, k * stride + g.pointLength + 2);
          ok = true;
          break;
        }
        z = g.mod(z + w);
      }
    }
    r.fill(0n);
    // Probability ≈ 2^-42 per proof: restart with fresh randomness (docs/protocols/common.md).
    if (ok) return proof;
  }
}

/**
 * Verifies a proof. Throws `DecodeError` for a malformed proof (wrong length, `e_k ≥ 2^9`,
 * `z_k ≥ q`); returns false when it is well formed but invalid.
 *
 * Each repetition is checked exactly, `A_k == z_k·G − e_k·X`, by recomputing the right-hand side
 * and comparing canonical encodings. Because `X` is in the prime-order subgroup, equality also
 * proves that each `A_k` is a canonical prime-order point (docs/protocols/common.md, strict
 * decoding) without a separate subgroup check, and needs no verifier randomness. With 9-bit `e_k`
 * this costs about what the batched 34-term check would.
 */
export function fischlinVerify(
  g: Group,
  X: GroupPoint,
  ctx: Uint8Array[],
  proof: Uint8Array
): boolean {
  const stride = g.pointLength + 2 + 32;
  if (proof.length !== fischlinProofLength(g)) {
    throw new DecodeError('MalformedMessage', `proof: expected ${fischlinProofLength(g)} bytes`);
  }
  const A: Uint8Array[] = [];
  const e: number[] = [];
  const z: bigint[] = [];
  const zb: Uint8Array[] = [];
  for (let k = 0; k < FISCHLIN_REPS; k++) {
    const off = k * stride;
    A.push(proof.subarray(off, off + g.pointLength));
    const ek =
      ((proof[off + g.pointLength] as number) << 8) | (proof[off + g.pointLength + 1] as number);
    if (ek >= E_MAX) throw new DecodeError('MalformedMessage', `proof.e[${k}]: out of range`);
    e.push(ek);
    const s = proof.subarray(off + g.pointLength + 2, off + stride);
    z.push(g.decodeScalar(s, `proof.z[${k}]`));
    zb.push(s);
  }
  const c0 = H256('pok/common', ...ctx, g.encodePoint(X), list(A));
  let ok = true;
  for (let k = 0; k < FISCHLIN_REPS; k++) {
    if (((tryHash(c0, k, e[k] as number, zb[k] as Uint8Array)[0] as number) & MASK) !== 0)
      ok = false;
  }
  if (!ok) return false;
  const points = z.map((zk, k) => {
    const ek = BigInt(e[k] as number);
    const zG = g.basePublic(zk);
    return ek === 0n ? zG : zG.subtract(X.multiplyUnsafe(ek));
  });
  // A valid A_k is never the identity (and secp256k1 cannot encode it).
  if (points.some((p) => p.is0())) return false;
  const recomputed = g.encodePoints(points);
  for (let k = 0; k < FISCHLIN_REPS; k++) {
    if (!ctEqual(recomputed[k] as Uint8Array, A[k] as Uint8Array)) ok = false;
  }
  return ok;
}
