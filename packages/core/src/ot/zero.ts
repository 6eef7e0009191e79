/**
 * Zero sharing (docs/protocols/ecdsa.md, "Zero sharing"): pairwise seeds from key generation give
 * every signer a fresh `ζ_i` per signing session with `Σ_{i∈S} ζ_i = 0`, re-randomising the
 * additive shares `sk_i`.
 * @module
 */
import { u32be } from '../bytes.ts';
import type { Group } from '../group.ts';
import { H256, hashToScalar } from '../transcript.ts';

/**
 * `zseed_{ij} = H256("zero/seed", sid_dkg, min, max, z_{min→max}, z_{max→min})` for the unordered
 * pair `{i, j}`; `zFromMin` is the contribution of the smaller id.
 */
export function zeroSeed(
  sidDkg: Uint8Array,
  i: number,
  j: number,
  zFromMin: Uint8Array,
  zFromMax: Uint8Array
): Uint8Array {
  const lo = Math.min(i, j);
  const hi = Math.max(i, j);
  return H256('zero/seed', sidDkg, u32be(lo), u32be(hi), zFromMin, zFromMax);
}

/** `ζ_i = Σ_{j∈S, j≠i} sgn(i,j)·HashToScalar("zero/share", zseed_{ij}, sidS)`. */
export function zeroShare(
  g: Group,
  me: number,
  signers: readonly number[],
  seedWith: (j: number) => Uint8Array,
  sidS: Uint8Array
): bigint {
  let z = 0n;
  for (const j of signers) {
    if (j === me) continue;
    const v = hashToScalar('zero/share', [seedWith(j), sidS], g.order);
    z += me < j ? v : -v;
  }
  return g.mod(z);
}
