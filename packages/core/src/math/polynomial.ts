/**
 * Shamir/Feldman helpers over Z_q: polynomial evaluation, Lagrange coefficients at zero, and
 * evaluation of a Feldman commitment vector at a party id.
 * @module
 */
import type { Group, GroupPoint } from '../group.ts';

/** `f(x) = Σ_m a_m·x^m mod q` (Horner). */
export function evalPoly(g: Group, coeffs: readonly bigint[], x: bigint): bigint {
  let acc = 0n;
  for (let m = coeffs.length - 1; m >= 0; m--) acc = g.mod(acc * x + (coeffs[m] as bigint));
  return acc;
}

/**
 * Lagrange basis coefficient of `i` over `ids`, evaluated at `x`:
 * `Π_{j∈ids, j≠i} (x − j)·(i − j)^{-1} mod q`. At `x = 0` this is `λ_{i,S}` of
 * docs/protocols/common.md ("Notation").
 */
export function lagrange(g: Group, ids: readonly number[], i: number, x = 0): bigint {
  let num = 1n;
  let den = 1n;
  for (const j of ids) {
    if (j === i) continue;
    num = g.mod(num * BigInt(x - j));
    den = g.mod(den * BigInt(i - j));
  }
  return g.mod(num * g.inv(den));
}

/** Interpolates public points `P_j` (one per id) at `x`: `Σ_j lagrange(ids, j, x)·P_j`. */
export function interpolatePoints(
  g: Group,
  ids: readonly number[],
  points: readonly GroupPoint[],
  x = 0
): GroupPoint {
  return g.msm(
    [...points],
    ids.map((j) => lagrange(g, ids, j, x))
  );
}

/**
 * `Σ_m x^m·F_m`: the public image of `f(x)` from a Feldman vector, by Horner's rule in the group.
 * Party ids are small, so each step is a short multiplication of a public point.
 */
export function evalCommitment(F: readonly GroupPoint[], x: bigint): GroupPoint {
  let acc = F[F.length - 1] as GroupPoint;
  for (let m = F.length - 2; m >= 0; m--) acc = acc.multiplyUnsafe(x).add(F[m] as GroupPoint);
  return acc;
}

/** Coefficient-wise sum of Feldman vectors of equal length. */
export function sumCommitments(
  g: Group,
  vectors: readonly (readonly GroupPoint[])[]
): GroupPoint[] {
  const t = vectors[0]?.length ?? 0;
  const out: GroupPoint[] = [];
  for (let m = 0; m < t; m++) {
    let acc = g.O;
    for (const v of vectors) acc = acc.add(v[m] as GroupPoint);
    out.push(acc);
  }
  return out;
}
