/**
 * The store compliance suite: one set of tests, run against every store (SQLite and
 * PostgreSQL). It pins the guarantees the engine relies on: compare-and-swap steps, a nonce
 * ledger that refuses reuse even under concurrent commits, one active signing session per key,
 * atomic key effects, pair markers, one-time tickets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type KeyRecord,
  openPostgresStore,
  openSqliteStore,
  type SessionRecord,
  type StepCommit,
  type Store,
} from '@tessera/server';
import { freshSchema, missing } from './services.ts';

const id = () => randomBytes(8).toString('hex');
const bytes = (n: number) => new Uint8Array(randomBytes(n));

function session(o: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: id(),
    subject: 'alice',
    kind: 'sign',
    protocol: 'frost.sign',
    scheme: 'ed25519',
    keyId: null,
    epoch: null,
    status: 'active',
    version: 0,
    state: bytes(40),
    params: '{}',
    round: 1,
    totalRounds: 2,
    lastRequest: null,
    lastReply: null,
    createdAt: 1_000,
    updatedAt: 1_000,
    ...o,
  };
}

function key(o: Partial<KeyRecord> = {}): KeyRecord {
  return {
    keyId: id(),
    subject: 'alice',
    scheme: 'ecdsa',
    label: 'k',
    publicKey: '02'.padEnd(66, '1'),
    threshold: 2,
    parties: [1, 2],
    party: 1,
    serverParty: 2,
    epoch: 'e0',
    pendingEpoch: null,
    policy: { blindSigning: true },
    createdAt: 1_000,
    topology: null,
    recovery: null,
    retiredBy: null,
    addresses: null,
    ...o,
  };
}

function step(o: Partial<StepCommit> = {}): StepCommit {
  return {
    status: 'active',
    state: bytes(40),
    round: 2,
    lastRequest: 'req',
    lastReply: '{"ok":true}',
    updatedAt: 2_000,
    nonces: [],
    effects: [],
    audit: [],
    ...o,
  };
}

const opts = { nonces: [] as string[], exclusive: false, audit: [] };

function compliance(open: () => Promise<{ store: Store; dispose(): Promise<void> }>) {
  let store: Store;
  let dispose: () => Promise<void>;
  before(async () => {
    ({ store, dispose } = await open());
    await store.init();
    await store.init(); // migrations are idempotent
  });
  after(() => dispose());

  test('the wrapped data key is written once', async () => {
    const first = bytes(60);
    assert.deepEqual(await store.putWrappedDataKeyIfAbsent(first), first);
    assert.deepEqual(await store.putWrappedDataKeyIfAbsent(bytes(60)), first);
    assert.deepEqual(await store.getWrappedDataKey(), first);
  });

  test('a session reads back as written', async () => {
    const rec = session({ keyId: 'k1', epoch: 'e1', lastReply: 'x' });
    assert.equal(await store.createSession(rec, opts), 'ok');
    assert.deepEqual(await store.getSession(rec.id), rec);
    assert.equal(await store.getSession('nope'), null);
  });

  test("looked up for its owner, another subject's session is null, as a missing one", async () => {
    const rec = session({ subject: 'bob' });
    await store.createSession(rec, opts);
    assert.deepEqual(await store.getSession(rec.id, 'bob'), rec);
    assert.equal(await store.getSession(rec.id, 'mallory'), null);
    assert.equal(await store.getSession('nope', 'bob'), null);
  });

  test('a step commits once per version; a stale version is a conflict', async () => {
    const rec = session();
    await store.createSession(rec, opts);
    const s1 = step();
    assert.equal(await store.commitStep(rec.id, 0, s1), 'ok');
    assert.equal(await store.commitStep(rec.id, 0, step()), 'conflict');
    const got = await store.getSession(rec.id);
    assert.equal(got?.version, 1);
    assert.deepEqual(got?.state, s1.state);
    assert.equal(got?.lastReply, s1.lastReply);
    assert.equal(await store.commitStep(rec.id, 1, step({ status: 'done', state: null })), 'ok');
    assert.equal(await store.commitStep(rec.id, 2, step()), 'conflict', 'a done session is closed');
  });

  test('concurrent commits of one version: exactly one wins', async () => {
    const rec = session();
    await store.createSession(rec, opts);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.commitStep(rec.id, 0, step({ nonces: [`c${i}`] })))
    );
    assert.equal(outcomes.filter((o) => o === 'ok').length, 1);
    assert.equal(outcomes.filter((o) => o === 'conflict').length, 7);
    const used = await Promise.all(Array.from({ length: 8 }, (_, i) => store.isNonceUsed(`c${i}`)));
    assert.equal(used.filter(Boolean).length, 1, "only the winner's nonce is in the ledger");
  });

  test('a used nonce refuses the whole step, which changes nothing', async () => {
    const n = id();
    const a = session();
    const b = session();
    await store.createSession(a, opts);
    await store.createSession(b, opts);
    assert.equal(await store.commitStep(a.id, 0, step({ nonces: [n] })), 'ok');
    assert.equal(await store.isNonceUsed(n), true);
    const k = key();
    const other = id();
    const outcome = await store.commitStep(
      b.id,
      0,
      step({
        nonces: [other, n],
        effects: [{ kind: 'create', key: k, share: bytes(10) }],
        audit: [
          { at: 1, subject: 'alice', keyId: k.keyId, sessionId: b.id, action: 'x', outcome: 'ok' },
        ],
      })
    );
    assert.equal(outcome, 'nonce-reused');
    assert.deepEqual(await store.getSession(b.id), b, 'the session is untouched');
    assert.equal(await store.isNonceUsed(other), false, 'no nonce of the refused step is kept');
    assert.equal(await store.getKey(k.keyId), null, 'no effect of the refused step is kept');
    assert.equal((await store.listAudit({ keyId: k.keyId, limit: 5 })).length, 0);
  });

  test('a nonce repeated within one step is refused', async () => {
    const rec = session();
    await store.createSession(rec, opts);
    const n = id();
    assert.equal(await store.commitStep(rec.id, 0, step({ nonces: [n, n] })), 'nonce-reused');
  });

  test('two sessions racing to consume one nonce: exactly one commits', async () => {
    const recs = Array.from({ length: 6 }, () => session());
    for (const r of recs) await store.createSession(r, opts);
    const n = id();
    const outcomes = await Promise.all(
      recs.map((r) => store.commitStep(r.id, 0, step({ nonces: [n] })))
    );
    assert.equal(outcomes.filter((o) => o === 'ok').length, 1);
    assert.equal(outcomes.filter((o) => o === 'nonce-reused').length, 5);
  });

  test('a session whose first nonce was used is not created', async () => {
    const n = id();
    assert.equal(await store.createSession(session(), { ...opts, nonces: [n] }), 'ok');
    const rec = session();
    assert.equal(await store.createSession(rec, { ...opts, nonces: [n] }), 'nonce-reused');
    assert.equal(await store.getSession(rec.id), null);
  });

  test('one active signing session per key, also when two start at once', async () => {
    const keyId = id();
    const sign = (o: Partial<SessionRecord> = {}) => session({ keyId, ...o });
    const first = sign();
    assert.equal(await store.createSession(first, { ...opts, exclusive: true }), 'ok');
    assert.equal(await store.createSession(sign(), { ...opts, exclusive: true }), 'busy');
    assert.equal(
      await store.createSession(sign({ kind: 'refresh' }), { ...opts, exclusive: true }),
      'ok',
      'another kind is not blocked'
    );
    await store.commitStep(first.id, 0, step({ status: 'done', state: null }));
    const racing = await Promise.all(
      Array.from({ length: 6 }, () => store.createSession(sign(), { ...opts, exclusive: true }))
    );
    assert.equal(racing.filter((o) => o === 'ok').length, 1);
    assert.equal(racing.filter((o) => o === 'busy').length, 5);
  });

  test('one active refresh per key, also when two instances start one at once', async () => {
    const keyId = id();
    const racing = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.createSession(session({ keyId, kind: 'refresh' }), { ...opts, exclusive: true })
      )
    );
    assert.equal(racing.filter((o) => o === 'ok').length, 1);
    assert.equal(racing.filter((o) => o === 'busy').length, 5);
  });

  test('a finished key generation writes key, share and audit with the step, atomically', async () => {
    const rec = session({ kind: 'keygen' });
    await store.createSession(rec, opts);
    const k = key({ subject: 'bob', policy: { blindSigning: false, dailyLimit: 3 } });
    const share = bytes(100);
    const audit = {
      at: 5,
      subject: 'bob',
      keyId: k.keyId,
      sessionId: rec.id,
      action: 'keygen',
      outcome: 'ok',
      details: { publicKey: k.publicKey },
    };
    assert.equal(
      await store.commitStep(
        rec.id,
        0,
        step({
          status: 'done',
          state: null,
          effects: [{ kind: 'create', key: k, share }],
          audit: [audit],
        })
      ),
      'ok'
    );
    assert.deepEqual(await store.getKey(k.keyId), k);
    assert.deepEqual(await store.getKey(k.keyId, 'bob'), k);
    assert.equal(await store.getKey(k.keyId, 'mallory'), null, "another subject's key: null");
    assert.deepEqual(await store.getShare(k.keyId, k.epoch), share);
    assert.deepEqual(await store.listKeys('bob'), [k]);
    assert.deepEqual(await store.listAudit({ keyId: k.keyId, limit: 10 }), [audit]);

    // A failing effect (the key exists) rolls the whole step back.
    const again = session({ kind: 'keygen' });
    await store.createSession(again, opts);
    const n = id();
    await assert.rejects(
      store.commitStep(
        again.id,
        0,
        step({ nonces: [n], effects: [{ kind: 'create', key: k, share }] })
      )
    );
    assert.equal((await store.getSession(again.id))?.version, 0);
    assert.equal(await store.isNonceUsed(n), false);
  });

  test('refresh: the new epoch is pending until confirmed, then the old share goes', async () => {
    const k = key();
    const rec = session({ kind: 'keygen' });
    await store.createSession(rec, opts);
    await store.commitStep(
      rec.id,
      0,
      step({ effects: [{ kind: 'create', key: k, share: bytes(8) }] })
    );
    const r = session({ kind: 'refresh', keyId: k.keyId });
    await store.createSession(r, opts);
    const share1 = bytes(8);
    await store.commitStep(
      r.id,
      0,
      step({ effects: [{ kind: 'refresh', keyId: k.keyId, epoch: 'e1', share: share1 }] })
    );
    assert.equal((await store.getKey(k.keyId))?.pendingEpoch, 'e1');
    assert.equal((await store.getKey(k.keyId))?.epoch, 'e0');
    assert.equal(await store.confirmEpoch(k.keyId, 'e2'), false, 'not the pending epoch');
    assert.equal(await store.confirmEpoch(k.keyId, 'e1'), true);
    assert.equal(await store.confirmEpoch(k.keyId, 'e1'), true, 'confirming again is harmless');
    const after = await store.getKey(k.keyId);
    assert.equal(after?.epoch, 'e1');
    assert.equal(after?.pendingEpoch, null);
    assert.equal(await store.getShare(k.keyId, 'e0'), null);
    assert.deepEqual(await store.getShare(k.keyId, 'e1'), share1);
    assert.equal(await store.confirmEpoch('missing', 'e1'), false);

    const s = session({ keyId: k.keyId });
    await store.createSession(s, opts);
    const share2 = bytes(9);
    await store.commitStep(
      s.id,
      0,
      step({ effects: [{ kind: 'share', keyId: k.keyId, epoch: 'e1', share: share2 }] })
    );
    assert.deepEqual(await store.getShare(k.keyId, 'e1'), share2, 'a ban recorded in the share');
  });

  test('expiry wipes idle and old sessions, and counts follow', async () => {
    const keyId = id();
    const idle = session({ keyId, updatedAt: 10, createdAt: 10 });
    const fresh = session({ kind: 'refresh', keyId, updatedAt: 10_000_000, createdAt: 10_000_000 });
    await store.createSession(idle, opts);
    await store.createSession(fresh, opts);
    assert.equal(await store.countSignSessions(keyId, 0), 1);
    assert.equal(await store.countSignSessions(keyId, 11), 0);
    const active = await store.countActiveSessions();
    assert.ok((await store.expireSessions(100, 50)) >= 1);
    const gone = await store.getSession(idle.id);
    assert.equal(gone?.status, 'expired');
    assert.equal(gone?.state, null);
    assert.equal((await store.getSession(fresh.id))?.status, 'active');
    assert.ok((await store.countActiveSessions()) < active);
    assert.equal(await store.commitStep(idle.id, 0, step()), 'conflict');
  });

  test('a start request nonce is accepted once', async () => {
    const n = id();
    assert.equal(await store.rememberRequestNonce('alice', n, Date.now() + 60_000), true);
    assert.equal(await store.rememberRequestNonce('alice', n, Date.now() + 60_000), false);
    assert.equal(await store.rememberRequestNonce('bob', n, Date.now() + 60_000), true);
  });

  test('a start request is claimed once per subject and nonce; the reply is kept with its session', async () => {
    const n = id();
    const later = Date.now() + 60_000;
    assert.deepEqual(await store.claimStart('alice', n, 'd1', later), { state: 'claimed' });
    assert.deepEqual(await store.claimStart('alice', n, 'd1', later), { state: 'pending' });
    assert.deepEqual(await store.claimStart('alice', n, 'd2', later), { state: 'conflict' });
    assert.deepEqual(await store.claimStart('bob', n, 'd2', later), { state: 'claimed' });
    const rec = session({ subject: 'alice' });
    const request = { subject: 'alice', nonce: n, reply: '{"sessionId":"s"}' };
    assert.equal(await store.createSession(rec, { ...opts, request }), 'ok');
    assert.deepEqual(await store.claimStart('alice', n, 'd1', later), {
      state: 'replay',
      reply: '{"sessionId":"s"}',
    });
    assert.deepEqual(await store.claimStart('alice', n, 'd2', later), { state: 'conflict' });
    // A second session for the same request is not created: the reply is kept once.
    const again = session({ subject: 'alice' });
    assert.equal(
      await store.createSession(again, { ...opts, request: { ...request, reply: 'other' } }),
      'replayed'
    );
    assert.equal(await store.getSession(again.id), null);
    // A released claim (the start failed) lets the resend run again; a kept reply stays.
    await store.releaseStart('bob', n);
    assert.deepEqual(await store.claimStart('bob', n, 'd2', later), { state: 'claimed' });
    await store.releaseStart('alice', n);
    assert.equal((await store.claimStart('alice', n, 'd1', later)).state, 'replay');
    // A nonce remembered without a request digest is never replayed.
    const old = id();
    await store.rememberRequestNonce('alice', old, later);
    assert.deepEqual(await store.claimStart('alice', old, 'd1', later), { state: 'conflict' });
  });

  test('concurrent claims of one start request: exactly one is claimed', async () => {
    const n = id();
    const claims = await Promise.all(
      Array.from({ length: 6 }, () => store.claimStart('alice', n, 'd', Date.now() + 60_000))
    );
    assert.equal(claims.filter((c) => c.state === 'claimed').length, 1);
    assert.equal(claims.filter((c) => c.state === 'pending').length, 5);
  });

  test("a key's active session of a kind, with its times", async () => {
    const keyId = id();
    assert.equal(await store.activeSession(keyId, 'sign'), null);
    const rec = session({ keyId, createdAt: 5_000, updatedAt: 6_000 });
    await store.createSession(rec, { ...opts, exclusive: true });
    assert.deepEqual(await store.activeSession(keyId, 'sign'), {
      createdAt: 5_000,
      updatedAt: 6_000,
    });
    assert.equal(await store.activeSession(keyId, 'refresh'), null);
    await store.commitStep(rec.id, 0, step({ status: 'done', state: null }));
    assert.equal(await store.activeSession(keyId, 'sign'), null);
  });

  test('pair markers: one pending step at a time, owned, dated, and bans stick', async () => {
    const pair = id();
    const now = Date.now();
    assert.equal(await store.pairBegin(pair, now, 'a'), 'ok');
    assert.equal(await store.pairBegin(pair, now, 'b'), 'busy');
    await store.pairEnd(pair, 'b');
    assert.equal(await store.pairBegin(pair, now, 'c'), 'busy', 'only its owner ends a marker');
    await store.pairEnd(pair, 'a');
    assert.equal(await store.pairBegin(pair, now, 'd'), 'ok');
    assert.equal(
      await store.recoverPairMarkers(60_000),
      0,
      'a marker younger than the lease is left alone'
    );
    assert.ok((await store.recoverPairMarkers(null)) >= 1);
    assert.equal(await store.pairBegin(pair, now, 'e'), 'banned');
    await store.pairEnd(pair, 'd');
    assert.equal(await store.pairBegin(pair, now, 'f'), 'banned', 'a ban is never ended');
    const other = id();
    await store.pairBan(other);
    assert.equal(await store.pairBegin(other, now, 'g'), 'banned');
  });

  test('a WebSocket ticket is taken once, and not after it expires', async () => {
    const h = id();
    await store.putTicket(h, { subject: 'alice', sessionId: 's1', expiresAt: 5_000 });
    assert.deepEqual(await store.takeTicket(h, 4_000), { subject: 'alice', sessionId: 's1' });
    assert.equal(await store.takeTicket(h, 4_000), null);
    const late = id();
    await store.putTicket(late, { subject: 'alice', sessionId: 's1', expiresAt: 5_000 });
    assert.equal(await store.takeTicket(late, 5_001), null);
  });

  test('audit events list newest first, by key', async () => {
    const keyId = id();
    for (const i of [1, 2, 3])
      await store.audit({
        at: i,
        subject: 'x',
        keyId,
        sessionId: null,
        action: `a${i}`,
        outcome: 'ok',
      });
    const got = await store.listAudit({ keyId, limit: 2 });
    assert.deepEqual(
      got.map((e) => e.action),
      ['a3', 'a2']
    );
    assert.equal(got[0]?.details, undefined);
  });

  test('ping answers', async () => {
    await store.ping();
  });
}

describe('store compliance: SQLite', () =>
  compliance(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-store-'));
    const store = openSqliteStore(`sqlite:${join(dir, 'test.db')}`);
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }));

const noPostgres = await missing('postgres');
describe('store compliance: PostgreSQL', { skip: noPostgres ?? false }, () =>
  compliance(async () => {
    const schema = freshSchema();
    const store = openPostgresStore(schema.url, { poolSize: 8 });
    return {
      store,
      async dispose() {
        await store.close();
        await schema.drop();
      },
    };
  })
);
