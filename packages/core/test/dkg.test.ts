/** Key generation outputs, KeyShare format and validation, and the Fischlin proof (docs/security.md ). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { dkg, KeyShare } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import { DecodeError } from '../src/errors.ts';
import { ed25519Group, secp256k1Group } from '../src/group.ts';
import { shareSecret } from '../src/keyshare.ts';
import { lagrange } from '../src/math/polynomial.ts';
import {
  FISCHLIN_BITS,
  FISCHLIN_CHALLENGE_BITS,
  FISCHLIN_REPS,
  fischlinProofLength,
  fischlinProve,
  fischlinVerify,
} from '../src/proofs/fischlin.ts';
import { systemRng } from '../src/rng.ts';
import { hex, utf8 } from './helpers.ts';

describe('key generation', () => {
  for (const scheme of ['ed25519', 'bip340'] as const) {
    test(`${scheme} 3-of-5: consistent public data; every t-subset interpolates to the group key`, async () => {
      const shares = await simulate.keygen(scheme, { threshold: 3, parties: 5, label: 'test' });
      const g = scheme === 'ed25519' ? ed25519Group : secp256k1Group;
      const first = shares[0] as KeyShare;
      assert.deepEqual(
        shares.map((s) => s.partyId),
        [1, 2, 3, 4, 5]
      );
      for (const s of shares) {
        assert.equal(hex(s.publicKey), hex(first.publicKey));
        assert.equal(hex(s.keyId), hex(first.keyId));
        assert.equal(hex(s.epoch), hex(first.epoch));
        assert.equal(hex(s.chainCode), hex(first.chainCode));
        assert.equal(s.threshold, 3);
        s.validate();
      }
      assert.equal(first.publicKey.length, 32);
      // Test-only reconstruction: x = Σ λ_i·x_i must satisfy x·G = PK for every 3-subset.
      const subsets = [
        [1, 2, 3],
        [1, 3, 5],
        [2, 4, 5],
        [3, 4, 5],
      ];
      for (const ids of subsets) {
        let x = 0n;
        for (const id of ids)
          x = g.mod(x + lagrange(g, ids, id) * shareSecret(shares[id - 1] as KeyShare));
        assert.equal(hex(g.encodePoint(g.base(x))), hex(first.groupKey), `subset ${ids}`);
      }
      // Fewer than t shares do not determine the key.
      const two = [1, 2];
      let y = 0n;
      for (const id of two)
        y = g.mod(y + lagrange(g, two, id) * shareSecret(shares[id - 1] as KeyShare));
      assert.notEqual(hex(g.encodePoint(g.base(y))), hex(first.groupKey));
    });
  }

  test('two key generations never produce the same key', async () => {
    const a = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const b = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    assert.notEqual(hex((a[0] as KeyShare).publicKey), hex((b[0] as KeyShare).publicKey));
  });

  test('bad parameters are refused with InputError before anything is sent', () => {
    const sid0 = new Uint8Array(32);
    const bad = [
      { scheme: 'ed25519', threshold: 3, parties: 2, me: 1, sid0 },
      { scheme: 'ed25519', threshold: 1, parties: 2, me: 1, sid0 },
      { scheme: 'ed25519', threshold: 2, parties: 256, me: 1, sid0 },
      { scheme: 'ed25519', threshold: 2, parties: 3, me: 4, sid0 },
      { scheme: 'ed25519', threshold: 2, parties: 3, me: 1, sid0: new Uint8Array(31) },
      { scheme: 'rsa', threshold: 2, parties: 3, me: 1, sid0 },
    ];
    for (const p of bad) {
      assert.throws(
        () => dkg.start(p as Parameters<typeof dkg.start>[0]),
        { code: 'INVALID_INPUT' },
        JSON.stringify(p)
      );
    }
  });
});

describe('KeyShare format', () => {
  test('toBytes / fromBytes round-trips and the copy signs', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    const copies = shares.map((s) => KeyShare.fromBytes(s.toBytes()));
    for (const [k, c] of copies.entries())
      assert.equal(hex(c.toBytes()), hex((shares[k] as KeyShare).toBytes()));
    const sig = await simulate.sign(
      'bip340',
      [copies[0] as KeyShare, copies[2] as KeyShare],
      utf8('m')
    );
    assert.equal(sig.length, 64);
  });

  test('fromBytes rejects a flipped secret, a swapped verification share, truncation, magic and version', async () => {
    const [s] = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const bytes = (s as KeyShare).toBytes();
    const flip = (i: number) => {
      const b = bytes.slice();
      b[i] = (b[i] as number) ^ 1;
      return b;
    };
    // Any changed byte is caught by the checksum (format v5) before any other check.
    for (const i of [bytes.length - 40, bytes.length - 80, 200])
      assert.throws(() => KeyShare.fromBytes(flip(i)), { check: 'ShareCorrupted' });
    assert.throws(() => KeyShare.fromBytes(bytes.subarray(0, bytes.length - 1)), {
      code: 'INVALID_INPUT',
    });
    assert.throws(() => KeyShare.fromBytes(flip(0)), /not a Tessera key share/);
    assert.throws(() => KeyShare.fromBytes(flip(10)), /format version/); // version 5 → 261
  });

  test('the secret share never appears in JSON or util.inspect output', async () => {
    const [s] = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const share = s as KeyShare;
    const secretHex = hex(ed25519Group.encodeScalar(shareSecret(share)));
    const secretB64 = Buffer.from(ed25519Group.encodeScalar(shareSecret(share))).toString('base64');
    for (const text of [
      JSON.stringify(share),
      inspect(share, { depth: 9, showHidden: true }),
      String(share),
    ]) {
      assert.ok(!text.includes(secretHex) && !text.includes(secretB64), text);
    }
  });
});

describe('Fischlin proof of knowledge', () => {
  const g = secp256k1Group;
  const w = g.randomScalar(systemRng);
  const X = g.base(w);
  const ctx = [utf8('dkg/pok0'), new Uint8Array(32).fill(1), Uint8Array.of(0, 0, 0, 2)];
  const proof = fischlinProve(g, w, X, ctx, systemRng);

  test('parameters are the constants of the Fischlin proof (ρ·b = 128)', () => {
    assert.deepEqual([FISCHLIN_REPS, FISCHLIN_BITS, FISCHLIN_CHALLENGE_BITS], [32, 4, 9]);
    assert.equal(proof.length, fischlinProofLength(g));
    assert.equal(proof.length, 2144);
  });
  test('an honest proof verifies (both groups)', () => {
    assert.ok(fischlinVerify(g, X, ctx, proof));
    const we = ed25519Group.randomScalar(systemRng);
    const Xe = ed25519Group.base(we);
    assert.ok(
      fischlinVerify(ed25519Group, Xe, ctx, fischlinProve(ed25519Group, we, Xe, ctx, systemRng))
    );
  });
  test('a proof replayed in another session is rejected', () => {
    assert.equal(
      fischlinVerify(
        g,
        X,
        [ctx[0] as Uint8Array, new Uint8Array(32).fill(2), ctx[2] as Uint8Array],
        proof
      ),
      false
    );
  });
  test("a proof relayed as another party's is rejected", () => {
    assert.equal(
      fischlinVerify(
        g,
        X,
        [ctx[0] as Uint8Array, ctx[1] as Uint8Array, Uint8Array.of(0, 0, 0, 3)],
        proof
      ),
      false
    );
  });
  test('a proof for another statement is rejected', () => {
    assert.equal(fischlinVerify(g, g.base(w + 1n), ctx, proof), false);
  });
  test('missing, duplicated or out-of-range repetitions are rejected', () => {
    const stride = 33 + 2 + 32;
    assert.throws(
      () => fischlinVerify(g, X, ctx, proof.subarray(0, proof.length - stride)),
      DecodeError
    );
    const dup = proof.slice();
    dup.set(proof.subarray(0, stride), stride);
    assert.equal(fischlinVerify(g, X, ctx, dup), false);
    const eBig = proof.slice();
    eBig[33] = 0x02; // e_0 = 512 + …
    assert.throws(() => fischlinVerify(g, X, ctx, eBig), DecodeError);
    const zBig = proof.slice();
    zBig.fill(0xff, 35, 67);
    assert.throws(() => fischlinVerify(g, X, ctx, zBig), DecodeError);
  });
});
