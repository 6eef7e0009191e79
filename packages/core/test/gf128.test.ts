/** GF(2^128) multiplication (docs/protocols/ecdsa.md, SoftSpokenOT): reference `gfmul` and fast paths. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ghash } from '@noble/ciphers/_polyval.js';
import { GF_ROW_BYTES, GfMultiplier, gfDot4, gfmul } from '../src/ot/gf128.ts';
import { hex } from './helpers.ts';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

/** A 16-byte element with the single bit `x^k` set (bit order of docs/protocols/common.md). */
function xPow(k: number): Uint8Array {
  const e = new Uint8Array(16);
  e[k >> 3] = 1 << (k & 7);
  return e;
}

const ZERO = new Uint8Array(16);
const ONE = xPow(0);
const ALL_ONES = new Uint8Array(16).fill(0xff);

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((v, i) => v ^ (b[i] as number));
}

/** Reverses the bit order inside each byte (GHASH's order against ours). */
function rev(a: Uint8Array): Uint8Array {
  return a.map((v) => {
    let r = 0;
    for (let i = 0; i < 8; i++) r |= ((v >> i) & 1) << (7 - i);
    return r;
  });
}

/** `gfmul` through `@noble/ciphers` GHASH: rev(GHASH with key rev(b) of the one block rev(a)). */
function gfmulViaGhash(a: Uint8Array, b: Uint8Array): Uint8Array {
  return rev(ghash(rev(a), rev(b)));
}

const EDGE: readonly Uint8Array[] = [
  ZERO,
  ONE,
  xPow(1),
  xPow(7),
  xPow(8),
  xPow(31),
  xPow(32),
  xPow(63),
  xPow(64),
  xPow(121),
  xPow(127),
  ALL_ONES,
  Uint8Array.of(0x87, ...new Uint8Array(15)),
];

describe('gfmul (reference)', () => {
  test('matches @noble/ciphers GHASH through per-byte bit reversal on all edge-case pairs', () => {
    for (const a of EDGE)
      for (const b of EDGE)
        assert.equal(hex(gfmul(a, b)), hex(gfmulViaGhash(a, b)), `a=${hex(a)} b=${hex(b)}`);
  });

  test('matches @noble/ciphers GHASH through per-byte bit reversal on 2,000 random pairs', () => {
    for (let i = 0; i < 2000; i++) {
      const a = rnd(16);
      const b = rnd(16);
      assert.equal(hex(gfmul(a, b)), hex(gfmulViaGhash(a, b)), `a=${hex(a)} b=${hex(b)}`);
    }
  });

  test('known answers: x^127·x = x^7+x^2+x+1 (0x87 then zeros), x^64·x^64 = 0x87, x^127·x^127', () => {
    assert.equal(hex(gfmul(xPow(127), xPow(1))), `87${'00'.repeat(15)}`);
    assert.equal(hex(gfmul(xPow(1), xPow(127))), `87${'00'.repeat(15)}`);
    assert.equal(hex(gfmul(xPow(64), xPow(64))), `87${'00'.repeat(15)}`);
    // x^254 = x^126·x^128 = x^126·(x^7+x^2+x+1) = x^133+x^128+x^127+x^126
    //       = x^5·(x^7+x^2+x+1) + (x^7+x^2+x+1) + x^127 + x^126
    //       = x^12+x^7+x^6+x^5 + x^7+x^2+x+1 + x^127+x^126 = x^127+x^126+x^12+x^6+x^5+x^2+x+1
    const expected = new Uint8Array(16);
    for (const k of [127, 126, 12, 6, 5, 2, 1, 0]) expected[k >> 3]! |= 1 << (k & 7);
    assert.equal(hex(gfmul(xPow(127), xPow(127))), hex(expected));
    // x^i · x^j = x^(i+j) without reduction while i + j < 128.
    for (const [i, j] of [
      [0, 0],
      [3, 4],
      [31, 1],
      [32, 95],
      [100, 27],
    ] as const)
      assert.equal(hex(gfmul(xPow(i), xPow(j))), hex(xPow(i + j)), `x^${i}·x^${j}`);
  });

  test('a·1 = a and a·0 = 0 for random a and the edge cases', () => {
    for (const a of [...EDGE, ...Array.from({ length: 200 }, () => rnd(16))]) {
      assert.equal(hex(gfmul(a, ONE)), hex(a));
      assert.equal(hex(gfmul(ONE, a)), hex(a));
      assert.equal(hex(gfmul(a, ZERO)), hex(ZERO));
    }
  });

  test('commutative, associative and distributive over XOR on 300 random triples', () => {
    for (let i = 0; i < 300; i++) {
      const a = rnd(16);
      const b = rnd(16);
      const c = rnd(16);
      assert.equal(hex(gfmul(a, b)), hex(gfmul(b, a)), 'a·b = b·a');
      assert.equal(hex(gfmul(gfmul(a, b), c)), hex(gfmul(a, gfmul(b, c))), '(a·b)·c = a·(b·c)');
      assert.equal(
        hex(gfmul(a, xor(b, c))),
        hex(xor(gfmul(a, b), gfmul(a, c))),
        'a·(b⊕c) = a·b ⊕ a·c'
      );
    }
  });

  test('a^(2^128) = a (128 squarings) and a^(2^128 - 1) = 1 for nonzero a', () => {
    for (const a0 of [
      ONE,
      xPow(1),
      xPow(127),
      ALL_ONES,
      ...Array.from({ length: 30 }, () => rnd(16)),
    ]) {
      // a^(2^128 - 1) = Π_{i<128} a^(2^i), collected while squaring.
      let a: Uint8Array = a0;
      let prod: Uint8Array = ONE;
      for (let i = 0; i < 128; i++) {
        prod = gfmul(prod, a);
        a = gfmul(a, a);
      }
      assert.equal(hex(a), hex(a0), `a^(2^128) = a for a=${hex(a0)}`);
      if (a0.some((v) => v !== 0))
        assert.equal(hex(prod), hex(ONE), `a^(2^128-1) = 1, a=${hex(a0)}`);
    }
    let z: Uint8Array = ZERO;
    for (let i = 0; i < 128; i++) z = gfmul(z, z);
    assert.equal(hex(z), hex(ZERO));
  });

  test('returns a fresh array and leaves its inputs unchanged', () => {
    const a = rnd(16);
    const b = rnd(16);
    const [a0, b0] = [hex(a), hex(b)];
    const p = gfmul(a, b);
    assert.notEqual(p, a);
    assert.notEqual(p, b);
    assert.equal(p.length, 16);
    assert.equal(hex(a), a0);
    assert.equal(hex(b), b0);
  });

  test('throws RangeError unless both inputs are exactly 16 bytes', () => {
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array(15),
      new Uint8Array(17),
      new Uint8Array(32),
    ]) {
      assert.throws(() => gfmul(bad, ONE), RangeError);
      assert.throws(() => gfmul(ONE, bad), RangeError);
    }
  });
});

describe('GfMultiplier (fixed factor)', () => {
  test('mul equals gfmul on 2,000 random pairs at random offsets, and on edge cases', () => {
    for (const h of EDGE) {
      const m = new GfMultiplier(h);
      for (const x of EDGE)
        assert.equal(hex(m.mul(x)), hex(gfmul(h, x)), `h=${hex(h)} x=${hex(x)}`);
    }
    for (let i = 0; i < 2000; i++) {
      const h = rnd(16);
      const off = i % 37;
      const buf = rnd(off + 16 + (i % 5));
      const x = buf.slice(off, off + 16);
      assert.equal(
        hex(new GfMultiplier(h).mul(buf, off)),
        hex(gfmul(h, x)),
        `h=${hex(h)} x=${hex(x)}`
      );
    }
  });

  test('mulXorInto XORs h·x into the accumulator range and touches nothing else', () => {
    const m0 = rnd(16);
    const m = new GfMultiplier(m0);
    for (let i = 0; i < 500; i++) {
      const xOff = (i * 7) % 41;
      const accOff = (i * 11) % 29;
      const xBuf = rnd(xOff + 16 + 3);
      const acc = rnd(accOff + 16 + 5);
      const before = acc.slice();
      m.mulXorInto(xBuf, xOff, acc, accOff);
      const want = xor(before.slice(accOff, accOff + 16), gfmul(m0, xBuf.slice(xOff, xOff + 16)));
      assert.equal(hex(acc.subarray(accOff, accOff + 16)), hex(want));
      assert.equal(hex(acc.subarray(0, accOff)), hex(before.subarray(0, accOff)));
      assert.equal(hex(acc.subarray(accOff + 16)), hex(before.subarray(accOff + 16)));
    }
  });

  test('mulXorInto with acc and x the same range gives x ⊕ h·x', () => {
    const h = rnd(16);
    const buf = rnd(40);
    const x = buf.slice(9, 25);
    new GfMultiplier(h).mulXorInto(buf, 9, buf, 9);
    assert.equal(hex(buf.subarray(9, 25)), hex(xor(x, gfmul(h, x))));
  });

  test('copies h: changing h after construction does not change the products', () => {
    const h = rnd(16);
    const h0 = h.slice();
    const m = new GfMultiplier(h);
    h.fill(0);
    const x = rnd(16);
    assert.equal(hex(m.mul(x)), hex(gfmul(h0, x)));
  });

  test('throws RangeError on a wrong-size h and on ranges outside the buffers', () => {
    assert.throws(() => new GfMultiplier(new Uint8Array(15)), RangeError);
    assert.throws(() => new GfMultiplier(new Uint8Array(17)), RangeError);
    const m = new GfMultiplier(rnd(16));
    const buf = new Uint8Array(20);
    const acc = new Uint8Array(16);
    for (const off of [-1, 5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => m.mul(buf, off), RangeError, `x offset ${off}`);
      assert.throws(() => m.mulXorInto(buf, 0, acc, off === 5 ? 1 : off), RangeError, `acc ${off}`);
    }
    assert.doesNotThrow(() => m.mul(buf, 4));
    assert.throws(() => m.mul(new Uint8Array(15)), RangeError);
  });
});

describe('gfDot4 (SoftSpokenOT check row)', () => {
  const refDot4 = (w: readonly Uint8Array[], z: Uint8Array): Uint8Array => {
    let t: Uint8Array = z.slice(64, 80);
    for (let j = 0; j < 4; j++) t = xor(t, gfmul(w[j] as Uint8Array, z.slice(16 * j, 16 * j + 16)));
    return t;
  };
  const mk = (w: readonly Uint8Array[]) =>
    w.map((h) => new GfMultiplier(h)) as unknown as [
      GfMultiplier,
      GfMultiplier,
      GfMultiplier,
      GfMultiplier,
    ];

  test('equals ω_0·Z[0] ⊕ … ⊕ ω_3·Z[3] ⊕ Z[4] by gfmul for 256-row buffers at odd offsets', () => {
    for (let s = 0; s < 12; s++) {
      const w = Array.from({ length: 4 }, () => rnd(16));
      const mults = mk(w);
      const base = (s * 13) % 23;
      const rows = rnd(base + 256 * GF_ROW_BYTES + 7);
      const outBase = (s * 5) % 17;
      const out = rnd(outBase + 256 * 16 + 3);
      const outBefore = out.slice();
      for (let r = 0; r < 256; r++)
        gfDot4(mults, rows, base + r * GF_ROW_BYTES, out, outBase + 16 * r);
      for (let r = 0; r < 256; r++) {
        const z = rows.slice(base + r * GF_ROW_BYTES, base + (r + 1) * GF_ROW_BYTES);
        assert.equal(
          hex(out.subarray(outBase + 16 * r, outBase + 16 * r + 16)),
          hex(refDot4(w, z))
        );
      }
      assert.equal(hex(out.subarray(0, outBase)), hex(outBefore.subarray(0, outBase)));
      assert.equal(hex(out.subarray(outBase + 4096)), hex(outBefore.subarray(outBase + 4096)));
    }
  });

  test('edge cases: zero and all-ones rows and factors, single-bit rows, identical factors', () => {
    const factors = [
      [ZERO, ZERO, ZERO, ZERO],
      [ONE, ONE, ONE, ONE],
      [ALL_ONES, ALL_ONES, ALL_ONES, ALL_ONES],
      [xPow(127), xPow(1), ONE, ALL_ONES],
      [rnd(16), rnd(16), rnd(16), rnd(16)],
    ];
    const rows: Uint8Array[] = [new Uint8Array(80), new Uint8Array(80).fill(0xff)];
    for (const k of [0, 1, 31, 32, 127, 128, 255, 383, 384, 511, 512, 639]) {
      const z = new Uint8Array(80);
      z[k >> 3] = 1 << (k & 7);
      rows.push(z);
    }
    const out = new Uint8Array(16);
    for (const w of factors)
      for (const z of rows) {
        gfDot4(mk(w), z, 0, out, 0);
        assert.equal(hex(out), hex(refDot4(w, z)), `ω=${w.map(hex)} Z=${hex(z)}`);
      }
  });

  test('output may overlap its own row (the row is read before the output is written)', () => {
    const w = Array.from({ length: 4 }, () => rnd(16));
    for (const outOff of [0, 16, 64, 70]) {
      const buf = rnd(100);
      const z = buf.slice(3, 83);
      gfDot4(mk(w), buf, 3, buf, outOff);
      assert.equal(hex(buf.subarray(outOff, outOff + 16)), hex(refDot4(w, z)));
    }
  });

  test('throws RangeError when the 80-byte row or 16-byte output is outside its buffer', () => {
    const mults = mk([rnd(16), rnd(16), rnd(16), rnd(16)]);
    const row = new Uint8Array(100);
    const out = new Uint8Array(20);
    assert.doesNotThrow(() => gfDot4(mults, row, 20, out, 4));
    for (const off of [-1, 21, 0.5, Number.NaN])
      assert.throws(() => gfDot4(mults, row, off, out, 0), RangeError);
    for (const off of [-1, 5, 0.5, Number.NaN])
      assert.throws(() => gfDot4(mults, row, 0, out, off), RangeError);
    assert.throws(() => gfDot4(mults, new Uint8Array(79), 0, out, 0), RangeError);
  });
});
