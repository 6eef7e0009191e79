/**
 * Base OT: 256 random 1-out-of-2 OTs per directed pair `(a→b)`, receiver first
 * (docs/protocols/ecdsa.md, "Base OT").
 *
 * An "endemic" OT in the Masny–Rindal style with RFC 9380 hash-to-curve (two Feistel-like rounds
 * `P^{c} = M − Hc(k, c, P^{1−c})`), two messages and no ZK proof:
 *
 * 1. `baseOtReceiverStart` (party `a`, DKG round 2) → `msg1 = list(P_k^0 ‖ P_k^1)` and its secret state.
 * 2. `baseOtSenderRespond` (party `b`, DKG round 3) → `msg2 = list(B_k^0 ‖ B_k^1)` and both keys per OT.
 * 3. `baseOtReceiverFinish` (party `a`, DKG round 4) → the chosen key per OT.
 *
 * Security notes, each against a known pitfall of base OTs (docs/security.md ):
 * - both receiver points are uniform group elements combined by group addition (Devious
 *   Transfer): the dummy `Q_k` is `γ_k·G`, never random bytes;
 * - `Hc` is RFC 9380 `hash_to_curve`, never `HashToScalar(…)·G`, whose discrete log would be known;
 * - each key hashes `sidOT, k, j, B, DH point`, so keys are separated by index and branch;
 * - every received point is strictly decoded before any other work, and `N_k^j = O` aborts;
 * - secrets (`m_k`, `γ_k`, `ε_k^j`) are only multiplied in constant time, by noble or by the
 *   installed secp256k1 backend (`group.base`, `mulSecretsEncoded`), and the receiver's work
 *   does not branch on its choice bits: it hashes both branch labels and selects bytes with
 *   masks (JS gives no hard guarantee).
 * @module
 */
import { normalizeZ } from '@noble/curves/abstract/curve.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { u32be, utf8ToBytes, wipe } from '../bytes.ts';
import { decodeList } from '../codec.ts';
import { CheckFailed, InputError, InternalError } from '../errors.ts';
import { type GroupPoint, secp256k1Group as g } from '../group.ts';
import {
  encodeHashToCurveJob,
  hashToCurveJobResult,
  hashToCurveSecp256k1Many,
} from '../math/h2c-secp256k1.ts';
import {
  secp256k1Backend,
  secp256k1BackendIsNoble,
  UNCOMPRESSED,
} from '../math/secp256k1-backend.ts';
import { spread } from '../parallel.ts';
import type { Rng } from '../rng.ts';
import { DS, enc, H256, TAGS } from '../transcript.ts';
import { BASE_OT_COUNT } from './setup.ts';

/** noble's secp256k1 point class (what `secp256k1Group` hands out behind `GroupPoint`). */
type Point = InstanceType<typeof secp256k1.Point>;

/** Bytes of one compressed point. */
const PT = 33;
/** Bytes of one pair `P^0 ‖ P^1` or `B^0 ‖ B^1`. */
const PAIR = 2 * PT;
/** Bytes of the 256 choice bits. */
const CHOICE_BYTES = BASE_OT_COUNT / 8;
/** Bytes of one base-OT key. */
const KEY = 32;

/** `DST = DS ‖ "/" ‖ tag` for `HashToCurve` (docs/protocols/common.md). */
const H2C_DST = utf8ToBytes(`${DS}/${TAGS.otBaseH2c}`);

/** Secret state of the base-OT receiver `a` between message 1 and the finish. Plain data. */
export interface BaseOtReceiverState {
  /**
   * 32 bytes: choice bit `c_k` is `(choices[k >> 3] >> (k & 7)) & 1` (the bit order of
   * docs/protocols/common.md).
   */
  choices: Uint8Array;
  /** The 256 secret scalars `m_k ∈ Z_q*` with `M_k = m_k·G`. */
  m: bigint[];
}

/** `sidOT = H256("ot/base/sid", sid_dkg, u32be(a), u32be(b))` for the directed pair `(a→b)`. */
export function baseOtSid(sidDkg: Uint8Array, a: number, b: number): Uint8Array {
  return H256(TAGS.otBaseSid, sidDkg, u32be(a), u32be(b));
}

/** Choice bit `k` in the bit order of docs/protocols/common.md. */
const bitAt = (bits: Uint8Array, k: number): number => ((bits[k >> 3] as number) >> (k & 7)) & 1;

/**
 * `out = bit ? b : a`, byte-wise with a mask, so the selection does not branch on `bit` (a
 * secret choice bit here).
 */
function ctSelectInto(out: Uint8Array, off: number, bit: number, a: Uint8Array, b: Uint8Array) {
  const mask = -bit & 0xff;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    out[off + i] = x ^ ((x ^ (b[i] as number)) & mask);
  }
}

/** The input of `Hc(k, j, P)`: `enc(sidOT, u32be(k), u32be(j), P)`. */
const hcInput = (sidOT: Uint8Array, k: number, j: number, P: Uint8Array): Uint8Array =>
  enc(sidOT, u32be(k), u32be(j), P);

/**
 * `Hc` of every input, `HashToCurve("ot/base/h2c", input)` (each may be `O`), spread over the
 * installed core workers when there are any: the inputs are public.
 */
const hcAll = (inputs: Uint8Array[]): Point[] =>
  spread(
    inputs,
    64,
    (part) => hashToCurveSecp256k1Many(part, H2C_DST),
    'hashToCurveSecp256k1',
    (part) => encodeHashToCurveJob(H2C_DST, part),
    hashToCurveJobResult
  );

/**
 * Compressed encodings of `s_i·P_i` for secret scalars `s_i`, through the installed backend
 * (docs/protocols/ecdsa.md, "How the base OT computes"): noble's constant-time `multiply`, or the
 * backend's constant-time `mulPoint`. The results are Diffie–Hellman values: only hashed.
 */
function mulSecretsEncoded(P: Point[], s: bigint[]): Uint8Array[] {
  if (secp256k1BackendIsNoble()) return g.encodePoints(P.map((p, i) => p.multiply(s[i] as bigint)));
  const backend = secp256k1Backend();
  // One shared inversion makes every point affine, so each encodes without its own.
  const affine = normalizeZ(secp256k1.Point, P);
  const sb = new Uint8Array(32);
  const out = new Uint8Array(UNCOMPRESSED);
  const enc = affine.map((p, i) => {
    g.encodeScalarInto(s[i] as bigint, sb, 0);
    backend.mulPoint(p.toBytes(false), sb, out);
    const c = new Uint8Array(PT);
    // The parity of y picks the prefix by arithmetic, not by a branch on the secret point.
    c[0] = 0x02 | ((out[UNCOMPRESSED - 1] as number) & 1);
    c.set(out.subarray(1, 1 + KEY), 1);
    return c;
  });
  wipe(sb, out);
  return enc;
}

/** `s_k^j = H256("ot/base/key", sidOT, u32be(k), u32be(j), B_k^j, DH)`. */
const otKey = (sidOT: Uint8Array, k: number, j: number, B: Uint8Array, dh: Uint8Array) =>
  H256(TAGS.otBaseKey, sidOT, u32be(k), u32be(j), B, dh);

function checkSid(sidOT: Uint8Array): void {
  if (!(sidOT instanceof Uint8Array) || sidOT.length !== 32)
    throw new InputError('sidOT must be 32 bytes');
}

/**
 * Base-OT message 1, from the receiver `a`: for each `k < 256` a fresh choice bit
 * `c_k`, a secret `m_k`, the dummy `Q_k = γ_k·G`, and
 * `P_k^{1−c_k} = Q_k`, `P_k^{c_k} = m_k·G − Hc(k, c_k, Q_k)`.
 *
 * Randomness is drawn in this order: 32 bytes of choice bits, then `m_k`, `γ_k` for each `k`.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param rng - the CSPRNG (tests may inject a deterministic one).
 * @returns `msg1 = list(P_k^0 ‖ P_k^1)_{k<256}` (`u32be(256) ‖ 256 × 66 bytes`) and the secret
 *   state to keep until `baseOtReceiverFinish`.
 */
export function baseOtReceiverStart(
  sidOT: Uint8Array,
  rng: Rng
): { msg1: Uint8Array; state: BaseOtReceiverState } {
  checkSid(sidOT);
  const choices = rng(CHOICE_BYTES).slice();
  if (choices.length !== CHOICE_BYTES) throw new InternalError('rng returned a short buffer');
  const m: bigint[] = [];
  const M: GroupPoint[] = [];
  const Q: GroupPoint[] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const mk = g.randomScalar(rng);
    const gamma = g.randomScalar(rng);
    m.push(mk);
    // m_k and γ_k are secret (γ_k would reveal which slot is the dummy): constant-time base mult.
    M.push(g.base(mk));
    Q.push(g.base(gamma));
  }
  const qEnc = g.encodePoints(Q);
  // Both candidates M − Hc(k, 0, Q) and M − Hc(k, 1, Q) are computed, so the point arithmetic and
  // hashing are identical for c_k = 0 and 1; only the byte selection below depends on c_k. Note
  // that Hc's input is Q = P^{1−c} in both branches.
  const H = hcAll(qEnc.flatMap((q, k) => [hcInput(sidOT, k, 0, q), hcInput(sidOT, k, 1, q)]));
  const D: GroupPoint[] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const Mk = M[k] as Point;
    const h0 = H[2 * k] as Point;
    const h1 = H[2 * k + 1] as Point;
    const d0 = Mk.subtract(h0);
    const d1 = Mk.subtract(h1);
    // Probability ~2^-256 each; checked because encoding O would fail and P must never be O.
    if (h0.is0() || h1.is0() || d0.is0() || d1.is0())
      throw new InternalError('base OT: degenerate point, retry with fresh randomness');
    D.push(d0, d1);
  }
  const dEnc = g.encodePoints(D);
  // msg1 = list(items): u32be(count) ‖ items, written straight into one buffer.
  const msg1 = new Uint8Array(4 + BASE_OT_COUNT * PAIR);
  msg1.set(u32be(BASE_OT_COUNT), 0);
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const c = bitAt(choices, k);
    const q = qEnc[k] as Uint8Array;
    const off = 4 + k * PAIR;
    // c = 0: (P^0, P^1) = (M − Hc(k,0,Q), Q);  c = 1: (P^0, P^1) = (Q, M − Hc(k,1,Q)).
    ctSelectInto(msg1, off, c, dEnc[2 * k] as Uint8Array, q);
    ctSelectInto(msg1, off + PT, c, q, dEnc[2 * k + 1] as Uint8Array);
  }
  return { msg1, state: { choices, m } };
}

/**
 * Base-OT message 2, from the sender `b`. Decodes and validates all 512 points of
 * `msg1` first, computes `N_k^0 = P_k^0 + Hc(k, 0, P_k^1)` and `N_k^1 = P_k^1 + Hc(k, 1, P_k^0)`,
 * then draws `ε_k^j`, sends `B_k^j = ε_k^j·G` and outputs
 * `s_k^j = H256("ot/base/key", sidOT, u32be(k), u32be(j), B_k^j, ε_k^j·N_k^j)`.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param msg1 - the receiver's message 1, as received.
 * @param rng - the CSPRNG; draws `ε_k^0, ε_k^1` for each `k` in order.
 * @returns `msg2 = list(B_k^0 ‖ B_k^1)_{k<256}` and `keys`, 256 × 64 bytes `s_k^0 ‖ s_k^1`.
 * @throws DecodeError if `msg1` is malformed (count, length, any point invalid or not canonical).
 * @throws CheckFailed `BaseOtPoint` if some `N_k^j` is the identity. Callers name `a` as culprit.
 */
export function baseOtSenderRespond(
  sidOT: Uint8Array,
  msg1: Uint8Array,
  rng: Rng
): { msg2: Uint8Array; keys: Uint8Array } {
  checkSid(sidOT);
  // Strict decoding of everything before any hashing or secret-dependent work.
  const items = decodeList(msg1, PAIR, BASE_OT_COUNT, 'base OT msg1');
  const P0: Point[] = [];
  const P1: Point[] = [];
  // decodePoint rejects non-canonical bytes, so the validated bytes below are the canonical
  // re-encodings that hashes must take (docs/protocols/common.md, "Encoding"); copied so later
  // mutation of msg1 is moot.
  const p0Enc: Uint8Array[] = [];
  const p1Enc: Uint8Array[] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const it = items[k] as Uint8Array;
    const e0 = it.slice(0, PT);
    const e1 = it.slice(PT, PAIR);
    P0.push(g.decodePoint(e0, `base OT P[${k}]^0`) as Point);
    P1.push(g.decodePoint(e1, `base OT P[${k}]^1`) as Point);
    p0Enc.push(e0);
    p1Enc.push(e1);
  }
  const H = hcAll(
    p0Enc.flatMap((p0, k) => [
      hcInput(sidOT, k, 0, p1Enc[k] as Uint8Array),
      hcInput(sidOT, k, 1, p0),
    ])
  );
  const N: Point[] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const h0 = H[2 * k] as Point;
    const h1 = H[2 * k + 1] as Point;
    const n0 = (P0[k] as Point).add(h0);
    const n1 = (P1[k] as Point).add(h1);
    // A malicious a can force N = O (P^0 = −Hc(k, 0, P^1)); then ε·N = O is a key a knows.
    if (h0.is0() || h1.is0() || n0.is0() || n1.is0())
      throw new CheckFailed('BaseOtPoint', `base OT: N for OT ${k} is the identity`);
    N.push(n0, n1);
  }
  const B: GroupPoint[] = [];
  const eps: bigint[] = [];
  for (let i = 0; i < 2 * BASE_OT_COUNT; i++) {
    const e = g.randomScalar(rng);
    eps.push(e);
    // ε is secret: constant-time fixed-base and (below) variable-base multiplication.
    B.push(g.base(e));
  }
  const bEnc = g.encodePoints(B);
  const dhEnc = mulSecretsEncoded(N, eps);
  const msg2 = new Uint8Array(4 + BASE_OT_COUNT * PAIR);
  msg2.set(u32be(BASE_OT_COUNT), 0);
  const keys = new Uint8Array(BASE_OT_COUNT * 2 * KEY);
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    for (let j = 0; j < 2; j++) {
      const b = bEnc[2 * k + j] as Uint8Array;
      msg2.set(b, 4 + k * PAIR + j * PT);
      keys.set(otKey(sidOT, k, j, b, dhEnc[2 * k + j] as Uint8Array), (2 * k + j) * KEY);
    }
  }
  return { msg2, keys };
}

/**
 * Receiver output of the base OT: validates all 512 points of `msg2`, then for each
 * `k` computes `s_k^{c_k} = H256("ot/base/key", sidOT, u32be(k), u32be(c_k), B_k^{c_k}, m_k·B_k^{c_k})`.
 * `B_k^{c_k}` is selected with byte masks so the work does not depend on `c_k`.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param state - from `baseOtReceiverStart` (not modified).
 * @param msg2 - the sender's message 2, as received.
 * @returns 256 × 32 bytes: `s_k^{c_k}` at offset `32k`.
 * @throws DecodeError if `msg2` is malformed (count, length, any point invalid or not canonical).
 */
export function baseOtReceiverFinish(
  sidOT: Uint8Array,
  state: BaseOtReceiverState,
  msg2: Uint8Array
): Uint8Array {
  checkSid(sidOT);
  const { choices, m } = state;
  if (!(choices instanceof Uint8Array) || choices.length !== CHOICE_BYTES)
    throw new InputError('base OT state: choices must be 32 bytes');
  if (!Array.isArray(m) || m.length !== BASE_OT_COUNT)
    throw new InputError('base OT state: expected 256 scalars');
  for (const mk of m) {
    if (typeof mk !== 'bigint' || mk <= 0n || mk >= g.order)
      throw new InputError('base OT state: scalar out of range');
  }
  const items = decodeList(msg2, PAIR, BASE_OT_COUNT, 'base OT msg2');
  // Validate every point before using any of them.
  const unc: [Uint8Array, Uint8Array][] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const it = items[k] as Uint8Array;
    const b0 = g.decodePoint(it.subarray(0, PT), `base OT B[${k}]^0`);
    const b1 = g.decodePoint(it.subarray(PT, PAIR), `base OT B[${k}]^1`);
    // Uncompressed forms of the validated points (Z = 1 after decoding, so this is cheap). The
    // selection happens on these bytes: rebuilding a point from them needs no square root.
    unc.push([(b0 as Point).toBytes(false), (b1 as Point).toBytes(false)]);
  }
  const selC = new Uint8Array(PT);
  const selU = new Uint8Array(2 * PT - 1);
  const bSel: Uint8Array[] = [];
  const Bsel: Point[] = [];
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const c = bitAt(choices, k);
    const it = items[k] as Uint8Array;
    ctSelectInto(selC, 0, c, it.subarray(0, PT), it.subarray(PT, PAIR));
    bSel.push(selC.slice());
    const [u0, u1] = unc[k] as [Uint8Array, Uint8Array];
    ctSelectInto(selU, 0, c, u0, u1);
    // fromBytes re-checks the curve equation (cheap, value-independent work); no sqrt needed.
    Bsel.push(secp256k1.Point.fromBytes(selU));
  }
  // m_k is secret: constant-time variable-base multiplication.
  const dhEnc = mulSecretsEncoded(Bsel, m);
  const out = new Uint8Array(BASE_OT_COUNT * KEY);
  for (let k = 0; k < BASE_OT_COUNT; k++) {
    const c = bitAt(choices, k);
    out.set(otKey(sidOT, k, c, bSel[k] as Uint8Array, dhEnc[k] as Uint8Array), k * KEY);
  }
  return out;
}
