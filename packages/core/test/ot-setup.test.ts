/**
 * Pairwise OT setup: base OT and all-but-one OT / PPRF (docs/protocols/ecdsa.md, "Pairwise
 * setup"), their property tests, and the base-OT attacks of docs/security.md.
 *
 * One directed-pair setup costs seconds, so `before()` runs one full setup (plus one extra
 * receiver message and one extra sender response) and the tests share them.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { u32be } from '../src/bytes.ts';
import { CheckFailed, DecodeError } from '../src/errors.ts';
import { secp256k1Group as g } from '../src/group.ts';
import {
  type BaseOtReceiverState,
  baseOtReceiverFinish,
  baseOtReceiverStart,
  baseOtSenderRespond,
  baseOtSid,
} from '../src/ot/baseOt.ts';
import { otSetupId, pprfReceiverRecover, pprfSenderExpand } from '../src/ot/pprf.ts';
import { SEEDS_BYTES, seedOffset } from '../src/ot/setup.ts';
import { enc, H256, list, XOF } from '../src/transcript.ts';
import { hex, seededRng, unhex, utf8 } from './helpers.ts';

const COUNT = 256;
const PAIR = 66;
const bitAt = (bits: Uint8Array, k: number): number => ((bits[k >> 3] as number) >> (k & 7)) & 1;
const slot = (msg: Uint8Array, k: number, j: number): Uint8Array =>
  msg.subarray(4 + k * PAIR + j * 33, 4 + k * PAIR + (j + 1) * 33);
const key = (buf: Uint8Array, i: number): Uint8Array => buf.subarray(i * 32, (i + 1) * 32);
const flipBit = (b: Uint8Array, byte: number, bit = 0): Uint8Array => {
  const out = b.slice();
  out[byte] = (out[byte] as number) ^ (1 << bit);
  return out;
};
const withSlot = (msg: Uint8Array, k: number, j: number, bytes: Uint8Array): Uint8Array => {
  const out = msg.slice();
  out.set(bytes, 4 + k * PAIR + j * 33);
  return out;
};
/** `HashToCurve` of docs/protocols/common.md, written here from the text (not imported) to check the wiring. */
const specHc = (sid: Uint8Array, k: number, j: number, P: Uint8Array) =>
  secp256k1_hasher.hashToCurve(enc(sid, u32be(k), u32be(j), P), {
    DST: utf8('tessera/v1/ot/base/h2c'),
  });
/** An RNG whose first draw is `first` and whose later draws come from `rest`. */
const rngWithFirst = (first: Uint8Array, rest: (n: number) => Uint8Array) => {
  let used = false;
  return (n: number) => {
    if (!used) {
      used = true;
      assert.equal(n, first.length);
      return first.slice();
    }
    return rest(n);
  };
};

/** One complete directed-pair setup, shared by the tests. */
let sid: Uint8Array;
let msg1: Uint8Array;
let state: BaseOtReceiverState;
let msg2: Uint8Array;
let senderKeys: Uint8Array;
let chosenKeys: Uint8Array;
let pprf: { msg: Uint8Array; seeds: Uint8Array };
let recovered: { delta: Uint8Array; seeds: Uint8Array };
/** Second receiver message: same randomness after the choice bits, other sid, fixed choices. */
let sid2: Uint8Array;
let msg1b: Uint8Array;
let choicesB: Uint8Array;

before(() => {
  sid = baseOtSid(seededRng('ot-setup sid')(32), 1, 2);
  ({ msg1, state } = baseOtReceiverStart(sid, seededRng('ot-setup receiver')));
  ({ msg2, keys: senderKeys } = baseOtSenderRespond(sid, msg1, seededRng('ot-setup sender')));
  chosenKeys = baseOtReceiverFinish(sid, state, msg2);
  pprf = pprfSenderExpand(sid, senderKeys);
  recovered = pprfReceiverRecover(sid, state.choices, chosenKeys, pprf.msg);

  // c = 0 for OTs 0..127 and c = 1 for 128..255. The receiver rng's first draw (its choice bits)
  // is replaced and the rest is the same stream, so m_k and γ_k equal those of the main run.
  sid2 = baseOtSid(seededRng('ot-setup sid')(32), 2, 1);
  choicesB = new Uint8Array(32);
  choicesB.fill(0xff, 16);
  const rest = seededRng('ot-setup receiver');
  rest(32);
  ({ msg1: msg1b } = baseOtReceiverStart(sid2, rngWithFirst(choicesB, rest)));
});

describe('hash-to-curve wiring', () => {
  test('noble hashToCurve with the RFC DST reproduces RFC 9380 J.8.1 (secp256k1_XMD:SHA-256_SSWU_RO_)', () => {
    const DST = utf8('QUUX-V01-CS02-with-secp256k1_XMD:SHA-256_SSWU_RO_');
    // P.x, P.y from RFC 9380 Appendix J.8.1.
    const vectors: [string, string, string][] = [
      [
        '',
        'c1cae290e291aee617ebaef1be6d73861479c48b841eaba9b7b5852ddfeb1346',
        '64fa678e07ae116126f08b022a94af6de15985c996c3a91b64c406a960e51067',
      ],
      [
        'abc',
        '3377e01eab42db296b512293120c6cee72b6ecf9f9205760bd9ff11fb3cb2c4b',
        '7f95890f33efebd1044d382a01b1bee0900fb6116f94688d487c6c7b9c8371f6',
      ],
      [
        'abcdef0123456789',
        'bac54083f293f1fe08e4a70137260aa90783a5cb84d3f35848b324d0674b0e3a',
        '4436476085d4c3c4508b60fcf4389c40176adce756b398bdee27bca19758d828',
      ],
    ];
    for (const [msg, x, y] of vectors) {
      const P = secp256k1_hasher.hashToCurve(utf8(msg), { DST }).toAffine();
      assert.equal(P.x.toString(16).padStart(64, '0'), x, `P.x for "${msg}"`);
      assert.equal(P.y.toString(16).padStart(64, '0'), y, `P.y for "${msg}"`);
    }
  });

  test('P^c = m_k·G − Hc(k, c, P^{1−c}) with Hc = hashToCurve(enc(sidOT, k, c, P), DST "tessera/v1/ot/base/h2c")', () => {
    for (let k = 0; k < COUNT; k++) {
      const c = bitAt(state.choices, k);
      const H = specHc(sid, k, c, slot(msg1, k, 1 - c));
      const Pc = secp256k1.Point.fromBytes(slot(msg1, k, c));
      assert.ok(Pc.add(H).equals(g.base(state.m[k] as bigint) as typeof Pc), `OT ${k}`);
    }
  });
});

describe('base OT', () => {
  test('baseOtSid is H256("ot/base/sid", sid_dkg, u32be(a), u32be(b)) and depends on the direction', () => {
    const sidDkg = unhex('11'.repeat(32));
    assert.equal(
      hex(baseOtSid(sidDkg, 3, 5)),
      hex(H256('ot/base/sid', sidDkg, u32be(3), u32be(5)))
    );
    assert.notEqual(hex(baseOtSid(sidDkg, 3, 5)), hex(baseOtSid(sidDkg, 5, 3)));
  });

  test('messages are list(pair) fields: u32be(256) then 256 × (33-byte ‖ 33-byte) compressed points', () => {
    for (const m of [msg1, msg2]) {
      assert.equal(m.length, 4 + COUNT * PAIR);
      assert.equal(hex(m.subarray(0, 4)), hex(u32be(COUNT)));
    }
    assert.equal(senderKeys.length, COUNT * 64);
    assert.equal(chosenKeys.length, COUNT * 32);
    assert.equal(state.choices.length, 32);
    assert.equal(state.m.length, COUNT);
  });

  test('for every k the receiver key equals the sender key of the chosen bit and differs from the other', () => {
    for (let k = 0; k < COUNT; k++) {
      const c = bitAt(state.choices, k);
      assert.equal(hex(key(chosenKeys, k)), hex(key(senderKeys, 2 * k + c)), `OT ${k}`);
      assert.notEqual(hex(key(chosenKeys, k)), hex(key(senderKeys, 2 * k + 1 - c)), `OT ${k}`);
    }
  });

  test('keys are bound to their index and branch: all 512 sender keys are distinct', () => {
    const all = new Set<string>();
    for (let i = 0; i < 2 * COUNT; i++) all.add(hex(key(senderKeys, i)));
    assert.equal(all.size, 2 * COUNT);
  });

  test('the choice bits are random, not constant (both values occur often)', () => {
    let ones = 0;
    for (let k = 0; k < COUNT; k++) ones += bitAt(state.choices, k);
    assert.ok(ones > 64 && ones < 192, `${ones} ones`);
  });

  test('the dummy Q_k is a group element, not random bytes: every slot of msg1 strictly decodes', () => {
    // A raw-bytes dummy (the sl-crypto bug) would fail to decode in about half of the slots.
    for (const m of [msg1, msg1b]) {
      for (let k = 0; k < COUNT; k++) {
        for (let j = 0; j < 2; j++) assert.doesNotThrow(() => g.decodePoint(slot(m, k, j)));
      }
    }
  });

  test('statistics: the fraction of P^0 (and P^1) with even y is ≈ 1/2 for c = 0 and for c = 1', () => {
    // Samples: the main msg1 (random choices) and msg1b (128 OTs with c = 0, 128 with c = 1).
    const even: number[][] = [
      [0, 0],
      [0, 0],
    ]; // even[c][j]
    const total = [0, 0];
    const tally = (m: Uint8Array, choices: Uint8Array) => {
      for (let k = 0; k < COUNT; k++) {
        const c = bitAt(choices, k);
        total[c] = (total[c] as number) + 1;
        for (let j = 0; j < 2; j++) {
          if (slot(m, k, j)[0] === 0x02)
            (even[c] as number[])[j] = ((even[c] as number[])[j] as number) + 1;
        }
      }
    };
    tally(msg1, state.choices);
    tally(msg1b, choicesB);
    for (const c of [0, 1]) {
      const n = total[c] as number;
      assert.ok(n >= 200, `c = ${c}: only ${n} samples`);
      for (const j of [0, 1]) {
        const f = ((even[c] as number[])[j] as number) / n;
        // ~256 samples: standard deviation ≈ 0.031, so ±0.15 is ≈ 5σ (and the RNG is seeded).
        assert.ok(Math.abs(f - 0.5) < 0.15, `c = ${c}, P^${j}: even-y fraction ${f.toFixed(3)}`);
      }
    }
    const f0 = ((even[0] as number[])[0] as number) / (total[0] as number);
    const f1 = ((even[1] as number[])[0] as number) / (total[1] as number);
    assert.ok(Math.abs(f0 - f1) < 0.2, `P^0 even-y fraction differs: ${f0} vs ${f1}`);
  });

  test('sid binding: the same randomness under another sidOT gives the same Q_k but a different P^{c_k}', () => {
    for (let k = 0; k < COUNT; k++) {
      const c = bitAt(state.choices, k);
      const cb = bitAt(choicesB, k);
      assert.equal(hex(slot(msg1b, k, 1 - cb)), hex(slot(msg1, k, 1 - c)), `Q_${k}`);
      assert.notEqual(hex(slot(msg1b, k, cb)), hex(slot(msg1, k, c)), `P_${k}^c`);
    }
  });

  test('the sender output depends on its secret ε: other sender randomness, same msg1 → other msg2 and keys', () => {
    const other = baseOtSenderRespond(sid, msg1, seededRng('ot-setup sender, second instance'));
    for (let k = 0; k < COUNT; k++) {
      for (let j = 0; j < 2; j++) {
        assert.notEqual(hex(slot(other.msg2, k, j)), hex(slot(msg2, k, j)));
        assert.notEqual(hex(key(other.keys, 2 * k + j)), hex(key(senderKeys, 2 * k + j)));
      }
    }
  });
});

describe('base OT rejects malformed messages', () => {
  const P = unhex('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f');
  /** An x-coordinate with no curve point: the first x ≥ 1 for which 02‖x does not decode. */
  const offCurveX = (() => {
    for (let i = 1; ; i++) {
      const b = new Uint8Array(33);
      b[0] = 0x02;
      b[32] = i;
      try {
        secp256k1.Point.fromBytes(b);
      } catch {
        return b;
      }
    }
  })();
  /** A valid compressed point whose x is corrupted (one bit) so that it leaves the curve. */
  const corrupted = (valid: Uint8Array) => {
    for (let bit = 0; ; bit++) {
      const b = flipBit(valid, 32 - (bit >> 3), bit & 7);
      try {
        secp256k1.Point.fromBytes(b);
      } catch {
        return b;
      }
    }
  };
  const badSlots = (valid: Uint8Array): [string, Uint8Array][] => [
    ['off-curve x', offCurveX],
    ['valid point with corrupted x', corrupted(valid)],
    ['x = p', Uint8Array.of(0x02, ...P)],
    ['x > p', Uint8Array.of(0x03, ...flipBit(P, 31, 4))],
    ['33 zero bytes (identity)', new Uint8Array(33)],
    ['prefix 0x04 in a 33-byte slot', Uint8Array.of(0x04, ...valid.subarray(1))],
    ['prefix 0x00', Uint8Array.of(0x00, ...valid.subarray(1))],
    ['prefix 0x05', Uint8Array.of(0x05, ...valid.subarray(1))],
  ];
  const badShapes = (m: Uint8Array): [string, Uint8Array][] => {
    const body = m.subarray(4);
    return [
      ['empty', new Uint8Array(0)],
      ['255 items, count 255', Uint8Array.of(...u32be(255), ...body.subarray(0, 255 * PAIR))],
      ['257 items, count 257', Uint8Array.of(...u32be(257), ...body, ...body.subarray(0, PAIR))],
      ['count 256, only 255 items', Uint8Array.of(...u32be(256), ...body.subarray(0, 255 * PAIR))],
      ['count 255, 256 items', Uint8Array.of(...u32be(255), ...body)],
      ['one trailing byte', Uint8Array.of(...m, 0)],
      ['last byte missing', m.subarray(0, m.length - 1)],
      ['wrapped in enc()', enc(m)],
    ];
  };

  test('msg1: every bad point encoding in either slot → DecodeError (before any key exists)', () => {
    for (const [k, j] of [
      [0, 0],
      [0, 1],
      [255, 1],
    ] as const) {
      for (const [name, bad] of badSlots(slot(msg1, k, j))) {
        assert.throws(
          () => baseOtSenderRespond(sid, withSlot(msg1, k, j, bad), seededRng('x')),
          DecodeError,
          `${name} at P[${k}]^${j}`
        );
      }
    }
  });

  test('msg1: wrong count or length → DecodeError', () => {
    for (const [name, bad] of badShapes(msg1)) {
      assert.throws(() => baseOtSenderRespond(sid, bad, seededRng('x')), DecodeError, name);
    }
  });

  test('msg2: every bad point encoding in either slot → DecodeError', () => {
    for (const [k, j] of [
      [0, 1],
      [255, 0],
    ] as const) {
      for (const [name, bad] of badSlots(slot(msg2, k, j))) {
        assert.throws(
          () => baseOtReceiverFinish(sid, state, withSlot(msg2, k, j, bad)),
          DecodeError,
          `${name} at B[${k}]^${j}`
        );
      }
    }
  });

  test('msg2: wrong count or length → DecodeError', () => {
    for (const [name, bad] of badShapes(msg2)) {
      assert.throws(() => baseOtReceiverFinish(sid, state, bad), DecodeError, name);
    }
  });

  test('N_k^j = O (P^0 = −Hc(k, 0, P^1), or P^1 = −Hc(k, 1, P^0)) → CheckFailed BaseOtPoint', () => {
    for (const [k, j] of [
      [0, 0],
      [9, 1],
    ] as const) {
      const other = slot(msg1, k, 1 - j);
      const forged = specHc(sid, k, j, other).negate().toBytes();
      assert.throws(
        () => baseOtSenderRespond(sid, withSlot(msg1, k, j, forged), seededRng('x')),
        (e: unknown) => e instanceof CheckFailed && e.check === 'BaseOtPoint',
        `N_${k}^${j}`
      );
    }
  });
});

describe('all-but-one OT', () => {
  test('the receiver holds 15 of 16 leaves of each block equal to the sender’s, and zeros at Δ_ν', () => {
    assert.equal(pprf.seeds.length, SEEDS_BYTES);
    assert.equal(recovered.seeds.length, SEEDS_BYTES);
    assert.equal(recovered.delta.length, 64);
    const zero = hex(new Uint8Array(32));
    for (let nu = 0; nu < 64; nu++) {
      const d = recovered.delta[nu] as number;
      assert.ok(d < 16);
      for (let y = 0; y < 16; y++) {
        const at = seedOffset(nu, y);
        const mine = hex(recovered.seeds.subarray(at, at + 32));
        const theirs = hex(pprf.seeds.subarray(at, at + 32));
        if (y === d) {
          assert.equal(mine, zero, `(${nu}, ${y}) is punctured`);
          assert.notEqual(theirs, zero);
        } else assert.equal(mine, theirs, `leaf (${nu}, ${y})`);
      }
    }
  });

  test('Δ_ν bits, most significant first, are 1 − c_{ν,0}, 1 − c_{ν,1}, 1 − c_{ν,2}, 1 − c_{ν,3}', () => {
    for (let nu = 0; nu < 64; nu++) {
      let expected = 0;
      for (let d = 0; d < 4; d++) expected = 2 * expected + (1 - bitAt(state.choices, 4 * nu + d));
      assert.equal(recovered.delta[nu], expected, `block ${nu}`);
    }
  });

  test('the sender’s tree, T, τ and Π match the documented formulas (expansion hashes the parent’s level)', () => {
    const sidP = H256('ot/pprf/sid', sid);
    const T: Uint8Array[] = [];
    const TP: Uint8Array[] = [];
    const xor = (a: Uint8Array, b: Uint8Array) => a.map((v, i) => v ^ (b[i] as number));
    for (let nu = 0; nu < 64; nu++) {
      let nodes = [key(senderKeys, 2 * (4 * nu)), key(senderKeys, 2 * (4 * nu) + 1)];
      for (let level = 1; level <= 3; level++) {
        const next: Uint8Array[] = [];
        nodes.forEach((node, y) => {
          const lr = XOF('ot/pprf/expand', [sidP, u32be(nu), u32be(level), u32be(y), node], 64);
          next.push(lr.subarray(0, 32), lr.subarray(32));
        });
        let ev: Uint8Array = key(senderKeys, 2 * (4 * nu + level));
        let od: Uint8Array = key(senderKeys, 2 * (4 * nu + level) + 1);
        next.forEach((n, i) => {
          if (i % 2 === 0) ev = xor(ev, n);
          else od = xor(od, n);
        });
        T.push(Uint8Array.of(...ev, ...od));
        nodes = next;
      }
      const hs = nodes.map((leaf, y) => H256('ot/pprf/leaf', sidP, u32be(nu), u32be(y), leaf));
      nodes.forEach((leaf, y) => {
        const at = seedOffset(nu, y);
        assert.equal(hex(pprf.seeds.subarray(at, at + 32)), hex(leaf), `leaf (${nu}, ${y})`);
      });
      const tau = hs.reduce((a, b) => xor(a, b), new Uint8Array(32));
      TP.push(Uint8Array.of(...tau, ...H256('ot/pprf/proof', sidP, u32be(nu), list(hs))));
    }
    assert.equal(hex(pprf.msg), hex(enc(list(T), list(TP))));
  });

  test('both sides compute the same setupId = H256("ote/setup", sidOT, list(P), list(B), list(T), list(τ‖Π))', () => {
    const idA = otSetupId(sid, msg1, msg2, pprf.msg);
    const idB = otSetupId(sid, msg1.slice(), msg2.slice(), pprf.msg.slice());
    assert.equal(hex(idA), hex(idB));
    const T: Uint8Array[] = [];
    const TP: Uint8Array[] = [];
    const tStart = 8;
    for (let i = 0; i < 192; i++) T.push(pprf.msg.subarray(tStart + 64 * i, tStart + 64 * (i + 1)));
    const pStart = 8 + 192 * 64 + 8;
    for (let i = 0; i < 64; i++) TP.push(pprf.msg.subarray(pStart + 64 * i, pStart + 64 * (i + 1)));
    const items = (m: Uint8Array) =>
      Array.from({ length: COUNT }, (_, k) => m.subarray(4 + k * PAIR, 4 + (k + 1) * PAIR));
    const expected = H256(
      'ote/setup',
      sid,
      list(items(msg1)),
      list(items(msg2)),
      list(T),
      list(TP)
    );
    assert.equal(hex(idA), hex(expected));
  });
});

describe('all-but-one OT rejects a bad tree or proof', () => {
  const T_ITEM = (nu: number, level: number) => 8 + (nu * 3 + level - 1) * 64;
  const TP_ITEM = (nu: number) => 8 + 192 * 64 + 8 + nu * 64;
  const isPprfProof = (e: unknown) => e instanceof CheckFailed && e.check === 'PprfProof';
  const recover = (m: Uint8Array) => pprfReceiverRecover(sid, state.choices, chosenKeys, m);

  test('one flipped bit in the T half the receiver uses (T^{c_{ν,level}}) changes a leaf → CheckFailed PprfProof', () => {
    for (const [nu, level, byte, bit] of [
      [0, 1, 0, 0],
      [17, 2, 31, 7],
      [63, 3, 5, 3],
    ] as const) {
      const c = bitAt(state.choices, 4 * nu + level);
      const tampered = flipBit(pprf.msg, T_ITEM(nu, level) + 32 * c + byte, bit);
      assert.throws(() => recover(tampered), isPprfProof, `T(${nu}, ${level})^${c}`);
    }
  });

  test('one flipped bit in τ_ν or Π_ν → CheckFailed PprfProof (also in the last block: every block is checked)', () => {
    for (const nu of [0, 40, 63]) {
      assert.throws(() => recover(flipBit(pprf.msg, TP_ITEM(nu) + 3, 1)), isPprfProof, `τ_${nu}`);
      assert.throws(
        () => recover(flipBit(pprf.msg, TP_ITEM(nu) + 32 + 9, 6)),
        isPprfProof,
        `Π_${nu}`
      );
    }
  });

  test('a wrong base-OT key at the receiver → CheckFailed PprfProof', () => {
    const badKeys = flipBit(chosenKeys, 32 * 5 + 2);
    assert.throws(() => pprfReceiverRecover(sid, state.choices, badKeys, pprf.msg), isPprfProof);
  });

  test('the unused half T^{1−c} does not enter the receiver’s output (a flip there is neither detected nor used)', () => {
    const nu = 5;
    const level = 2;
    const c = bitAt(state.choices, 4 * nu + level);
    const out = recover(flipBit(pprf.msg, T_ITEM(nu, level) + 32 * (1 - c)));
    assert.equal(hex(out.seeds), hex(recovered.seeds));
    assert.equal(hex(out.delta), hex(recovered.delta));
  });

  test('wrong field count, list count or length → DecodeError', () => {
    const [tField, pField] = [
      pprf.msg.subarray(4, 8 + 192 * 64),
      pprf.msg.subarray(8 + 192 * 64 + 4),
    ];
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one field', enc(tField)],
      ['three fields', enc(tField, pField, new Uint8Array(0))],
      ['fields swapped', enc(pField, tField)],
      ['191 T items', enc(list(items(tField, 64).slice(0, 191)), pField)],
      [
        '65 τ‖Π items',
        enc(tField, list([...items(pField, 64), items(pField, 64)[0] as Uint8Array])),
      ],
      ['T items of 63 bytes', enc(list(items(tField, 64).map((t) => t.subarray(0, 63))), pField)],
      ['one trailing byte', Uint8Array.of(...pprf.msg, 0)],
      ['last byte missing', pprf.msg.subarray(0, pprf.msg.length - 1)],
    ];
    for (const [name, m] of bad) assert.throws(() => recover(m), DecodeError, name);
  });
});

/** Items of a list field. */
function items(field: Uint8Array, size: number): Uint8Array[] {
  const n = (field.length - 4) / size;
  return Array.from({ length: n }, (_, i) => field.subarray(4 + i * size, 4 + (i + 1) * size));
}
