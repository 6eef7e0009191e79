/** Pairing with a commit-then-reveal short authentication string (docs/protocols/pairing.md). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import {
  fingerprint,
  newPartyIdentity,
  openRelayEnvelope,
  PAIR_INITIATOR,
  PAIR_RESPONDER,
  PairingLockout,
  type PairingSession,
  type PartyIdentity,
  pairing,
  sealRelayEnvelope,
  TesseraError,
} from '@tessera/core';
import fc from 'fast-check';
import { makePairing, pairCode, pairTranscript } from '../src/pairing.ts';
import { enc, H256, TAGS } from '../src/transcript.ts';
import { utf8 } from './helpers.ts';

type Pairing = ReturnType<typeof makePairing>;

const alice = newPartyIdentity();
const bob = newPartyIdentity();

/** Runs a whole honest pairing; returns both sides' codes and results. */
function honest(p: Pairing, I: PartyIdentity, R: PartyIdentity, nameI = 'Alice', nameR = 'Bob') {
  const roomId = randomBytes(16);
  const s1 = p.initiate({ identity: I, name: nameI, roomId });
  const r1 = p.respond({ identity: R, name: nameR, roomId }, s1.out[0] as Uint8Array);
  const s2 = p.receive(s1.session, r1.out[0] as Uint8Array);
  const r2 = p.receive(r1.session, s2.out[0] as Uint8Array);
  return { roomId, s1, r1, s2, r2 };
}

function fails(fn: () => unknown, check: string, culprit: number | null, code = 'PROTOCOL_ABORT') {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TesseraError, String(e));
    assert.equal(e.check, check, e.message);
    assert.equal(e.code, code, e.message);
    assert.equal(e.culprit, culprit, e.message);
    return true;
  });
}

/** A man in the middle with identities of his own: runs the protocol with each side. */
function mitmRun(p: Pairing) {
  const M1 = newPartyIdentity(); // poses to the initiator as the responder
  const M2 = newPartyIdentity(); // poses to the responder as the initiator
  const roomId = randomBytes(16);
  const i1 = p.initiate({ identity: alice, name: 'Alice', roomId });
  // M answers Alice's start at once (he sees only C_I) and opens his own run with Bob.
  const m1 = p.respond({ identity: M1, name: 'Bob', roomId }, i1.out[0] as Uint8Array);
  const m2 = p.initiate({ identity: M2, name: 'Alice', roomId });
  const r1 = p.respond({ identity: bob, name: 'Bob', roomId }, m2.out[0] as Uint8Array);
  const m2b = p.receive(m2.session, r1.out[0] as Uint8Array);
  const r2 = p.receive(r1.session, m2b.out[0] as Uint8Array);
  const i2 = p.receive(i1.session, m1.out[0] as Uint8Array);
  const m1b = p.receive(m1.session, i2.out[0] as Uint8Array);
  return { aliceCode: i2.code, bobCode: r2.code, i2, r2, m1b, m2b };
}

describe('pairing', () => {
  test('honest run: equal 6-digit codes, both confirm, each pins the other', () => {
    const { s2, r2 } = honest(pairing, alice, bob);
    assert.match(s2.code as string, /^\d{6}$/);
    assert.equal(s2.code, r2.code);
    assert.equal(r2.out.length, 0);
    const ic = pairing.confirm(s2.session, true);
    assert.equal(ic.result, undefined);
    const rc = pairing.confirm(r2.session, true);
    assert.equal(rc.result, undefined);
    const iDone = pairing.receive(ic.session, rc.out[0] as Uint8Array);
    const rDone = pairing.receive(rc.session, ic.out[0] as Uint8Array);
    assert.deepEqual(iDone.result, {
      peer: bob.public,
      fingerprint: fingerprint(bob.public),
      name: 'Bob',
    });
    assert.deepEqual(rDone.result, {
      peer: alice.public,
      fingerprint: fingerprint(alice.public),
      name: 'Alice',
    });
    assert.equal(iDone.session.status, 'done');
    // The peer's confirmation may come before the local user's.
    const again = honest(pairing, alice, bob);
    const rc2 = pairing.confirm(again.r2.session, true);
    const early = pairing.receive(again.s2.session, rc2.out[0] as Uint8Array);
    assert.equal(early.result, undefined);
    assert.equal(early.session.peerConfirmed, true);
    const late = pairing.confirm(early.session, true);
    assert.equal(late.result?.fingerprint, fingerprint(bob.public));
  });

  test('later sessions need no code: the pinned keys carry relay envelopes', () => {
    const { s2, r2 } = honest(pairing, alice, bob);
    const ic = pairing.confirm(s2.session, true);
    const rc = pairing.confirm(r2.session, true);
    const pinnedByAlice = pairing.receive(ic.session, rc.out[0] as Uint8Array).result?.peer;
    assert.ok(pinnedByAlice);
    const o = { roomId: randomBytes(16), manifestHash: randomBytes(32), sid: utf8('s') };
    const wire = sealRelayEnvelope(alice, { ...o, round: 1, to: pinnedByAlice, body: utf8('hi') });
    const got = openRelayEnvelope(bob, { ...o, from: alice.public }, wire);
    assert.deepEqual(got.body, utf8('hi'));
  });

  test('a MITM that substitutes the ephemeral keys in honest messages is caught by the signatures', () => {
    const roomId = randomBytes(16);
    const mE = x25519.getPublicKey(randomBytes(32));
    const i1 = pairing.initiate({ identity: alice, name: 'Alice', roomId });
    const r1 = pairing.respond({ identity: bob, name: 'Bob', roomId }, i1.out[0] as Uint8Array);
    // Replace E_R (the last 32 bytes of PairAccept's body) with the MITM's key.
    const accept = (r1.out[0] as Uint8Array).slice();
    const at = Buffer.from(accept).indexOf(Buffer.from(r1.session.st.ephemeral));
    accept.set(mE, at);
    fails(() => pairing.receive(i1.session, accept), 'PairSignature', PAIR_RESPONDER);
    // Alice never revealed E_I: the MITM has nothing to compute a key or a code from.
    assert.equal(i1.session.status, 'aborted');
    assert.equal(i1.session.st.ephemeralSecret, null);
  });

  test("a MITM with identities of his own: the two codes differ, and he cannot open the pair's envelopes", () => {
    const { aliceCode, bobCode, i2, r2, m1b } = mitmRun(pairing);
    assert.match(aliceCode as string, /^\d{6}$/);
    assert.notEqual(aliceCode, bobCode); // probability 10^-6 of a false failure
    // Each victim sees the MITM's keys as its peer, so the users refuse and nothing is pinned.
    assert.notEqual(i2.session.peer && fingerprint(i2.session.peer), fingerprint(bob.public));
    const refusal = pairing.confirm(i2.session, false);
    assert.equal(refusal.session.status, 'refused');
    assert.equal(refusal.result, undefined);
    fails(() => pairing.receive(m1b.session, refusal.out[0] as Uint8Array), 'PairRefused', 1);
    pairing.confirm(r2.session, false);
    // What Alice and Bob send each other under their real keys, the MITM cannot open.
    const o = { roomId: randomBytes(16), manifestHash: randomBytes(32), sid: utf8('s') };
    const wire = sealRelayEnvelope(alice, { ...o, round: 0, to: bob.public, body: utf8('x') });
    const mitm = newPartyIdentity();
    assert.throws(() => openRelayEnvelope(mitm, { ...o, from: alice.public }, wire));
  });

  test('WITHOUT the commitment a grinding MITM matches a 2-digit code within ~100 tries', () => {
    // Test-only variant: the initiator sends E_I in clear in its start message, so the MITM sees
    // both E_I and E_R before he chooses the key he sends the initiator.
    const roomId = randomBytes(16);
    const M1 = newPartyIdentity();
    const M2 = newPartyIdentity();
    const [nI, nR] = [utf8('Alice'), utf8('Bob')];
    const eI = randomBytes(32);
    const EI = x25519.getPublicKey(eI); // sent in clear
    const eM2 = randomBytes(32);
    const EM2 = x25519.getPublicKey(eM2); // what the MITM sends Bob as "E_I"
    const eR = randomBytes(32);
    const ER = x25519.getPublicKey(eR); // Bob's answer
    const thR = pairTranscript({
      roomId,
      initiator: M2.public,
      initiatorName: nI,
      responder: bob.public,
      responderName: nR,
      initiatorEphemeral: EM2,
      responderEphemeral: ER,
    });
    const bobCode = pairCode(x25519.getSharedSecret(eR, EM2), thR, 2);
    // The MITM now knows Bob's code and E_I: he grinds the key he sends Alice.
    let tries = 0;
    let aliceCode = '';
    while (tries < 5000) {
      tries++;
      const eM1 = randomBytes(32);
      const EM1 = x25519.getPublicKey(eM1);
      const thI = pairTranscript({
        roomId,
        initiator: alice.public,
        initiatorName: nI,
        responder: M1.public,
        responderName: nR,
        initiatorEphemeral: EI,
        responderEphemeral: EM1,
      });
      // The MITM computes Alice's code from his own secret: X25519(e_M1, E_I).
      aliceCode = pairCode(x25519.getSharedSecret(eM1, EI), thI, 2);
      // Alice would compute the same from her side.
      assert.equal(aliceCode, pairCode(x25519.getSharedSecret(eI, EM1), thI, 2));
      if (aliceCode === bobCode) break;
    }
    assert.equal(aliceCode, bobCode, 'grinding found a matching key');
    assert.ok(tries < 5000);
  });

  test('WITH the commitment the MITM must choose before he sees E_I: 2-digit codes match ~1/100', () => {
    const p2 = makePairing(2);
    let matches = 0;
    const runs = 200;
    for (let i = 0; i < runs; i++) {
      const { aliceCode, bobCode } = mitmRun(p2);
      assert.match(aliceCode as string, /^\d{2}$/);
      if (aliceCode === bobCode) matches++;
    }
    // Expected 2; P(≥ 12) for Binomial(200, 1/100) is below 10^-6. Grinding would give 200.
    assert.ok(matches < 12, `${matches} of ${runs} MITM runs matched`);
  });

  test('a tampered byte in any field of any message aborts (or is refused) naming its sender', () => {
    const roomId = randomBytes(16);
    const i1 = pairing.initiate({ identity: alice, name: 'Alice', roomId });
    const r1 = pairing.respond({ identity: bob, name: 'Bob', roomId }, i1.out[0] as Uint8Array);
    const i2 = pairing.receive(structuredClone(i1.session), r1.out[0] as Uint8Array);
    const r2 = pairing.receive(structuredClone(r1.session), i2.out[0] as Uint8Array);
    const ic = pairing.confirm(structuredClone(i2.session), true);
    const rc = pairing.confirm(structuredClone(r2.session), true);
    const cases: [string, Uint8Array, number, (t: Uint8Array) => unknown][] = [
      [
        'PairStart',
        i1.out[0] as Uint8Array,
        PAIR_INITIATOR,
        (t) => pairing.respond({ identity: bob, name: 'Bob', roomId }, t),
      ],
      [
        'PairAccept',
        r1.out[0] as Uint8Array,
        PAIR_RESPONDER,
        (t) => pairing.receive(structuredClone(i1.session), t),
      ],
      [
        'PairReveal',
        i2.out[0] as Uint8Array,
        PAIR_INITIATOR,
        (t) => pairing.receive(structuredClone(r1.session), t),
      ],
      [
        'PairConfirm (I)',
        ic.out[0] as Uint8Array,
        PAIR_INITIATOR,
        (t) => pairing.receive(structuredClone(rc.session), t),
      ],
      [
        'PairConfirm (R)',
        rc.out[0] as Uint8Array,
        PAIR_RESPONDER,
        (t) => pairing.receive(structuredClone(ic.session), t),
      ],
    ];
    for (const [name, wire, sender, deliver] of cases) {
      deliver(wire); // the untouched message goes through
      for (let i = 0; i < wire.length; i++) {
        const t = wire.slice();
        t[i] = (t[i] as number) ^ 0x01;
        assert.throws(
          () => deliver(t),
          (e: unknown) =>
            e instanceof TesseraError &&
            (e.code === 'PROTOCOL_ABORT' || e.code === 'MESSAGE_REJECTED') &&
            e.culprit === sender,
          `${name}, byte ${i}`
        );
      }
    }
  });

  test('a wrong commitment opening, a confirmation of another transcript, and a self-pairing', () => {
    const roomId0 = randomBytes(16);
    const s1 = pairing.initiate({ identity: alice, name: 'Alice', roomId: roomId0 });
    const r1 = pairing.respond(
      { identity: bob, name: 'Bob', roomId: roomId0 },
      s1.out[0] as Uint8Array
    );
    const { s2 } = honest(pairing, alice, bob);
    // Alice (re-signing properly) reveals another key than she committed to.
    const other = x25519.getPublicKey(randomBytes(32));
    const m = enc(utf8('tessera/pair/v1'), Uint8Array.of(3), s1.session.roomId, other);
    const chain = chainAfter(r1.session, m);
    const sig = ed25519.sign(enc(utf8('tessera/pair/v1/sig'), chain), alice.signingKey);
    fails(
      () => pairing.receive(structuredClone(r1.session), enc(m, sig)),
      'CommitmentOpen',
      PAIR_INITIATOR
    );
    // Bob (signing properly) confirms with a MAC of another transcript.
    const cm = enc(
      utf8('tessera/pair/v1'),
      Uint8Array.of(4),
      s2.session.roomId,
      Uint8Array.of(2),
      randomBytes(32)
    );
    const csig = ed25519.sign(
      enc(utf8('tessera/pair/v1/sig'), chainAfter(s2.session, cm)),
      bob.signingKey
    );
    fails(() => pairing.receive(s2.session, enc(cm, csig)), 'PairConfirm', PAIR_RESPONDER);
    // Once aborted, the session is closed.
    assert.throws(() => pairing.confirm(s2.session, true), { code: 'SESSION_CLOSED' });
    // Pairing with oneself is refused.
    const roomId = randomBytes(16);
    const self = pairing.initiate({ identity: alice, name: 'A', roomId });
    fails(
      () => pairing.respond({ identity: alice, name: 'A', roomId }, self.out[0] as Uint8Array),
      'SelfMessage',
      PAIR_INITIATOR,
      'MESSAGE_REJECTED'
    );
  });

  test('header refusals leave the session usable: wrong room, wrong message, bad input', () => {
    const { s1, r1 } = honest(pairing, alice, bob);
    const fresh = pairing.initiate({ identity: alice, name: 'Alice', roomId: randomBytes(16) });
    const r = pairing.respond(
      { identity: bob, name: 'Bob', roomId: s1.session.roomId },
      s1.out[0] as Uint8Array
    );
    fails(
      () => pairing.receive(fresh.session, r.out[0] as Uint8Array),
      'WrongSession',
      2,
      'MESSAGE_REJECTED'
    );
    assert.equal(fresh.session.status, 'awaitAccept');
    assert.throws(() => pairing.receive(r1.session, s1.out[0] as Uint8Array), {
      code: 'SESSION_CLOSED',
    });
    for (const bad of [
      { identity: alice, name: '', roomId: randomBytes(16) },
      { identity: alice, name: 'x'.repeat(65), roomId: randomBytes(16) },
      { identity: alice, name: 'a\nb', roomId: randomBytes(16) },
      { identity: alice, name: 'A', roomId: randomBytes(8) },
    ])
      fails(() => pairing.initiate(bad), 'PairingInput', null, 'INVALID_INPUT');
    // A non-ASCII device name is fine.
    const ok = honest(pairing, alice, bob, 'Alice’s iPhone', 'Bob’s iPad');
    assert.equal(ok.s2.session.peerName, 'Bob’s iPad');
    assert.equal(ok.r2.session.peerName, 'Alice’s iPhone');
  });

  test('a refusal aborts both sides with nothing pinned', () => {
    const { s2, r2 } = honest(pairing, alice, bob);
    const rc = pairing.confirm(r2.session, true);
    const refuse = pairing.confirm(s2.session, false);
    assert.equal(refuse.session.status, 'refused');
    assert.equal(refuse.result, undefined);
    assert.equal(refuse.session.st.shared, null);
    fails(
      () => pairing.receive(rc.session, refuse.out[0] as Uint8Array),
      'PairRefused',
      PAIR_INITIATOR
    );
    assert.equal(rc.session.status, 'aborted');
  });

  test('lockout: three failures in 10 minutes lock the peer for 10 minutes; state round-trips', () => {
    let now = 1_000_000;
    const clock = () => now;
    const l = new PairingLockout(clock);
    const peer = fingerprint(bob.public);
    assert.deepEqual(l.recordFailure(peer), { locked: false, until: null });
    now += 4 * 60_000;
    l.recordFailure(peer);
    now += 5 * 60_000;
    const third = l.recordFailure(peer);
    assert.deepEqual(third, { locked: true, until: now + 10 * 60_000 });
    assert.throws(() => l.assertUnlocked(peer), { code: 'INVALID_INPUT', check: 'PairingLocked' });
    l.assertUnlocked(fingerprint(alice.public)); // other peers are not affected
    // Persisted and reloaded (a restart), the lock holds.
    const saved = JSON.parse(JSON.stringify(l.toJSON()));
    const reloaded = new PairingLockout(clock, saved);
    now += 10 * 60_000 - 1;
    assert.equal(reloaded.status(peer).locked, true);
    now += 1;
    assert.equal(reloaded.status(peer).locked, false);
    reloaded.assertUnlocked(peer);
    // Failures spread over more than 10 minutes do not lock.
    const l2 = new PairingLockout(clock);
    for (let i = 0; i < 5; i++) {
      assert.equal(l2.recordFailure(peer).locked, false);
      now += 6 * 60_000;
    }
    // A success clears the count.
    l2.recordFailure(peer);
    l2.recordSuccess(peer);
    assert.equal(l2.status(peer).failures, 0);
    assert.throws(() => new PairingLockout(clock, { v: 2 } as never), { check: 'PairingInput' });
  });

  test('property: honest runs always agree', () => {
    const name = fc
      .string({ minLength: 1, maxLength: 20, unit: 'grapheme' })
      .filter((s) => /^[^\p{Cc}]+$/u.test(s) && new TextEncoder().encode(s).length <= 64);
    fc.assert(
      fc.property(name, name, (nI, nR) => {
        const { s2, r2 } = honest(pairing, alice, bob, nI, nR);
        assert.equal(s2.code, r2.code);
        const ic = pairing.confirm(s2.session, true);
        const rc = pairing.confirm(r2.session, true);
        assert.equal(pairing.receive(ic.session, rc.out[0] as Uint8Array).result?.name, nR);
        assert.equal(pairing.receive(rc.session, ic.out[0] as Uint8Array).result?.name, nI);
      }),
      { numRuns: 30 }
    );
  });
});

/** The running hash after the first three messages, extended by `m` (as the sender signs it). */
function chainAfter(s: PairingSession, m: Uint8Array): Uint8Array {
  return H256(TAGS.pairChain, s.st.chain, m);
}
