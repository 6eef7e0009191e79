/**
 * FROST signing: RFC 9591 vectors byte for byte through our session wrapper, independent
 * verifiers, a (t, n) matrix, a fast-check property, and single use of nonces.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Envelope, frostSign, KeyShare, NonceReuse, SessionClosed } from '@tessera/core';
import { memoryLedgerForTests, simulate } from '@tessera/core/testing';
import fc from 'fast-check';
import { decodeFields } from '../src/codec.ts';
import { frostSignStartWithSuite } from '../src/frost/sign.ts';
import { frostSuite } from '../src/frost/suites.ts';
import {
  hex,
  readVector,
  scriptedRng,
  unhex,
  utf8,
  verifyBip340WithLibsecp,
  verifyBip340WithNoble,
  verifyEd25519WithNode,
} from './helpers.ts';

interface RfcVector {
  config: { MAX_PARTICIPANTS: string; MIN_PARTICIPANTS: string };
  inputs: {
    participant_list: number[];
    group_public_key: string;
    message: string;
    participant_shares: { identifier: number; participant_share: string }[];
  };
  round_one_outputs: {
    outputs: {
      identifier: number;
      hiding_nonce_randomness: string;
      binding_nonce_randomness: string;
      hiding_nonce_commitment: string;
      binding_nonce_commitment: string;
    }[];
  };
  round_two_outputs: { outputs: { identifier: number; sig_share: string }[] };
  final_output: { sig: string };
}

function verifyAny(
  scheme: 'ed25519' | 'bip340',
  pk: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array
): boolean {
  return scheme === 'ed25519'
    ? verifyEd25519WithNode(pk, msg, sig)
    : verifyBip340WithNoble(pk, msg, sig);
}

describe('RFC 9591 test vectors through the Tessera signing session', () => {
  for (const [file, suiteName] of [
    ['frost-ed25519-sha512.json', 'ed25519'],
    ['frost-secp256k1-sha256.json', 'secp256k1-rfc9591'],
  ] as const) {
    test(`${file}: commitments, signature shares and the final signature reproduce byte for byte`, () => {
      const v = readVector<RfcVector>(`frost-rfc9591/${file}`);
      const { group } = frostSuite(suiteName);
      const n = Number(v.config.MAX_PARTICIPANTS);
      const t = Number(v.config.MIN_PARTICIPANTS);
      const parties = Array.from({ length: n }, (_, k) => k + 1);
      const secretOf = (id: number) => {
        const s = v.inputs.participant_shares.find((p) => p.identifier === id);
        assert.ok(s);
        return group.decodeScalar(unhex(s.participant_share));
      };
      const vshares = parties.map((id) => group.encodePoint(group.base(secretOf(id))));
      const message = unhex(v.inputs.message);
      const rid = new Uint8Array(32);
      const signers = v.inputs.participant_list;
      const ledger = memoryLedgerForTests();
      const starts = signers.map((id) => {
        const r1 = v.round_one_outputs.outputs.find((o) => o.identifier === id);
        assert.ok(r1);
        const share = new KeyShare({
          // The RFC's secp256k1 suite is not BIP-340; any secp256k1 share carries it here.
          scheme: suiteName === 'ed25519' ? 'ed25519' : 'bip340',
          partyId: id,
          threshold: t,
          parties,
          keyId: new Uint8Array(32),
          epoch: new Uint8Array(32),
          chainCode: new Uint8Array(32),
          groupKey: unhex(v.inputs.group_public_key),
          verificationShares: vshares,
          secret: secretOf(id),
        });
        share.validate();
        const rng = scriptedRng([
          unhex(r1.hiding_nonce_randomness),
          unhex(r1.binding_nonce_randomness),
        ]);
        const step = frostSignStartWithSuite(
          suiteName,
          { share, signers, message, rid },
          { rng, ledger }
        );
        const [D, E] = decodeFields((step.out[0] as Envelope).body, 2);
        assert.equal(
          hex(D as Uint8Array),
          r1.hiding_nonce_commitment,
          `party ${id} hiding commitment`
        );
        assert.equal(
          hex(E as Uint8Array),
          r1.binding_nonce_commitment,
          `party ${id} binding commitment`
        );
        return { id, step };
      });
      const [a, b] = starts as [(typeof starts)[0], (typeof starts)[0]];
      const a2 = frostSign.receive(a.step.session, b.step.out[0] as Envelope, { ledger });
      const b2 = frostSign.receive(b.step.session, a.step.out[0] as Envelope, { ledger });
      for (const [id, out] of [
        [a.id, a2.out],
        [b.id, b2.out],
      ] as const) {
        const expected = v.round_two_outputs.outputs.find((o) => o.identifier === id);
        assert.equal(
          hex(decodeFields((out[0] as Envelope).body, 2)[0] as Uint8Array),
          expected?.sig_share
        );
      }
      const a3 = frostSign.receive(a2.session, b2.out[0] as Envelope, { ledger });
      const b3 = frostSign.receive(b2.session, a2.out[0] as Envelope, { ledger });
      assert.equal(hex(a3.result as Uint8Array), v.final_output.sig);
      assert.equal(hex(b3.result as Uint8Array), v.final_output.sig);
    });
  }
});

describe('signatures verify with independent verifiers', () => {
  test('Ed25519 2-of-3: every signer pair signs; node:crypto (OpenSSL) verifies', async () => {
    const shares = await simulate.keygen('ed25519', { threshold: 2, parties: 3 });
    const msg = utf8('pay 1 SOL to Alice');
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      const signers = pair.map((k) => shares[k] as KeyShare);
      const sig = await simulate.sign('ed25519', signers, msg);
      assert.equal(sig.length, 64);
      assert.ok(verifyEd25519WithNode((shares[0] as KeyShare).publicKey, msg, sig), `pair ${pair}`);
      assert.ok(
        !verifyEd25519WithNode((shares[0] as KeyShare).publicKey, utf8('pay 2 SOL to Alice'), sig)
      );
    }
  });

  test('BIP-340 2-of-3: every signer pair signs; noble and libsecp256k1 (tiny-secp256k1) verify', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    const pk = (shares[0] as KeyShare).publicKey;
    assert.equal(pk.length, 32);
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      const msg = sha256(utf8(`taproot spend ${pair}`));
      const sig = await simulate.sign(
        'bip340',
        pair.map((k) => shares[k] as KeyShare),
        msg
      );
      assert.equal(sig.length, 64);
      assert.ok(verifyBip340WithNoble(pk, msg, sig), `noble, pair ${pair}`);
      assert.ok(verifyBip340WithLibsecp(pk, msg, sig), `libsecp256k1, pair ${pair}`);
    }
  });

  for (const scheme of ['ed25519', 'bip340'] as const) {
    test(`${scheme}: 2-of-2 and 3-of-5 (several signer subsets, and all five) sign and verify`, async () => {
      const two = await simulate.keygen(scheme, { threshold: 2, parties: 2 });
      const m2 = utf8(`2-of-2 ${scheme}`);
      assert.ok(
        verifyAny(scheme, (two[0] as KeyShare).publicKey, m2, await simulate.sign(scheme, two, m2))
      );
      const five = await simulate.keygen(scheme, { threshold: 3, parties: 5 });
      const pk = (five[0] as KeyShare).publicKey;
      for (const subset of [
        [0, 1, 2],
        [0, 2, 4],
        [1, 3, 4],
        [0, 1, 2, 3, 4],
      ]) {
        const m = utf8(`3-of-5 ${scheme} ${subset}`);
        const sig = await simulate.sign(
          scheme,
          subset.map((k) => five[k] as KeyShare),
          m
        );
        assert.ok(verifyAny(scheme, pk, m, sig), `subset ${subset}`);
      }
    });
  }

  test('fewer than t signers are refused before any message is sent', async () => {
    const five = await simulate.keygen('ed25519', { threshold: 3, parties: 5 });
    await assert.rejects(simulate.sign('ed25519', five.slice(0, 2), utf8('x')), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('property: random t ≤ n ≤ 7, random signer subsets and messages', () => {
  test('every signature verifies under the group key (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('ed25519' as const, 'bip340' as const),
        fc
          .integer({ min: 2, max: 7 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.integer({ min: 2, max: n }),
              fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: n, maxLength: n })
            )
          ),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        async (scheme, [n, t, perm], message) => {
          const shares = await simulate.keygen(scheme, { threshold: t, parties: n });
          const size = t + ((perm[0] as number) % (n - t + 1));
          const subset = perm.slice(0, size).map((k) => shares[k] as KeyShare);
          const sig = await simulate.sign(scheme, subset, message);
          return verifyAny(scheme, (shares[0] as KeyShare).publicKey, message, sig);
        }
      ),
      { numRuns: 12 }
    );
  });
});

describe('nonces are single use on every path', () => {
  async function roundOne() {
    const shares = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const rid = new Uint8Array(32).fill(7);
    const signers = [1, 2];
    const message = utf8('once');
    const ledger = memoryLedgerForTests();
    const a = frostSign.start({ share: shares[0] as KeyShare, signers, message, rid }, { ledger });
    const b = frostSign.start({ share: shares[1] as KeyShare, signers, message, rid }, { ledger });
    return { a, b, ledger };
  }

  test('signShare rejects nonce reuse through a deserialised copy of the session (NonceReuse)', async () => {
    const { a, b } = await roundOne();
    const ledger = memoryLedgerForTests();
    const copy = frostSign.decodeSession(frostSign.encodeSession(a.session));
    frostSign.receive(a.session, b.out[0] as Envelope, { ledger });
    assert.throws(() => frostSign.receive(copy, b.out[0] as Envelope, { ledger }), NonceReuse);
  });

  test('the same session object cannot be driven twice (SessionClosed)', async () => {
    const { a, b, ledger } = await roundOne();
    frostSign.receive(a.session, b.out[0] as Envelope, { ledger });
    assert.throws(
      () => frostSign.receive(a.session, b.out[0] as Envelope, { ledger }),
      SessionClosed
    );
  });

  test('there is no default ledger: start and receive without one are refused (LedgerMissing) and leave the session usable', async () => {
    const { a, b, ledger } = await roundOne();
    const missing = { code: 'INVALID_INPUT', check: 'LedgerMissing' };
    assert.throws(() => frostSign.receive(a.session, b.out[0] as Envelope, {} as never), missing);
    assert.equal(a.session.status, 'active');
    const shares = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const params = { share: shares[0] as KeyShare, signers: [1, 2], message: utf8('m') };
    assert.throws(
      () => frostSign.start({ ...params, rid: new Uint8Array(32) }, {} as never),
      missing
    );
    assert.equal(frostSign.receive(a.session, b.out[0] as Envelope, { ledger }).out.length, 1);
  });

  test('the serialised session after round 2 holds no nonce', async () => {
    const { a, b, ledger } = await roundOne();
    const next = frostSign.receive(a.session, b.out[0] as Envelope, { ledger });
    assert.equal(next.session.state?.nonces, null);
  });

  test('a share of another scheme cannot sign FROST (key separation)', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 2 });
    await assert.rejects(simulate.sign('ed25519', shares, utf8('x')), { code: 'INVALID_INPUT' });
  });
});

describe('session replay cache', () => {
  test('a signer refuses to start the same signing session id twice (SessionReplay)', async () => {
    const shares = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const params = {
      share: shares[0] as KeyShare,
      signers: [1, 2],
      message: utf8('m'),
      rid: new Uint8Array(32).fill(3),
    };
    const ledger = memoryLedgerForTests();
    frostSign.start(params, { ledger });
    assert.throws(() => frostSign.start(params, { ledger }), {
      code: 'INVALID_INPUT',
      check: 'SessionReplay',
    });
  });
});
