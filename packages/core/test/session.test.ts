/** The session layer: round collector, header checks, abort semantics, single use, persistence. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  type DkgSession,
  dkg,
  type Envelope,
  MessageRejected,
  ProtocolAbort,
  SessionClosed,
  type Step,
} from '@tessera/core';

const sid0 = new Uint8Array(32).fill(9);
const start = (me: number, parties = 3) =>
  dkg.start({ scheme: 'ed25519', threshold: 2, parties, me, sid0 });
const r1 = (s: Step<DkgSession, never>) => s.out[0] as Envelope;

describe('round collector', () => {
  let p1: Step<DkgSession, never>;
  let p2: Step<DkgSession, never>;
  let p3: Step<DkgSession, never>;
  before(() => {
    p1 = start(1);
    p2 = start(2);
    p3 = start(3);
  });

  const rejects = (env: Envelope, check: string) => {
    const fresh = start(1);
    assert.throws(
      () => dkg.receive(fresh.session, env),
      (e: unknown) => e instanceof MessageRejected && e.check === check
    );
    // A rejected message leaves the session usable.
    assert.equal(fresh.session.status, 'active');
    dkg.receive(fresh.session, r1(p2));
  };

  test('a message with another session id is rejected (WrongSession)', () =>
    rejects({ ...r1(p2), sid: '00'.repeat(32) }, 'WrongSession'));
  test('a message of another protocol is rejected (WrongProtocol)', () =>
    rejects({ ...r1(p2), proto: 'frost.sign' }, 'WrongProtocol'));
  test('a message from an unknown party is rejected (UnknownSender)', () =>
    rejects({ ...r1(p2), from: 9 }, 'UnknownSender'));
  test('a message claiming to be from ourselves is rejected (SelfMessage)', () =>
    rejects({ ...r1(p2), from: 1 }, 'SelfMessage'));
  test('a p2p message addressed to another party is rejected (WrongRecipient)', () =>
    rejects({ ...r1(p2), to: 3 }, 'WrongRecipient'));
  test('a message for a round that does not exist is rejected (WrongRound)', () =>
    rejects({ ...r1(p2), round: 5 }, 'WrongRound'));
  test('a p2p message where a broadcast is expected is rejected (UnexpectedKind)', () =>
    rejects({ ...r1(p2), to: 1 }, 'UnexpectedKind'));

  test('an identical second copy is rejected (Duplicate) and the session stays usable', () => {
    const s = dkg.receive(start(1).session, r1(p2));
    assert.throws(
      () => dkg.receive(s.session, r1(p2)),
      (e: unknown) => e instanceof MessageRejected && e.check === 'Duplicate'
    );
    assert.equal(s.session.status, 'active');
  });

  test('a different second message from the same sender aborts naming it (Equivocation)', () => {
    const s = dkg.receive(start(1).session, r1(p2));
    const body = r1(p2).body.slice();
    body[body.length - 1] = (body[body.length - 1] as number) ^ 1;
    assert.throws(
      () => dkg.receive(s.session, { ...r1(p2), body }),
      (e: unknown) => e instanceof ProtocolAbort && e.check === 'Equivocation' && e.culprit === 2
    );
    assert.throws(() => dkg.receive(s.session, r1(p3)), SessionClosed);
  });

  test('a transport-authenticated sender that differs from `from` aborts naming the real sender', () => {
    assert.throws(
      () => dkg.receive(start(1).session, r1(p2), { sender: 3 }),
      (e: unknown) => e instanceof ProtocolAbort && e.check === 'SenderMismatch' && e.culprit === 3
    );
  });

  test('receive consumes the session it is given (a stale copy cannot be driven)', () => {
    const s0 = start(1).session;
    dkg.receive(s0, r1(p2));
    assert.equal(s0.status, 'consumed');
    assert.throws(() => dkg.receive(s0, r1(p3)), SessionClosed);
  });

  test('an early message for the next round is buffered and used when the round opens', () => {
    // Party 2 finishes round 1 first and sends its round-2 messages before party 3's round 1 arrives.
    let q2 = dkg.receive(p2.session, r1(p1));
    q2 = dkg.receive(q2.session, r1(p3));
    const forP1 = q2.out.filter((e) => e.to === 0 || e.to === 1);
    assert.equal(forP1.length, 2);
    let s = dkg.receive(p1.session, r1(p2)).session;
    for (const e of forP1) s = dkg.receive(s, e).session;
    assert.equal(s.round, 1);
    const after = dkg.receive(s, r1(p3));
    assert.equal(after.session.round, 2);
    assert.equal(after.out.length, 3);
  });
});

describe('persistence', () => {
  test('a key generation survives serialising every session after every step', () => {
    const n = 2;
    let parties = [start(1, n), start(2, n)].map((s) => ({ session: s.session, out: s.out }));
    const results: unknown[] = [];
    for (let round = 0; round < 4; round++) {
      const outs = parties.flatMap((p, k) => p.out.map((e) => ({ e, from: k })));
      parties = parties.map((p, k) => {
        let session = dkg.decodeSession(dkg.encodeSession(p.session));
        const out: Envelope[] = [];
        for (const { e, from } of outs) {
          if (from === k) continue;
          const step = dkg.receive(session, e);
          session = dkg.decodeSession(dkg.encodeSession(step.session));
          out.push(...step.out);
          if (step.result) results.push(step.result);
        }
        return { session, out };
      });
    }
    assert.equal(results.length, 2);
  });

  test('session bytes of another protocol or format are refused', () => {
    assert.throws(() => dkg.decodeSession(new TextEncoder().encode('{"v":1}')), {
      code: 'INVALID_INPUT',
    });
  });
});
