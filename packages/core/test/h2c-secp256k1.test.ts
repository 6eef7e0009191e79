/**
 * The fast secp256k1 hash-to-curve: RFC 9380 Appendix J.8.1 vectors (the two mapped points and
 * the sum), edge values of the map, and equality with `@noble/curves`' `hashToCurve` on random
 * messages and DSTs; the same for the batch path that takes its square roots from an installed
 * backend's point decoding (here noble's decoding behind another backend object, which selects
 * that path; @tessera/secp256k1-node runs it on libsecp256k1).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import {
  hashToCurveSecp256k1,
  hashToCurveSecp256k1Many,
  mapToCurveSecp256k1,
  mapToCurveSecp256k1Many,
} from '../src/math/h2c-secp256k1.ts';
import {
  nobleSecp256k1,
  type Secp256k1Backend,
  secp256k1BackendIsNoble,
  useSecp256k1Backend,
} from '../src/math/secp256k1-backend.ts';
import { hex, readVector, utf8 } from './helpers.ts';

interface XY {
  x: string;
  y: string;
}
interface H2cVectors {
  source: string;
  suite: string;
  dst: string;
  vectors: { msg: string; u0: string; u1: string; Q0: XY; Q1: XY; P: XY }[];
}

const Fp = secp256k1.Point.Fp;
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
type Point = InstanceType<typeof secp256k1.Point>;

function assertAffine(P: Point, want: XY, what: string): void {
  const { x, y } = P.toAffine();
  assert.equal(x.toString(16).padStart(64, '0'), want.x, `${what}.x`);
  assert.equal(y.toString(16).padStart(64, '0'), want.y, `${what}.y`);
}

describe('RFC 9380 Appendix J.8.1, secp256k1_XMD:SHA-256_SSWU_RO_', () => {
  const v = readVector<H2cVectors>('h2c-secp256k1.json');
  const dst = utf8(v.dst);

  test('the file holds the five vectors of the appendix for this suite', () => {
    assert.equal(v.suite, 'secp256k1_XMD:SHA-256_SSWU_RO_');
    assert.deepEqual(
      v.vectors.map((t) => t.msg.slice(0, 5)),
      ['', 'abc', 'abcde', 'q128_', 'a512_']
    );
  });

  for (const t of v.vectors) {
    test(`msg "${t.msg.slice(0, 16)}${t.msg.length > 16 ? '…' : ''}": Q0, Q1 from u0, u1 and P`, () => {
      assertAffine(mapToCurveSecp256k1(BigInt(`0x${t.u0}`)), t.Q0, 'Q0');
      assertAffine(mapToCurveSecp256k1(BigInt(`0x${t.u1}`)), t.Q1, 'Q1');
      const P = hashToCurveSecp256k1(utf8(t.msg), dst);
      assertAffine(P, t.P, 'P');
      assert.ok(P.equals(secp256k1_hasher.hashToCurve(utf8(t.msg), { DST: dst })));
    });
  }
});

/**
 * noble's `mapToCurve` for one field element (m = 1): it takes a bigint and returns a point after
 * clear_cofactor, although its `.d.ts` declares `bigint[]` in and an affine point out.
 */
const nobleMapToCurve = secp256k1_hasher.mapToCurve as unknown as (u: bigint) => Point;

describe('map_to_curve against noble at edge values of u', () => {
  // tv2 = Z²u⁴ + Zu² vanishes at u² = −1/Z = 1/11: the exceptional case of RFC 9380 §6.6.2.
  const r = Fp.sqrt(Fp.inv(11n));
  const edges = [0n, 1n, 2n, Fp.ORDER - 1n, Fp.ORDER - 2n, r, Fp.neg(r), 11n, Fp.neg(11n)];
  for (const u of edges) {
    test(`u = 0x${u.toString(16)}`, () => {
      const mine = mapToCurveSecp256k1(u);
      const ref = nobleMapToCurve(u);
      assert.ok(mine.equals(ref));
      assert.equal(hex(mine.toBytes()), hex(ref.toBytes()));
      mine.assertValidity();
    });
  }
});

describe('hashToCurveSecp256k1 equals noble secp256k1_hasher.hashToCurve', () => {
  test('10,000 random messages of 0–200 bytes under a few random DSTs (one longer than 255)', () => {
    const dsts = [rnd(1), rnd(17), rnd(48), rnd(255), rnd(300)];
    for (let i = 0; i < 10_000; i++) {
      const msg = rnd(randomInt(0, 201));
      const dst = dsts[i % dsts.length]!;
      const mine = hashToCurveSecp256k1(msg, dst);
      const ref = secp256k1_hasher.hashToCurve(msg, { DST: dst });
      assert.equal(hex(mine.toBytes()), hex(ref.toBytes()), `msg=${hex(msg)} dst=${hex(dst)}`);
      assert.ok(mine.equals(ref));
    }
  });
});

/** noble's own calls as a backend of its own, so that the batch path decodes. */
const decodingBackend: Secp256k1Backend = { ...nobleSecp256k1, name: 'noble (as a backend)' };

describe('the batch map, square roots from the backend’s point decoding', () => {
  const r = Fp.sqrt(Fp.inv(11n));
  const edges = [0n, 1n, 2n, Fp.ORDER - 1n, Fp.ORDER - 2n, r, Fp.neg(r), 11n, Fp.neg(11n)];
  const withBackend = <T>(f: () => T): T => {
    useSecp256k1Backend(decodingBackend);
    try {
      assert.equal(secp256k1BackendIsNoble(), false);
      return f();
    } finally {
      useSecp256k1Backend(nobleSecp256k1);
    }
  };

  test('edge values of u and 2,000 random u: the points of mapToCurveSecp256k1, affine', () => {
    const us = [
      ...edges,
      ...Array.from({ length: 2000 }, () => Fp.create(BigInt(`0x${hex(rnd(48))}`))),
    ];
    const got = withBackend(() => mapToCurveSecp256k1Many(us));
    assert.equal(got.length, us.length);
    us.forEach((u, i) => {
      const P = got[i] as Point;
      assert.equal(P.Z, 1n, 'affine');
      P.assertValidity();
      assert.equal(hex(P.toBytes()), hex(mapToCurveSecp256k1(u).toBytes()), `u = ${u}`);
      if (i < edges.length) assert.ok(P.equals(nobleMapToCurve(u)));
    });
  });

  test('RFC 9380 J.8.1 and 3,000 random messages: the points of noble’s hashToCurve', () => {
    const v = readVector<H2cVectors>('h2c-secp256k1.json');
    const dst = utf8(v.dst);
    const rfc = withBackend(() =>
      hashToCurveSecp256k1Many(
        v.vectors.map((t) => utf8(t.msg)),
        dst
      )
    );
    v.vectors.forEach((t, i) => {
      assertAffine(rfc[i] as Point, t.P, 'P');
    });
    const msgs = Array.from({ length: 3000 }, () => rnd(randomInt(0, 201)));
    const got = withBackend(() => hashToCurveSecp256k1Many(msgs, dst));
    msgs.forEach((m, i) => {
      assert.ok((got[i] as Point).equals(secp256k1_hasher.hashToCurve(m, { DST: dst })));
    });
  });
});
