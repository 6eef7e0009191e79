/**
 * The two prime-order groups Tessera uses, with strict wire codecs (docs/protocols/common.md,
 * "Notation" and "Strict decoding of points and scalars").
 *
 * - secp256k1: 33-byte compressed SEC1 points (02/03 only), 32-byte big-endian scalars.
 * - Ed25519: 32-byte RFC 8032 points (canonical, prime-order subgroup), 32-byte little-endian
 *   scalars, as in RFC 9591 so that shares feed noble's FROST unchanged.
 *
 * Decoders reject rather than repair: a scalar ≥ q, an off-curve, identity, small-order or
 * non-canonical point throws `DecodeError`, which protocol code turns into an abort naming the
 * sender.
 * @module
 */
import { mulAddUnsafe, normalizeZ } from '@noble/curves/abstract/curve.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { ctEqual } from './bytes.ts';
import { DecodeError } from './errors.ts';
import {
  secp256k1Backend,
  secp256k1BackendIsNoble,
  UNCOMPRESSED,
} from './math/secp256k1-backend.ts';
import type { Rng } from './rng.ts';

/** The point operations Tessera needs; both noble point classes provide them. */
export interface GroupPoint {
  add(other: GroupPoint): GroupPoint;
  subtract(other: GroupPoint): GroupPoint;
  negate(): GroupPoint;
  multiply(scalar: bigint): GroupPoint;
  multiplyUnsafe(scalar: bigint): GroupPoint;
  equals(other: GroupPoint): boolean;
  is0(): boolean;
  toBytes(): Uint8Array;
  /** Builds (eagerly with `isLazy = false`) a window-`w` table for repeated multiplications. */
  precompute(windowSize?: number, isLazy?: boolean): GroupPoint;
}

/** Curve names. */
export type CurveName = 'secp256k1' | 'ed25519';

/** A prime-order group with canonical codecs. */
export interface Group {
  readonly name: CurveName;
  /** Group order q. */
  readonly order: bigint;
  /** Encoded point length in bytes. */
  readonly pointLength: number;
  /** Encoded scalar length in bytes. */
  readonly scalarLength: 32;
  /** Generator. */
  readonly G: GroupPoint;
  /** Identity. */
  readonly O: GroupPoint;
  /** `s·G` (constant-time fixed-base multiplication; `0·G = O`). */
  base(s: bigint): GroupPoint;
  /**
   * `s·G` for a public `s`, by the fastest means at hand (it may be variable time): on secp256k1
   * with a backend installed, the backend's `mulBase`; otherwise noble's `multiplyUnsafe`.
   */
  basePublic(s: bigint): GroupPoint;
  /**
   * `s·P` for a secret `s` (constant time in `s`; `0·P = s·O = O`). On secp256k1 it runs in the
   * installed backend.
   */
  mulSecret(p: GroupPoint, s: bigint): GroupPoint;
  /**
   * `s·P` for a public `s`, by the fastest means at hand (it may be variable time): on secp256k1
   * with a backend installed, the backend's `mulPoint`; otherwise noble's `multiplyUnsafe`, which
   * uses `P`'s precomputed table when it has one.
   */
  mulPublic(p: GroupPoint, s: bigint): GroupPoint;
  /** Multi-scalar multiplication on public values only. */
  msm(points: GroupPoint[], scalars: bigint[]): GroupPoint;
  encodePoint(p: GroupPoint): Uint8Array;
  /** Encodes many points with one shared inversion. */
  encodePoints(ps: GroupPoint[]): Uint8Array[];
  /**
   * Strict decoding of a received point: exact length and prefix, on the curve, canonical, not the
   * identity, and in the prime-order subgroup. `subgroup: false` skips only the last check, for
   * callers that check membership another way (see its uses).
   */
  decodePoint(b: Uint8Array, what?: string, opts?: { subgroup?: boolean }): GroupPoint;
  /** Decodes a point this party encoded itself (from its own session state): no re-validation. */
  decodeOwn(b: Uint8Array): GroupPoint;
  encodeScalar(s: bigint): Uint8Array;
  /** `encodeScalar(s)` written into `out` at byte `off` (hot loops: no allocation). */
  encodeScalarInto(s: bigint, out: Uint8Array, off: number): void;
  /** Strict decoding: exactly 32 bytes and `< q`; with `nonzero`, rejects 0. */
  decodeScalar(b: Uint8Array, what?: string, nonzero?: boolean): bigint;
  /** Uniform scalar in Z_q* from 48 random bytes (docs/protocols/common.md, "Randomness"). */
  randomScalar(rng: Rng): bigint;
  mod(a: bigint): bigint;
  inv(a: bigint): bigint;
}

interface NoblePoint extends GroupPoint {
  toBytes(isCompressed?: boolean): Uint8Array;
  assertValidity(): void;
  isTorsionFree(): boolean;
}
interface NoblePointCons {
  BASE: NoblePoint;
  ZERO: NoblePoint;
  fromBytes(b: Uint8Array): NoblePoint;
  Fn: {
    ORDER: bigint;
    isLE: boolean;
    toBytes(n: bigint): Uint8Array;
    fromBytes(b: Uint8Array): bigint;
    inv(n: bigint): bigint;
  };
}

/**
 * 32-byte encoding of an integer below 2^256 through four 64-bit words. Same bytes as noble's
 * `Fn.toBytes`, without its hex round trip (the RVOLE encodes 3,072 scalars per signature).
 */
function scalarToBytes(s: bigint, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(32);
  writeScalar(s, new DataView(out.buffer), 0, littleEndian);
  return out;
}

/** `setBigUint64` keeps the low 64 bits of its value itself (ToBigUint64), so no mask is needed. */
function writeScalar(s: bigint, v: DataView, off: number, littleEndian: boolean): void {
  const lo = littleEndian ? 0 : 24;
  const step = littleEndian ? 8 : -8;
  v.setBigUint64(off + lo, s, littleEndian);
  v.setBigUint64(off + lo + step, s >> 64n, littleEndian);
  v.setBigUint64(off + lo + 2 * step, s >> 128n, littleEndian);
  v.setBigUint64(off + lo + 3 * step, s >> 192n, littleEndian);
}

/** Inverse of `scalarToBytes` (any 32 bytes; the caller range-checks). */
function bytesToScalar(b: Uint8Array, littleEndian: boolean): bigint {
  const v = new DataView(b.buffer, b.byteOffset, 32);
  let x = 0n;
  for (let k = 3; k >= 0; k--)
    x = (x << 64n) | v.getBigUint64(littleEndian ? 8 * k : 24 - 8 * k, littleEndian);
  return x;
}

function makeGroup(
  name: CurveName,
  Point: NoblePointCons,
  pointLength: number,
  checkPrefix: (b: Uint8Array) => boolean,
  scalarLE: boolean,
  usesBackend: boolean
): Group {
  const q = Point.Fn.ORDER;
  const Fn = Point.Fn;
  const mod = (a: bigint) => {
    const r = a % q;
    return r < 0n ? r + q : r;
  };
  /**
   * A backend call on the secret scalar `k` (0 < k < q) that writes an uncompressed point: the
   * point, with the scalar's and the output's buffers wiped on every path.
   */
  const viaBackend = (k: bigint, call: (sb: Uint8Array, out: Uint8Array) => void): NoblePoint => {
    const sb = scalarToBytes(k, false);
    const out = new Uint8Array(UNCOMPRESSED);
    try {
      call(sb, out);
      return Point.fromBytes(out);
    } finally {
      sb.fill(0);
      out.fill(0);
    }
  };
  const group: Group = {
    name,
    order: q,
    pointLength,
    scalarLength: 32,
    G: Point.BASE,
    O: Point.ZERO,
    // noble refuses 0; a zero received from a peer must reach the protocol check that blames it.
    // Scalars are reduced first, so that every multiple of q gives O on every backend alike.
    base(s) {
      const k = mod(s);
      if (k === 0n) return Point.ZERO;
      if (!usesBackend || secp256k1BackendIsNoble()) return Point.BASE.multiply(k);
      return viaBackend(k, (sb, out) => secp256k1Backend().mulBase(sb, out));
    },
    basePublic(s) {
      if (usesBackend && !secp256k1BackendIsNoble()) return group.base(s);
      const k = mod(s);
      return k === 0n ? Point.ZERO : Point.BASE.multiplyUnsafe(k);
    },
    mulSecret(p, s) {
      const P = p as NoblePoint;
      const k = mod(s);
      // Whether P is the identity is public; k = 0 is the same O whatever P is.
      if (k === 0n || P.is0()) return Point.ZERO;
      if (!usesBackend || secp256k1BackendIsNoble()) return P.multiply(k);
      return viaBackend(k, (sb, out) => secp256k1Backend().mulPoint(P.toBytes(false), sb, out));
    },
    mulPublic(p, s) {
      if (usesBackend && !secp256k1BackendIsNoble()) return group.mulSecret(p, s);
      const k = mod(s);
      return k === 0n || p.is0() ? Point.ZERO : p.multiplyUnsafe(k);
    },
    // The casts only bridge the structural GroupPoint interface back to noble's nominal types.
    msm: (points, scalars) =>
      mulAddUnsafe(
        Point as unknown as Parameters<typeof mulAddUnsafe>[0],
        points as unknown as Parameters<typeof mulAddUnsafe>[1],
        scalars.map(mod)
      ) as unknown as GroupPoint,
    encodePoint: (p) => p.toBytes(),
    encodePoints: (ps) =>
      normalizeZ(
        Point as unknown as Parameters<typeof normalizeZ>[0],
        ps as unknown as Parameters<typeof normalizeZ>[1]
      ).map((p) => (p as unknown as GroupPoint).toBytes()),
    decodeOwn: (b) =>
      usesBackend && !secp256k1BackendIsNoble() ? decodeWithBackend(Point, b) : Point.fromBytes(b),
    decodePoint(b, what = 'point', opts = {}) {
      if (!(b instanceof Uint8Array) || b.length !== pointLength || !checkPrefix(b)) {
        throw new DecodeError('BadPoint', `${what}: expected ${pointLength}-byte ${name} point`);
      }
      let p: NoblePoint;
      try {
        p =
          usesBackend && !secp256k1BackendIsNoble()
            ? decodeWithBackend(Point, b)
            : Point.fromBytes(b);
        p.assertValidity();
      } catch {
        throw new DecodeError('BadPoint', `${what}: not a valid ${name} point`);
      }
      if (p.is0()) throw new DecodeError('BadPoint', `${what}: identity point`);
      if (opts.subgroup !== false && !p.isTorsionFree())
        throw new DecodeError('BadPoint', `${what}: not in the prime-order subgroup`);
      // Recompress and compare: one value, one encoding (rejects e.g. Ed25519 x=0 with sign bit).
      if (!ctEqual(p.toBytes(), b))
        throw new DecodeError('BadPoint', `${what}: non-canonical encoding`);
      return p;
    },
    encodeScalar: (s) => scalarToBytes(mod(s), scalarLE),
    encodeScalarInto(s, out, off) {
      if (off < 0 || off + 32 > out.length) throw new RangeError('encodeScalarInto: out of bounds');
      writeScalar(mod(s), new DataView(out.buffer, out.byteOffset, out.length), off, scalarLE);
    },
    decodeScalar(b, what = 'scalar', nonzero = false) {
      if (!(b instanceof Uint8Array) || b.length !== 32) {
        throw new DecodeError('BadScalar', `${what}: expected 32 bytes`);
      }
      const s = bytesToScalar(b, scalarLE);
      if (s >= q) throw new DecodeError('BadScalar', `${what}: not below the group order`);
      if (nonzero && s === 0n) throw new DecodeError('BadScalar', `${what}: zero`);
      return s;
    },
    randomScalar(rng) {
      for (;;) {
        const s = bytesToNumberBE(rng(48)) % q;
        if (s !== 0n) return s;
      }
    },
    mod,
    inv: (a) => Fn.inv(mod(a)),
  };
  return Object.freeze(group);
}

/**
 * A compressed point decoded by the installed backend to its uncompressed form, which noble reads
 * without a square root (public bytes only).
 */
function decodeWithBackend(Point: NoblePointCons, b: Uint8Array): NoblePoint {
  const out = new Uint8Array(UNCOMPRESSED);
  if (!secp256k1Backend().decode(b, out)) throw new Error('not a point');
  return Point.fromBytes(out);
}

/** secp256k1 with 33-byte compressed points. */
export const secp256k1Group: Group = makeGroup(
  'secp256k1',
  secp256k1.Point as unknown as NoblePointCons,
  33,
  (b) => b[0] === 0x02 || b[0] === 0x03,
  false,
  true
);

/** Ed25519 (edwards25519 prime-order subgroup) with 32-byte points. */
export const ed25519Group: Group = makeGroup(
  'ed25519',
  ed25519.Point as unknown as NoblePointCons,
  32,
  () => true,
  true,
  false
);

/** Group by curve name. */
export function groupOf(curve: CurveName): Group {
  return curve === 'secp256k1' ? secp256k1Group : ed25519Group;
}
