/**
 * RFC 9380 `hash_to_curve` for the suite `secp256k1_XMD:SHA-256_SSWU_RO_` (RFC 9380 §8.7): the
 * same point as `@noble/curves`' `secp256k1_hasher.hashToCurve(msg, { DST })`, faster (about
 * 1.7× end to end, the shared hashing included; the map itself about 2×).
 *
 * It exists for speed only: base OT hashes hundreds of points per key generation, and noble's
 * generic code spends most of its time in a square-and-multiply `pow` inside sqrt_ratio and in two
 * field inversions for each of the two mapped points (then checks the result). Here:
 * - `hash_to_field` (§5.2, with `expand_message_xmd` of §5.3.1 and SHA-256) is noble's own;
 * - sqrt_ratio is the q ≡ 3 (mod 4) variant of Appendix F.2.1.2, its exponent (p − 3)/4 a fixed
 *   addition chain (253 squarings, 14 multiplications) instead of a generic `pow`;
 * - the simplified SWU map to the isogenous curve E′ (§6.6.2, straight-line in Appendix F.2)
 *   stops before its last step, the division x = x / tv4, and keeps x′ as a fraction;
 * - the 3-isogeny E′ → E (§6.6.3, constants of Appendix E.1) is evaluated on that fraction as
 *   homogeneous polynomials, which yields projective coordinates (Appendix G.1) with no field
 *   inversion at all;
 * - the two mapped points are added with noble's complete `Point.add`; secp256k1 has cofactor 1,
 *   so clear_cofactor is the identity (§7).
 *
 * `hashToCurveSecp256k1Many` hashes a batch; with a secp256k1 backend other than noble installed
 * it takes the square roots from the backend's point decoding (`mapToCurveSecp256k1Many`).
 *
 * All field arithmetic goes through noble's field `secp256k1.Point.Fp`. Results are projective
 * (`Z` is usually not 1): callers normalise many points with one batched inversion.
 * @module
 */
import { normalizeZ } from '@noble/curves/abstract/curve.js';
import { hash_to_field } from '@noble/curves/abstract/hash-to-curve.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { InternalError } from '../errors.ts';
import { secp256k1Backend, secp256k1BackendIsNoble, UNCOMPRESSED } from './secp256k1-backend.ts';

/** noble's secp256k1 point class. */
type Point = InstanceType<typeof secp256k1.Point>;

const Fp = secp256k1.Point.Fp;

/** `sgn0` of §4.1 for a prime field: the parity of the canonical representative. */
function sgn0(a: bigint): boolean {
  // `isOdd` is optional in noble's `IField` type; the secp256k1 field always has it.
  return Fp.isOdd!(a);
}

/** E′: y² = x³ + A′·x + B′, isogenous to secp256k1 (§8.7), with the SSWU constant Z = −11. */
const A = 0x3f8731abdd661adca08a5558f0f5d272e953d363cb6f0e5d405447c01a444533n;
const B = 1771n;
const Z = Fp.create(-11n);
/** `sqrt(−Z)` of Appendix F.2.1.2. Either root gives the same output: step 24 fixes y's sign. */
const SQRT_MINUS_Z = Fp.sqrt(Fp.neg(Z));

/** The 3-isogeny E′ → E, Appendix E.1: `Ki_j` is k_(i,j); both denominators are monic. */
const K1_0 = 0x8e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38daaaaa8c7n;
const K1_1 = 0x07d3d4c80bc321d5b9f315cea7fd44c5d595d2fc0bf63b92dfff1044f17c6581n;
const K1_2 = 0x534c328d23f234e6e2a413deca25caece4506144037c40314ecbd0b53d9dd262n;
const K1_3 = 0x8e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38e38daaaaa88cn;
const K2_0 = 0xd35771193d94918a9ca34ccbb7b640dd86cd409542f8487d9fe6b745781eb49bn;
const K2_1 = 0xedadc6f64383dc1df7c4b2d51b54225406d36b641f5e41bbc52a56612a8c6d14n;
const K3_0 = 0x4bda12f684bda12f684bda12f684bda12f684bda12f684bda12f684b8e38e23cn;
const K3_1 = 0xc75e0c32d5cb7c0fa9d0a54b12a0a6d5647ab046d686da6fdffc90fc201d71a3n;
const K3_2 = 0x29a6194691f91a73715209ef6512e576722830a201be2018a765e85a9ecee931n;
const K3_3 = 0x2f684bda12f684bda12f684bda12f684bda12f684bda12f684bda12f38e38d84n;
const K4_0 = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffff93bn;
const K4_1 = 0x7a06534bb8bdb49fd5e9e6632722c2989467c1bfc8e8d978dfb425d2685c2573n;
const K4_2 = 0x6484aa716545ca2cf3a70c3fa8fe337e0a3d21162f0d6299a7bf8192bfd2a76fn;

/** `a^(2^n)`. */
function sqrTimes(a: bigint, n: number): bigint {
  let r = a;
  for (let i = 0; i < n; i++) r = Fp.sqr(r);
  return r;
}

/**
 * `a^((p − 3)/4)`. The exponent is, in binary, 223 ones, 0, 22 ones, 0000, 1011; the chain builds
 * runs of ones `aK = a^(2^K − 1)` as libsecp256k1's `secp256k1_fe_sqrt` does (which ends in
 * 0000 1100 for (p + 1)/4), then appends the last bits.
 */
function powPm3d4(a: bigint): bigint {
  const a2 = Fp.mul(Fp.sqr(a), a);
  const a3 = Fp.mul(Fp.sqr(a2), a);
  const a6 = Fp.mul(sqrTimes(a3, 3), a3);
  const a9 = Fp.mul(sqrTimes(a6, 3), a3);
  const a11 = Fp.mul(sqrTimes(a9, 2), a2);
  const a22 = Fp.mul(sqrTimes(a11, 11), a11);
  const a44 = Fp.mul(sqrTimes(a22, 22), a22);
  const a88 = Fp.mul(sqrTimes(a44, 44), a44);
  const a176 = Fp.mul(sqrTimes(a88, 88), a88);
  const a220 = Fp.mul(sqrTimes(a176, 44), a44);
  const a223 = Fp.mul(sqrTimes(a220, 3), a3);
  let t = Fp.mul(sqrTimes(a223, 23), a22); // … 0 + 22 ones
  t = Fp.mul(sqrTimes(t, 5), a); // … 00001
  return Fp.mul(sqrTimes(t, 3), a2); // … 011
}

/**
 * The 3-isogeny's x-map (Appendix E.1) at x′ = xn / xd: X = nx / (xd·dx), with nx and dx its
 * numerator and denominator times xd³ and xd² (Horner in (xn, xd)).
 */
function isogenyX(xn: bigint, xd: bigint, xd2: bigint, xd3: bigint): { nx: bigint; dx: bigint } {
  const nx = Fp.add(
    Fp.mul(Fp.add(Fp.mul(Fp.add(Fp.mul(K1_3, xn), Fp.mul(K1_2, xd)), xn), Fp.mul(K1_1, xd2)), xn),
    Fp.mul(K1_0, xd3)
  );
  const dx = Fp.add(Fp.mul(Fp.add(xn, Fp.mul(K2_1, xd)), xn), Fp.mul(K2_0, xd2));
  return { nx, dx };
}

/**
 * The 3-isogeny's y-map (Appendix E.1) at x′ = xn / xd: Y = y′·ny / dy, both polynomials times xd³.
 */
function isogenyY(xn: bigint, xd: bigint, xd2: bigint, xd3: bigint): { ny: bigint; dy: bigint } {
  const ny = Fp.add(
    Fp.mul(Fp.add(Fp.mul(Fp.add(Fp.mul(K3_3, xn), Fp.mul(K3_2, xd)), xn), Fp.mul(K3_1, xd2)), xn),
    Fp.mul(K3_0, xd3)
  );
  const dy = Fp.add(
    Fp.mul(Fp.add(Fp.mul(Fp.add(xn, Fp.mul(K4_2, xd)), xn), Fp.mul(K4_1, xd2)), xn),
    Fp.mul(K4_0, xd3)
  );
  return { ny, dy };
}

/** x1 = tv3 / xd and x2 = tv1·x1 of the simplified SWU map, with xd² and xd³. */
interface SwuFraction {
  tv1: bigint;
  tv3: bigint;
  xd: bigint;
  xd2: bigint;
  xd3: bigint;
}

/**
 * Steps 1–8 of Appendix F.2: the SWU candidates x1 = tv3 / xd and x2 = tv1·x1 as fractions, with
 * xd's square and cube.
 */
function swuFraction(u: bigint): SwuFraction {
  const tv1 = Fp.mul(Fp.sqr(u), Z);
  const tv2 = Fp.add(Fp.sqr(tv1), tv1);
  const tv3 = Fp.mul(Fp.add(tv2, Fp.ONE), B);
  // tv2 = 0 only for the two u with u² = −1/Z; RFC 9380 substitutes Z to keep the fraction finite.
  const xd = Fp.mul(Fp.is0(tv2) ? Z : Fp.neg(tv2), A);
  const xd2 = Fp.sqr(xd);
  return { tv1, tv3, xd, xd2, xd3: Fp.mul(xd2, xd) };
}

/**
 * The simplified SWU map (Appendix F.2, with sqrt_ratio of F.2.1.2 inlined) to E′, then the
 * 3-isogeny to secp256k1, as a projective point. The SWU output x′ = xn / xd is never divided out:
 * homogenising the isogeny's polynomials in (xn, xd) absorbs xd into the denominators.
 *
 * Exported for tests (edge values of `u`); `u` must be a canonical field element.
 */
export function mapToCurveSecp256k1(u: bigint): Point {
  const { tv1, tv3, xd, xd2, xd3: gxd } = swuFraction(u);
  const gxn = Fp.add(Fp.mul(Fp.add(Fp.sqr(tv3), Fp.mul(xd2, A)), tv3), Fp.mul(gxd, B));
  // sqrt_ratio(gxn, gxd), Appendix F.2.1.2.
  const uv = Fp.mul(gxn, gxd);
  let y1 = Fp.mul(powPm3d4(Fp.mul(Fp.sqr(gxd), uv)), uv);
  const isQR = Fp.eql(Fp.mul(Fp.sqr(y1), gxd), gxn);
  if (!isQR) y1 = Fp.mul(y1, SQRT_MINUS_Z);
  // Steps 19–24: g(x1) square → (x1, y1) with x1 = tv3/xd; else (x2, y2) with x2 = tv1·x1.
  const xn = isQR ? tv3 : Fp.mul(tv1, tv3);
  let y = isQR ? y1 : Fp.mul(Fp.mul(tv1, u), y1);
  if (sgn0(u) !== sgn0(y)) y = Fp.neg(y);

  const { nx, dx } = isogenyX(xn, xd, xd2, gxd);
  const { ny, dy } = isogenyY(xn, xd, xd2, gxd);
  // x = nx / (xd·dx) and y = y′·ny / dy over the common denominator xd·dx·dy (Appendix G.1).
  const xdDx = Fp.mul(xd, dx);
  const Zc = Fp.mul(xdDx, dy);
  // A zero denominator is the isogeny's kernel: §6.6.3 maps it to the identity.
  if (Fp.is0(Zc)) return secp256k1.Point.ZERO;
  return new secp256k1.Point(Fp.mul(nx, dy), Fp.mul(Fp.mul(y, ny), xdDx), Zc);
}

/**
 * `hash_to_curve(msg)` of RFC 9380 §3 for `secp256k1_XMD:SHA-256_SSWU_RO_` with domain
 * separation tag `dst`: equal, as a point, to noble's
 * `secp256k1_hasher.hashToCurve(msg, { DST: dst })`. Returns a projective point (`Point.ZERO` for
 * the identity, which occurs with negligible probability).
 *
 * Variable time (it branches on whether g(x1) is square and on signs): for public inputs only.
 */
export function hashToCurveSecp256k1(msg: Uint8Array, dst: Uint8Array): Point {
  const [u0, u1] = hashToField(msg, dst);
  return addMapped(mapToCurveSecp256k1(u0), mapToCurveSecp256k1(u1));
}

/** `hash_to_field(msg, 2)` of §5.2 for this suite (m = 1, k = 128, expand_message_xmd). */
function hashToField(msg: Uint8Array, dst: Uint8Array): [bigint, bigint] {
  const [u0, u1] = hash_to_field(msg, 2, {
    DST: dst,
    p: Fp.ORDER,
    m: 1,
    k: 128,
    expand: 'xmd',
    hash: sha256,
  });
  return [u0![0]!, u1![0]!];
}

/** Step 6 of §3's `hash_to_curve`: the sum of the two mapped points (clear_cofactor is 1). */
function addMapped(Q0: Point, Q1: Point): Point {
  const sum = Q0.add(Q1);
  return Fp.is0(sum.Z) ? secp256k1.Point.ZERO : sum;
}

/**
 * `hashToCurveSecp256k1` of each message: the same points, through `mapToCurveSecp256k1Many`.
 *
 * Variable time: for public inputs only.
 */
export function hashToCurveSecp256k1Many(msgs: Uint8Array[], dst: Uint8Array): Point[] {
  const Q = mapToCurveSecp256k1Many(msgs.flatMap((m) => hashToField(m, dst)));
  return msgs.map((_, i) => addMapped(Q[2 * i] as Point, Q[2 * i + 1] as Point));
}

/**
 * `mapToCurveSecp256k1` of each `u`: the same points. With a secp256k1 backend other than noble
 * installed, the square roots come from the backend's point decoding (libsecp256k1's
 * `secp256k1_ec_pubkey_parse`, about 20 times faster than an exponentiation on noble's field);
 * with noble, this maps one `u` at a time.
 *
 * Why decoding gives the same map: the isogeny's x-map depends on x′ alone,
 * X = x_num(x′) / x_den(x′), and its y-map is Y = y′·r(x′) with r = y_num / y_den. A point
 * (x′, y′) of E′ goes to a point of secp256k1, so X³ + 7 = g′(x′)·r(x′)², g′ being the right-hand
 * side of E′. Where r(x′) is finite and non-zero, g′(x′) is a square exactly when X³ + 7 is, that
 * is when `02 ‖ X` decodes. So:
 * - x1 is taken (step 19 of Appendix F.2) exactly when its X decodes, else x2, whose g′ is then a
 *   square (g′(x2) = (Z·u²)³·g′(x1) with Z not a square);
 * - decoding gives Y up to sign, and exactly one of ±Y has y′ = Y / r(x′) with sgn0(y′) = sgn0(u)
 *   (step 24).
 *
 * The fractions are inverted together (Montgomery's trick, noble's `invertBatch`): the x-map's
 * denominators per pass over the candidates, then r's. A `u` for which a denominator is zero (the
 * isogeny's kernel, or r(x′) = 0) would go through `mapToCurveSecp256k1`, which handles every
 * case of the RFC. None should exist: X³ + 7 is never 0 on this field (−7 is not a cube), and
 * solving x1 or x2 for a root of x_den gives no u; the check costs two comparisons.
 *
 * Variable time: for public inputs only. Exported for tests.
 */
export function mapToCurveSecp256k1Many(us: bigint[]): Point[] {
  if (secp256k1BackendIsNoble()) return us.map(mapToCurveSecp256k1);
  const backend = secp256k1Backend();
  const out: (Point | undefined)[] = new Array(us.length);
  const fractions = us.map(swuFraction);
  const fraction = (i: number) => fractions[i] as SwuFraction;
  const compressed = new Uint8Array(33);
  const decoded = new Uint8Array(UNCOMPRESSED);
  compressed[0] = 0x02;

  // X of the chosen candidate: x1 for every u, then x2 for each u whose x1 did not decode.
  const chosen: { i: number; xn: bigint; X: bigint; Ye: bigint }[] = [];
  let pending = us.map((_, i) => ({ i, xn: fraction(i).tv3 }));
  for (let pass = 0; pending.length > 0; pass++) {
    // g′(x1) not a square makes g′(x2) one: a second refusal means a broken backend.
    if (pass === 2)
      throw new InternalError('hash to curve: the backend refused both SWU candidates');
    const live: { i: number; xn: bigint; nx: bigint; den: bigint }[] = [];
    for (const { i, xn } of pending) {
      const f = fraction(i);
      const { nx, dx } = isogenyX(xn, f.xd, f.xd2, f.xd3);
      const den = Fp.mul(f.xd, dx);
      if (Fp.is0(den)) out[i] = mapToCurveSecp256k1(us[i] as bigint);
      else live.push({ i, xn, nx, den });
    }
    const inv = Fp.invertBatch(live.map((c) => c.den));
    pending = [];
    live.forEach(({ i, xn, nx }, k) => {
      const X = Fp.mul(nx, inv[k] as bigint);
      compressed.set(Fp.toBytes(X), 1);
      if (backend.decode(compressed, decoded)) {
        chosen.push({ i, xn, X, Ye: bytesToNumberBE(decoded.subarray(33)) });
      } else {
        const f = fraction(i);
        pending.push({ i, xn: Fp.mul(f.tv1, f.tv3) });
      }
    });
  }

  // Y = ±Ye, the sign given by y′ = Y·dy / ny.
  const live: { i: number; X: bigint; Ye: bigint; ny: bigint; dy: bigint }[] = [];
  for (const { i, xn, X, Ye } of chosen) {
    const f = fraction(i);
    const { ny, dy } = isogenyY(xn, f.xd, f.xd2, f.xd3);
    if (Fp.is0(ny) || Fp.is0(dy)) out[i] = mapToCurveSecp256k1(us[i] as bigint);
    else live.push({ i, X, Ye, ny, dy });
  }
  const inv = Fp.invertBatch(live.map((c) => c.ny));
  live.forEach(({ i, X, Ye, dy }, k) => {
    const yPrime = Fp.mul(Fp.mul(Ye, dy), inv[k] as bigint);
    const Y = sgn0(yPrime) === sgn0(us[i] as bigint) ? Ye : Fp.neg(Ye);
    out[i] = new secp256k1.Point(X, Y, Fp.ONE);
  });
  return out as Point[];
}

/** Bytes of one result of `hashToCurveJob`: an uncompressed point, or 65 zeros for the identity. */
const RESULT = 65;

/**
 * The input of `hashToCurveJob` for many messages under one tag:
 * `u16be(|dst|) ‖ dst ‖ u32be(count) ‖ (u32be(|msg|) ‖ msg)*`.
 */
export function encodeHashToCurveJob(dst: Uint8Array, msgs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(2 + dst.length + 4 + msgs.reduce((n, m) => n + 4 + m.length, 0));
  const v = new DataView(out.buffer);
  v.setUint16(0, dst.length);
  out.set(dst, 2);
  let off = 2 + dst.length;
  v.setUint32(off, msgs.length);
  off += 4;
  for (const m of msgs) {
    v.setUint32(off, m.length);
    out.set(m, off + 4);
    off += 4 + m.length;
  }
  return out;
}

/**
 * A batch of hashes to the curve as a self-contained job (for a worker thread): the input of
 * `encodeHashToCurveJob`, the results as 65 bytes each, affine with one shared inversion.
 * Inputs and results are public.
 *
 * @throws RangeError on an input that `encodeHashToCurveJob` did not make.
 */
export function hashToCurveJob(input: Uint8Array): Uint8Array {
  const v = new DataView(input.buffer, input.byteOffset, input.length);
  const dstLen = v.getUint16(0);
  const dst = input.subarray(2, 2 + dstLen);
  let off = 2 + dstLen;
  const count = v.getUint32(off);
  off += 4;
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = v.getUint32(off);
    if (off + 4 + len > input.length) throw new RangeError('hashToCurveJob: truncated input');
    msgs.push(input.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (off !== input.length) throw new RangeError('hashToCurveJob: trailing bytes');
  const points = hashToCurveSecp256k1Many(msgs, dst);
  const out = new Uint8Array(count * RESULT);
  normalizeZ(secp256k1.Point, points).forEach((p, i) => {
    if (!p.is0()) out.set(p.toBytes(false), i * RESULT);
  });
  return out;
}

/** The points of a `hashToCurveJob` result (`count` of them), each checked to be on the curve. */
export function hashToCurveJobResult(out: Uint8Array, count: number): Point[] {
  if (out.length !== count * RESULT) throw new RangeError('hashToCurveJob: result of wrong length');
  const points: Point[] = [];
  for (let i = 0; i < count; i++) {
    const b = out.subarray(i * RESULT, (i + 1) * RESULT);
    points.push(b[0] === 0 ? secp256k1.Point.ZERO : secp256k1.Point.fromBytes(b));
  }
  return points;
}
