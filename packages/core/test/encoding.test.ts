/** Transcript encoding, tag registry, and strict decoders (docs/security.md ). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeEnvelope, type Envelope, encodeEnvelope } from '@tessera/core';
import fc from 'fast-check';
import { decodeFields, decodeList } from '../src/codec.ts';
import { DecodeError } from '../src/errors.ts';
import { ed25519Group, secp256k1Group } from '../src/group.ts';
import { nobleSecp256k1, useSecp256k1Backend } from '../src/math/secp256k1-backend.ts';
import { paddedLength, Sha256Blocks, stateToBytes, writePadding } from '../src/sha256blocks.ts';
import {
  commit,
  enc,
  H256,
  hashToScalar,
  list,
  PrefixedHash,
  TAGS,
  XOF,
} from '../src/transcript.ts';
import { hex, unhex, utf8 } from './helpers.ts';

describe('transcript encoding', () => {
  test('all registered tags are pairwise distinct', () => {
    const tags = Object.values(TAGS);
    assert.equal(new Set(tags).size, tags.length);
  });

  test('enc() is unambiguous: shifted boundaries, empty vs absent fields and nesting all differ', () => {
    const pairs: [Uint8Array, Uint8Array][] = [
      [enc(utf8('ab'), utf8('c')), enc(utf8('a'), utf8('bc'))],
      [enc(unhex('0102'), unhex('00')), enc(unhex('01'), unhex('0200'))],
      [enc(utf8('a'), new Uint8Array(0)), enc(utf8('a'))],
      [enc(enc(utf8('a'), utf8('b'))), enc(utf8('a'), utf8('b'))],
      [list([unhex('aa'), unhex('bb')]), enc(unhex('aa'), unhex('bb'))],
    ];
    for (const [x, y] of pairs) assert.notEqual(hex(x), hex(y));
  });

  test('known answers: enc, H256, XOF and HashToScalar are frozen', () => {
    assert.equal(hex(enc(utf8('ab'), new Uint8Array(0))), '000000026162' + '00000000');
    // H256 is SHA-256(enc(DS, tag, fields…)): recompute it independently with node:crypto.
    const manual = createHash('sha256')
      .update(enc(utf8('tessera/v1'), utf8('dkg/sid'), utf8('x')))
      .digest('hex');
    assert.equal(hex(H256('dkg/sid', utf8('x'))), manual);
    const frozen = {
      h256: hex(H256('dkg/sid', utf8('x'))),
      xof: hex(XOF('ote/prg', [utf8('seed')], 80)),
      h2s: hashToScalar('rvole/theta', [utf8('x')], secp256k1Group.order).toString(16),
      com: hex(
        commit('dkg/commit', new Uint8Array(32), 3, [utf8('payload')], new Uint8Array(32).fill(1))
      ),
    };
    assert.deepEqual(frozen, {
      h256: '5df2b0b8d248f5f9c718514c47fb56ba90750dfa3338f6c42b92384944e49583',
      xof: '83947767bbce5bb2e24bb7e7d24ec93e0db630af79cf0b089d3b5bdc29ffc689afaf6a38d5540b99c718d16becfed290b399a55a0909a910e16ba9ffd3e4d4d31288e392d9a48735bb74fc8d408a8d8b',
      h2s: '167b88794b7ca5a7f6a5f1bb290a1663cec4f4fbdf1ddd413a54b1a165a016f5',
      com: '0bf04def866c39c17fc3732dca65474bd4f81a4ef6226943e63b76327a630b03',
    });
  });

  test('Sha256Blocks with our padding equals SHA-256 (OpenSSL), whatever the length and split', () => {
    const engine = new Sha256Blocks();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 4 }), (msg, wholeBlocks) => {
        // The first `cut` bytes go through compress() as whole blocks (a kept prefix state),
        // the rest is padded by writePadding: both ways the caller splits a message.
        const cut = Math.min(wholeBlocks * 64, msg.length - (msg.length % 64));
        const state = Sha256Blocks.IV.slice();
        const head = new DataView(msg.buffer, msg.byteOffset);
        engine.compressAll(state, head, cut, state);
        const rest = msg.length - cut;
        const buf = new Uint8Array(paddedLength(rest));
        buf.set(msg.subarray(cut));
        const view = new DataView(buf.buffer);
        const end = writePadding(buf, view, rest, msg.length);
        assert.equal(end, buf.length);
        engine.compressAll(state, view, end, state);
        const out = new Uint8Array(32);
        stateToBytes(state, new DataView(out.buffer), 0);
        assert.equal(hex(out), createHash('sha256').update(msg).digest('hex'));
      }),
      { numRuns: 500 }
    );
    engine.wipe();
  });

  test('PrefixedHash gives the same bytes as H256, XOF and HashToScalar', () => {
    const bytes = fc.uint8Array({ maxLength: 150 });
    fc.assert(
      fc.property(
        fc.array(bytes, { maxLength: 3 }),
        fc.array(bytes, { maxLength: 4 }),
        fc.integer({ min: 1, max: 200 }),
        (fixed, rest, len) => {
          // Also with the first field's length absorbed up front (it must then always match).
          const hs = [new PrefixedHash('ote/out', fixed)];
          if (rest[0]) hs.push(new PrefixedHash('ote/out', fixed, rest[0].length));
          for (const h of hs) {
            // Twice each: the kept prefix state must not be disturbed by a previous call.
            for (let k = 0; k < 2; k++) {
              assert.equal(hex(h.digest(rest)), hex(H256('ote/out', ...fixed, ...rest)));
              assert.equal(hex(h.xof(rest, len)), hex(XOF('ote/out', [...fixed, ...rest], len)));
              for (const q of [secp256k1Group.order, ed25519Group.order])
                assert.equal(
                  h.wideScalar(rest) % q,
                  hashToScalar('ote/out', [...fixed, ...rest], q)
                );
            }
            h.destroy();
          }
          if (rest[0]) {
            const h = new PrefixedHash('ote/out', fixed, rest[0].length + 1);
            assert.throws(() => h.digest(rest), /first field/);
          }
        }
      ),
      { numRuns: 200 }
    );
  });

  test('one PrefixedHash over a sequence of messages of changing lengths matches H256 each time', () => {
    // The padding kept from the previous call must be rewritten whenever the length changes
    // (shorter, longer, past the buffer) and may be reused only when it does not.
    const bytes = fc.uint8Array({ maxLength: 200 });
    fc.assert(
      fc.property(
        fc.array(bytes, { maxLength: 2 }),
        fc.array(fc.array(bytes, { maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        (fixed, calls) => {
          const h = new PrefixedHash('ote/out', fixed);
          for (const rest of calls) {
            assert.equal(hex(h.digest(rest)), hex(H256('ote/out', ...fixed, ...rest)));
            assert.equal(
              h.wideScalar(rest) % secp256k1Group.order,
              hashToScalar('ote/out', [...fixed, ...rest], secp256k1Group.order)
            );
          }
          h.destroy();
        }
      ),
      { numRuns: 300 }
    );
  });

  test('scalar codecs match noble byte for byte (big-endian secp256k1, little-endian Ed25519)', () => {
    for (const [g, Fn] of [
      [secp256k1Group, secp256k1.Point.Fn],
      [ed25519Group, ed25519.Point.Fn],
    ] as const) {
      const edges = [0n, 1n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 192n + 5n, g.order - 1n];
      const random = fc.sample(fc.bigInt({ min: 0n, max: g.order - 1n }), 300);
      for (const x of [...edges, ...random]) {
        const b = g.encodeScalar(x);
        assert.equal(hex(b), hex(Fn.toBytes(x)));
        assert.equal(g.decodeScalar(b), x);
      }
    }
  });

  test('different tags, sids or party ids give different commitments', () => {
    const salt = new Uint8Array(32);
    const base = hex(commit('dkg/commit', new Uint8Array(32), 1, [utf8('p')], salt));
    assert.notEqual(base, hex(commit('rs/commit', new Uint8Array(32), 1, [utf8('p')], salt)));
    assert.notEqual(
      base,
      hex(commit('dkg/commit', new Uint8Array(32).fill(1), 1, [utf8('p')], salt))
    );
    assert.notEqual(base, hex(commit('dkg/commit', new Uint8Array(32), 2, [utf8('p')], salt)));
  });

  test('decodeFields rejects wrong counts, truncation and trailing bytes', () => {
    const body = enc(utf8('a'), utf8('b'));
    assert.deepEqual(
      decodeFields(body, 2).map((f) => hex(f)),
      ['61', '62']
    );
    assert.throws(() => decodeFields(body, 1), DecodeError);
    assert.throws(() => decodeFields(body, 3), DecodeError);
    assert.throws(() => decodeFields(body.subarray(0, body.length - 1), 2), DecodeError);
    assert.throws(() => decodeFields(new Uint8Array([...body, 0]), 2), DecodeError);
    assert.throws(() => decodeList(list([unhex('aa'), unhex('bb')]), 1, 3, 'x'), DecodeError);
  });
});

describe('secp256k1 decoders reject every non-canonical or invalid encoding', () => {
  const g = secp256k1Group;
  const P = secp256k1.Point.BASE.multiply(12345n);
  const good = P.toBytes(true);
  const cases: [string, Uint8Array][] = [
    ['the uncompressed 0x04 form', P.toBytes(false)],
    ['a hybrid 0x06 prefix', Uint8Array.from([0x06, ...good.subarray(1)])],
    ['an unknown 0x05 prefix', Uint8Array.from([0x05, ...good.subarray(1)])],
    ['x ≥ p', Uint8Array.from([0x02, ...new Uint8Array(32).fill(0xff)])],
    ['x with no point on the curve (x = 5)', Uint8Array.from([0x02, ...new Uint8Array(31), 5])],
    ['33 zero bytes (no encoding of the identity)', new Uint8Array(33)],
    ['a 32-byte string', good.subarray(1)],
    ['a 34-byte string', Uint8Array.from([...good, 0])],
  ];
  for (const [what, bytes] of cases) {
    test(`decodePoint rejects ${what}`, () =>
      assert.throws(() => g.decodePoint(bytes), DecodeError));
  }
  test('decodePoint accepts a valid compressed point and re-encodes it identically', () => {
    assert.equal(hex(g.encodePoint(g.decodePoint(good))), hex(good));
  });
  test('decodeScalar rejects q, values above q, zero where nonzero is required, and wrong lengths', () => {
    const q = g.order;
    const be = (n: bigint) => unhex(n.toString(16).padStart(64, '0'));
    assert.throws(() => g.decodeScalar(be(q)), DecodeError);
    assert.throws(() => g.decodeScalar(be(q + 1n)), DecodeError);
    assert.throws(() => g.decodeScalar(new Uint8Array(32).fill(0xff)), DecodeError);
    assert.throws(() => g.decodeScalar(new Uint8Array(32), 's', true), DecodeError);
    assert.throws(() => g.decodeScalar(new Uint8Array(31)), DecodeError);
    assert.equal(g.decodeScalar(be(q - 1n)), q - 1n);
    assert.equal(g.decodeScalar(new Uint8Array(32)), 0n);
  });
});

describe('Ed25519 decoders reject small-order, mixed-order and non-canonical points', () => {
  const g = ed25519Group;
  for (const [k, t] of ED25519_TORSION_SUBGROUP.entries()) {
    test(`decodePoint rejects small-order point #${k} (${t.slice(0, 8)}…)`, () =>
      assert.throws(() => g.decodePoint(unhex(t)), DecodeError));
  }
  test('decodePoint rejects a mixed-order point (valid point plus a torsion point)', () => {
    const T = ed25519.Point.fromBytes(unhex(ED25519_TORSION_SUBGROUP[1] as string));
    const mixed = ed25519.Point.BASE.multiply(99n).add(T).toBytes();
    assert.throws(() => g.decodePoint(mixed), /prime-order subgroup/);
  });
  test('decodePoint rejects y ≥ p and x = 0 with the sign bit set', () => {
    const yTooBig = new Uint8Array(32).fill(0xff);
    yTooBig[31] = 0x7f;
    assert.throws(() => g.decodePoint(yTooBig), DecodeError);
    const negZero = new Uint8Array(32);
    negZero[0] = 1; // y = 1 (x = 0): the identity, here with the sign bit set
    negZero[31] = 0x80;
    assert.throws(() => g.decodePoint(negZero), DecodeError);
  });
  test('decodeScalar rejects ℓ and above (little-endian)', () => {
    const le = (n: bigint) => unhex(n.toString(16).padStart(64, '0')).reverse();
    assert.throws(() => g.decodeScalar(le(g.order)), DecodeError);
    assert.equal(g.decodeScalar(le(g.order - 1n)), g.order - 1n);
  });
  test('decodePoint accepts a prime-order point', () => {
    const b = ed25519.Point.BASE.multiply(7n).toBytes();
    assert.equal(hex(g.encodePoint(g.decodePoint(b))), hex(b));
  });
});

describe('envelope wire format', () => {
  const env: Envelope = {
    v: 1,
    proto: 'frost.sign',
    sid: 'ab'.repeat(32),
    round: 2,
    from: 3,
    to: 0,
    body: utf8('body'),
  };
  test('encodes and decodes losslessly', () => {
    assert.deepEqual(decodeEnvelope(encodeEnvelope(env)), env);
  });
  test('rejects a bad version, a short sid, party ids out of range and truncation', () => {
    const bad = (e: Partial<Envelope> & Record<string, unknown>) =>
      encodeEnvelope({ ...env, ...e } as Envelope);
    assert.throws(() => decodeEnvelope(bad({ v: 2 as 1 })), DecodeError);
    assert.throws(() => decodeEnvelope(bad({ from: 0 })), DecodeError);
    assert.throws(() => decodeEnvelope(bad({ from: 256 })), DecodeError);
    assert.throws(() => decodeEnvelope(bad({ round: 0 })), DecodeError);
    const b = encodeEnvelope(env);
    assert.throws(() => decodeEnvelope(b.subarray(0, b.length - 1)), DecodeError);
    assert.throws(
      () => decodeEnvelope(enc(unhex('00000001'), utf8('dkg'), new Uint8Array(31))),
      DecodeError
    );
  });
});

describe('mulSecret (s·P, s secret) and basePublic (s·G, s public)', () => {
  const scalar = (q: bigint) => fc.bigInt({ min: 0n, max: q - 1n });
  for (const g of [secp256k1Group, ed25519Group]) {
    test(`${g.name}: equals noble's multiply, 0·P = s·O = O`, () => {
      fc.assert(
        fc.property(scalar(g.order), scalar(g.order), (a, s) => {
          const P = g.base(a);
          const got = g.mulSecret(P, s);
          assert.ok(got.equals(s === 0n || a === 0n ? g.O : P.multiply(s)));
        }),
        { numRuns: 50 }
      );
      assert.ok(g.mulSecret(g.G, 0n).is0());
      assert.ok(g.mulSecret(g.O, 5n).is0());
      for (const s of [0n, 1n, 2n, g.order - 1n, 0xdeadbeefn])
        assert.ok(g.basePublic(s).equals(g.base(s)), `basePublic(${s})`);
    });
  }
  test('secp256k1 through an installed backend (noble behind another backend object)', () => {
    useSecp256k1Backend({ ...nobleSecp256k1, name: 'noble (as a backend)' });
    try {
      fc.assert(
        fc.property(scalar(secp256k1Group.order), scalar(secp256k1Group.order), (a, s) => {
          const P = secp256k1Group.base(a);
          const want = s === 0n || a === 0n ? secp256k1Group.O : P.multiply(s);
          assert.ok(secp256k1Group.mulSecret(P, s).equals(want));
          assert.ok(secp256k1Group.basePublic(s).equals(secp256k1Group.G.multiplyUnsafe(s)));
        }),
        { numRuns: 50 }
      );
    } finally {
      useSecp256k1Backend(nobleSecp256k1);
    }
  });
});
