/**
 * Random vector OLE for one directed pair `(a→b)`, docs/protocols/ecdsa.md "Random vector OLE"
 * (DKLs23 Protocol 5.2 as reconstructed there): Bob gets a random χ, Alice inputs `(α_0, α_1)`, and
 * they end with additive shares `c_m + d_m = α_m·χ`. One check row (θ/μ, Fiat–Shamir) catches an
 * Alice who corrupts pads; the OT-extension check (softspoken.ts) catches a cheating Bob.
 *
 * Messages: Bob's M1 (softspoken.ts) in signing round 1; Alice's `M2 = nA ‖ ã ‖ η ‖ μ`
 * (49,248 bytes) in round 2; Bob finishes in round 3.
 * @module
 */
import { concatBytes, ctEqual, u32be } from '../bytes.ts';
import { CheckFailed, DecodeError } from '../errors.ts';
import { secp256k1Group as G } from '../group.ts';
import type { Rng } from '../rng.ts';
import { H256, hashToScalar } from '../transcript.ts';
import { BoundedCache } from '../util/bounded-cache.ts';
import type { OteReceiverSetup, OteSenderSetup } from './setup.ts';
import {
  columns,
  deltaPrime,
  OTE_XI,
  OtePads,
  type OteReceiverState,
  oteReceiverStart,
  oteSenderProcess,
  oteSidY,
} from './softspoken.ts';

/** Entries per extended OT: ℓ = 2 inputs plus ρ = 1 check row. */
const M = 3;
/** Size of Alice's message M2. */
export const M2_BYTES = 32 + OTE_XI * M * 32 + 32 + 32;

const gadgetCache = new BoundedCache<string, bigint[]>(256);

/** Public gadget vector `g_i = HashToScalar("rvole/gadget", setupId, i)`, cached per setup. */
export function gadget(setupId: Uint8Array): bigint[] {
  const key = String.fromCharCode(...setupId);
  return gadgetCache.getOrCreate(key, () =>
    Array.from({ length: OTE_XI }, (_, i) =>
      hashToScalar('rvole/gadget', [setupId, u32be(i)], G.order)
    )
  );
}

const Q_MINUS_1 = G.order - 1n;

/**
 * A multiplier congruent to bit `i` of `bits` modulo q that is never small: `q − 1 + (1 + bit)`,
 * that is q or q + 1. V8 multiplies (and adds) by 0n far faster than by a 256-bit value, and β
 * is secret (it gives χ, then φ, then the key share), so no product or sum may see a 0n or 1n
 * that depends on it. The `BigInt()` of 1 or 2 has one digit either way.
 */
const bitMultiplier = (bits: Uint8Array, i: number): bigint =>
  Q_MINUS_1 + BigInt(1 + (((bits[i >> 3] as number) >> (i & 7)) & 1));

/** `list()` of 32-byte items that are already laid out back to back. */
const flatList = (count: number, flat: Uint8Array): Uint8Array => concatBytes(u32be(count), flat);

/** Bob's secret state between rounds 1 and 3. */
export interface RvoleBobState {
  /** Choice bits β (512 bits). */
  beta: Uint8Array;
  /** Bob's random output χ. */
  chi: bigint;
  ote: OteReceiverState;
}

/** Round 1 (Bob): random β and χ = Σ β_i·g_i; returns M1. */
export function rvoleBobStart(
  setup: OteReceiverSetup,
  sidS: Uint8Array,
  a: number,
  b: number,
  rng: Rng
): { m1: Uint8Array; state: RvoleBobState } {
  const g = gadget(setup.setupId);
  for (;;) {
    const beta = rng(OTE_XI / 8);
    let chi = 0n;
    // No branch on the secret choice bits and no product by a secret 0n or 1n (bitMultiplier);
    // BigInt arithmetic is otherwise not constant time (V8 is faster on 0n and 1n).
    for (let i = 0; i < OTE_XI; i++) chi += (g[i] as bigint) * bitMultiplier(beta, i);
    chi = G.mod(chi);
    if (chi === 0n) continue; // negligible; resample (docs/protocols/ecdsa.md, "Random vector OLE")
    const { m1, state } = oteReceiverStart(setup, sidS, a, b, beta, rng);
    return { m1, state: { beta, chi, ote: state } };
  }
}

/**
 * Round 2 (Alice, inputs α_0, α_1): checks Bob's M1 (throws `CheckFailed('OteConsistency')`),
 * returns her output shares `c` and M2.
 */
export function rvoleAliceRespond(
  setup: OteSenderSetup,
  sidS: Uint8Array,
  a: number,
  b: number,
  m1: Uint8Array,
  alpha: readonly [bigint, bigint],
  rng: Rng
): { m2: Uint8Array; c: [bigint, bigint] } {
  const g = gadget(setup.setupId);
  const { sidX, W } = oteSenderProcess(setup, sidS, a, b, m1);
  const nA = rng(32);
  const sidY = oteSidY(sidX, nA);
  const colsW = columns(W);
  W.fill(0);
  const dp = deltaPrime(setup.delta);
  const col1 = new Uint8Array(32);
  const eta0 = G.randomScalar(rng);
  const inputs = [alpha[0], alpha[1], eta0];
  const aTilde = new Uint8Array(OTE_XI * M * 32);
  const muItems = new Uint8Array(OTE_XI * 32);
  const p0 = new Array<bigint>(OTE_XI * M);
  let c0 = 0n;
  let c1 = 0n;
  const pads = new OtePads(sidY);
  for (let i = 0; i < OTE_XI; i++) {
    const col0 = colsW.subarray(i * 32, i * 32 + 32);
    for (let k = 0; k < 32; k++) col1[k] = (col0[k] as number) ^ (dp[k] as number);
    for (let m = 0; m < M; m++) {
      const q0 = pads.pad(i, m, col0);
      const q1 = pads.pad(i, m, col1);
      p0[i * M + m] = q0;
      G.encodeScalarInto(q0 - q1 + (inputs[m] as bigint), aTilde, (i * M + m) * 32);
    }
    c0 += (g[i] as bigint) * (p0[i * M] as bigint);
    c1 += (g[i] as bigint) * (p0[i * M + 1] as bigint);
  }
  pads.destroy();
  colsW.fill(0);
  col1.fill(0);
  dp.fill(0);
  const Da = H256('rvole/atilde', sidY, flatList(OTE_XI * M, aTilde));
  const theta0 = hashToScalar('rvole/theta', [sidY, u32be(0), Da], G.order);
  const theta1 = hashToScalar('rvole/theta', [sidY, u32be(1), Da], G.order);
  const eta = G.mod(eta0 + theta0 * alpha[0] + theta1 * alpha[1]);
  for (let i = 0; i < OTE_XI; i++) {
    const v =
      (p0[i * M + 2] as bigint) +
      theta0 * (p0[i * M] as bigint) +
      theta1 * (p0[i * M + 1] as bigint);
    G.encodeScalarInto(v, muItems, i * 32);
  }
  p0.fill(0n);
  const mu = H256('rvole/mu', sidY, flatList(OTE_XI, muItems));
  return {
    m2: concatBytes(nA, aTilde, G.encodeScalar(eta), mu),
    c: [G.mod(-c0), G.mod(-c1)],
  };
}

/**
 * Round 3 (Bob): checks Alice's M2 (throws `DecodeError`, or `CheckFailed('RvoleCheck')` when
 * μ does not match) and returns his shares `d` with `c_m + d_m = α_m·χ`.
 */
export function rvoleBobFinish(
  setupId: Uint8Array,
  state: RvoleBobState,
  m2: Uint8Array
): [bigint, bigint] {
  if (m2.length !== M2_BYTES)
    throw new DecodeError('MalformedMessage', `M2: expected ${M2_BYTES} bytes`);
  const g = gadget(setupId);
  const nA = m2.subarray(0, 32);
  const aRaw = m2.subarray(32, 32 + OTE_XI * M * 32);
  const aTilde: bigint[] = [];
  for (let k = 0; k < OTE_XI * M; k++)
    aTilde.push(G.decodeScalar(aRaw.subarray(k * 32, k * 32 + 32), `ã[${k}]`));
  const eta = G.decodeScalar(m2.subarray(M2_BYTES - 64, M2_BYTES - 32), 'η');
  const mu = m2.subarray(M2_BYTES - 32);
  const sidY = oteSidY(state.ote.sidX, nA);
  const Da = H256('rvole/atilde', sidY, flatList(OTE_XI * M, aRaw));
  const theta0 = hashToScalar('rvole/theta', [sidY, u32be(0), Da], G.order);
  const theta1 = hashToScalar('rvole/theta', [sidY, u32be(1), Da], G.order);
  const colsV = columns(state.ote.V);
  const muItems = new Uint8Array(OTE_XI * 32);
  let d0 = 0n;
  let d1 = 0n;
  const pads = new OtePads(sidY);
  for (let i = 0; i < OTE_XI; i++) {
    const col = colsV.subarray(i * 32, i * 32 + 32);
    const b = bitMultiplier(state.beta, i);
    const dh: bigint[] = [];
    for (let m = 0; m < M; m++) dh.push(pads.pad(i, m, col) + b * (aTilde[i * M + m] as bigint));
    const [h0, h1, h2] = dh as [bigint, bigint, bigint];
    G.encodeScalarInto(h2 + theta0 * h0 + theta1 * h1 - b * eta, muItems, i * 32);
    d0 += (g[i] as bigint) * h0;
    d1 += (g[i] as bigint) * h1;
  }
  pads.destroy();
  colsV.fill(0);
  const muCheck = H256('rvole/mu', sidY, flatList(OTE_XI, muItems));
  if (!ctEqual(muCheck, mu))
    throw new CheckFailed('RvoleCheck', 'the multiplication check value μ does not match');
  return [G.mod(d0), G.mod(d1)];
}
