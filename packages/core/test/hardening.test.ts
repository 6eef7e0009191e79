/**
 * Guarantees the core keeps for its callers (security hardening): the share a call passes must be
 * the session's own, secrets are wiped when a session ends, stored OT state is checked on load,
 * bans carry over a reshare unless cleared, and the key id of a reshare changes only on request.
 * Each test here failed on the code before the hardening.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  deriveChild,
  dkg,
  type EcdsaSignSession,
  type Envelope,
  ecdsaSign,
  InputError,
  KeyShare,
  type PartyId,
  ProtocolAbort,
} from '@tessera/core';
import { memoryLedgerForTests, memoryPairGuardForTests, simulate } from '@tessera/core/testing';
import type { PairwiseOffer } from '../src/dkg/pairwise.ts';
import { hex, utf8, verifyEcdsaSha256WithNode } from './helpers.ts';

const copyOf = (s: KeyShare): KeyShare => KeyShare.fromBytes(s.toBytes());
const digestOf = (text: string) => sha256(utf8(text));

/** A 2-of-2 ECDSA session driven by hand, one party's options chosen per call. */
function twoParties(shares: KeyShare[], digest?: Uint8Array) {
  const ledger = memoryLedgerForTests();
  const pairGuard = memoryPairGuardForTests();
  const rid = new Uint8Array(randomBytes(32));
  const signers = shares.map((s) => s.partyId);
  const starts = shares.map((share) =>
    ecdsaSign.start(digest ? { share, signers, rid, digest } : { share, signers, rid }, { ledger })
  );
  return { ledger, pairGuard, starts };
}

/** Every byte array reachable from `value`. */
function arraysIn(value: unknown, out: Uint8Array[] = [], seen = new Set<unknown>()): Uint8Array[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (value instanceof Uint8Array) out.push(value);
  else for (const v of Object.values(value as object)) arraysIn(v, out, seen);
  return out;
}

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

/**
 * One 2-of-2 key for the first two suites: neither changes it (they sign with derived children
 * and with copies), and an ECDSA key generation takes seconds here.
 */
let key2of2: Promise<KeyShare[]> | undefined;
const shared2of2 = () => {
  key2of2 ??= simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
  return key2of2;
};

describe('a signing call must pass the share its session started with', () => {
  let key: KeyShare[] = [];
  before(async () => {
    key = await shared2of2();
  });

  test('a session started with a child share refuses the root share and another child (InputError ShareMismatch, no culprit), stays usable and then signs', () => {
    const [c1, c2] = key.map((s) => deriveChild(s, 'm/0/7')) as [KeyShare, KeyShare];
    const digest = digestOf('child');
    const { ledger, pairGuard, starts } = twoParties([c1, c2], digest);
    const [s1, s2] = starts as [(typeof starts)[0], (typeof starts)[0]];
    let session = s1.session;
    const fromPeer = s2.out;
    for (const wrong of [key[0] as KeyShare, deriveChild(key[0] as KeyShare, 'm/0/8')]) {
      assert.throws(
        () =>
          ecdsaSign.receive(session, fromPeer[0] as Envelope, {
            share: wrong,
            ledger,
            pairGuard,
            sender: 2,
          }),
        (e: unknown) => e instanceof InputError && e.check === 'ShareMismatch' && e.culprit === null
      );
      assert.equal(session.status, 'active', 'the caller’s mistake did not abort the session');
    }
    // The right share completes the signature (both sides driven with their own shares).
    let peer = s2.session;
    let toPeer: Envelope[] = s1.out;
    let toMe: Envelope[] = fromPeer;
    let sig: ReturnType<typeof ecdsaSign.receive>['result'];
    while (toPeer.length + toMe.length > 0) {
      const nextToPeer: Envelope[] = [];
      const nextToMe: Envelope[] = [];
      for (const env of toMe) {
        const st = ecdsaSign.receive(session, env, { share: c1, ledger, pairGuard, sender: 2 });
        session = st.session;
        nextToPeer.push(...st.out);
        sig ??= st.result;
      }
      for (const env of toPeer) {
        const st = ecdsaSign.receive(peer, env, { share: c2, ledger, pairGuard, sender: 1 });
        peer = st.session;
        nextToMe.push(...st.out);
      }
      toPeer = nextToPeer;
      toMe = nextToMe;
    }
    assert.ok(sig, 'signed');
    assert.ok(verifyEcdsaSha256WithNode(c1.publicKey, utf8('child'), sig.der), 'OpenSSL verifies');
  });
});

describe('secrets are wiped when a session ends', () => {
  let key: KeyShare[] = [];
  before(async () => {
    key = await shared2of2();
  });

  test('Bob’s choice bits β and rows V are zero once round 2 ran; the whole state is zero after the signature, and after an abort', async () => {
    const [a, b] = key.map(copyOf) as [KeyShare, KeyShare];
    const { ledger, pairGuard, starts } = twoParties([a, b], digestOf('wipe'));
    const [s1, s2] = starts as [(typeof starts)[0], (typeof starts)[0]];
    const bob = s1.session.state?.bob['2'];
    assert.ok(bob && !allZero(bob.beta) && !allZero(bob.ote.V));
    const state1 = arraysIn(s1.session.state);
    const opts = (share: KeyShare, sender: PartyId) => ({ share, ledger, pairGuard, sender });
    // Round 1 both ways, then round 2 both ways, then round 3.
    let p1: EcdsaSignSession = s1.session;
    let p2: EcdsaSignSession = s2.session;
    let to1 = s2.out;
    let to2 = s1.out;
    let done = false;
    while (!done) {
      const next1: Envelope[] = [];
      const next2: Envelope[] = [];
      for (const e of to1) {
        const st = ecdsaSign.receive(p1, e, opts(a, 2));
        p1 = st.session;
        next2.push(...st.out);
        done ||= st.result !== undefined;
      }
      if (p1.round >= 3 && p1.status === 'active') {
        assert.ok(allZero(bob.beta), 'β wiped after round 2');
        assert.ok(allZero(bob.ote.V), 'V wiped after round 2');
      }
      for (const e of to2) {
        const st = ecdsaSign.receive(p2, e, opts(b, 1));
        p2 = st.session;
        next1.push(...st.out);
      }
      to1 = next1;
      to2 = next2;
    }
    assert.equal(p1.status, 'done');
    assert.ok(
      state1.filter((x) => x.length > 0).every(allZero),
      'every array of the first state is zero'
    );

    // An abort wipes too: a truncated round-1 message of party 2 makes party 1 abort
    // (MalformedMessage, which bans no one).
    const again = twoParties([a, b], digestOf('abort'));
    const [t1, t2] = again.starts as [(typeof starts)[0], (typeof starts)[0]];
    const held = arraysIn(t1.session.state).filter((x) => x.length > 0);
    const bad = t2.out.map((e) => ({ ...e, body: e.body.subarray(0, e.body.length - 1) }));
    assert.throws(() => {
      let s = t1.session;
      for (const e of bad)
        s = ecdsaSign.receive(s, e, {
          share: a,
          ledger: again.ledger,
          pairGuard: again.pairGuard,
          sender: 2,
        }).session;
    }, ProtocolAbort);
    assert.ok(held.every(allZero), 'the aborted session’s arrays are zero');
    // The shares the sessions used are untouched (a session owns what it wipes): they still sign.
    const sig = await simulate.sign('ecdsa', [a, b], digestOf('still signs'));
    assert.ok(verifyEcdsaSha256WithNode(a.publicKey, utf8('still signs'), sig.der));
  });

  test('key generation: the base-OT choice bits (which become Δ) are zero once the OT setup finished', () => {
    const sid0 = new Uint8Array(32).fill(9);
    const parties = [1, 2].map((me) =>
      dkg.start({ scheme: 'ecdsa', threshold: 2, parties: 2, me, sid0 })
    );
    const sessions = parties.map((p) => p.session);
    let queue = parties.flatMap((p) => p.out);
    let choices: Uint8Array | undefined;
    let share: KeyShare | undefined;
    while (queue.length > 0) {
      const next: Envelope[] = [];
      for (const env of queue) {
        const to = env.from === 1 ? 2 : 1;
        const st = dkg.receive(sessions[to - 1] as (typeof sessions)[0], env, {
          sender: env.from,
        });
        sessions[to - 1] = st.session;
        next.push(...st.out);
        const offers = (st.session.state as { offers?: Record<string, PairwiseOffer> } | null)
          ?.offers;
        if (to === 1 && offers?.['2']) choices ??= offers['2'].state.choices;
        if (to === 1 && st.result) share = st.result;
      }
      queue = next;
    }
    assert.ok(choices && share, 'observed the offer and the result');
    assert.ok(allZero(choices), 'the choice bits were wiped');
    // The share kept its own copy of the OT state the wiped session built.
    assert.equal(KeyShare.fromBytes(share.toBytes()).bannedPeers.length, 0);
  });
});

describe('reshare: bans carry over, the key id changes only on request', () => {
  let three: KeyShare[] = [];
  before(async () => {
    three = await simulate.keygen('ecdsa', { threshold: 2, parties: 3 });
  });

  test('a ban survives a refresh unless the dealer clears it; clearing it lets the pair sign again', async () => {
    const [a, b, c] = three.map(copyOf) as [KeyShare, KeyShare, KeyShare];
    a.ban(2);
    const refreshed = await simulate.reshare([a, c], { threshold: 2, parties: [1, 2, 3] });
    const [a2, b2] = refreshed as [KeyShare, KeyShare];
    assert.deepEqual(a2.bannedPeers, [2], 'the ban carried over');
    await assert.rejects(simulate.sign('ecdsa', [a2, b2], digestOf('x')), {
      check: 'PairBanned',
    });
    const cleared = await simulate.reshare([a, c], {
      threshold: 2,
      parties: [1, 2, 3],
      clearBans: true,
    });
    assert.deepEqual((cleared[0] as KeyShare).bannedPeers, []);
    const sig = await simulate.sign('ecdsa', cleared.slice(0, 2), digestOf('signs again'));
    assert.ok(verifyEcdsaSha256WithNode(a.publicKey, utf8('signs again'), sig.der));
    assert.equal(b.isBanned(1), false);
  });

  test('a refresh by a strict subset of holders keeps the key id; a reissue gives a new one', async () => {
    const [a, , c] = three.map(copyOf) as [KeyShare, KeyShare, KeyShare];
    const kept = await simulate.reshare([a, c], { threshold: 2, parties: [1, 2, 3] });
    assert.equal(hex((kept[1] as KeyShare).keyId), hex(a.keyId));
    const reissued = await simulate.reshare([a, c], {
      threshold: 2,
      parties: [1, 2, 3],
      reissue: true,
    });
    assert.notEqual(hex((reissued[1] as KeyShare).keyId), hex(a.keyId));
    assert.equal(hex((reissued[1] as KeyShare).publicKey), hex(a.publicKey));
  });
});
