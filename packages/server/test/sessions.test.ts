/**
 * Session isolation: every envelope's header is checked against the session before core sees
 * it (a valid body replayed into another session of the same subject, another sender or
 * recipient), and another subject's session looks missing, also while its owner's step runs
 * (docs/security.md ).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryShareStore } from '@tessera/client';
import { type Envelope, ecdsaSign, encodeEnvelope, KeyShare } from '@tessera/core';
import { memoryLedgerForTests } from '@tessera/core/testing';
import type { SqliteStore } from '@tessera/server';
import { call, fresh, fromHex, type TestServer, testServer } from './helpers.ts';

const b64 = (e: Envelope) => Buffer.from(encodeEnvelope(e)).toString('base64');
const DIGEST = '5a'.repeat(32);

describe('envelope headers and session ownership', () => {
  let t: TestServer;
  let alice: string;
  let keyId: string;
  let share: KeyShare;
  const store = new MemoryShareStore();
  before(async () => {
    t = await testServer();
    alice = await t.token('alice');
    keyId = (await (await t.client('alice', { store })).createKey({ scheme: 'ecdsa' })).keyId;
    share = KeyShare.fromBytes((await store.get(keyId)) as Uint8Array);
  });
  after(() => t.close());

  /** A signing session and the client's first envelopes for it, made with the core directly. */
  const startSign = async () => {
    const r = await call(t.url, 'POST', `/v1/keys/${keyId}/sign`, {
      token: alice,
      body: { payload: { kind: 'digest', digest: DIGEST }, ...fresh() },
    });
    assert.equal(r.status, 201, r.text);
    const params = r.json.params as { rid: string; sid: string };
    const mine = ecdsaSign.start(
      {
        share,
        signers: [1, 2],
        rid: fromHex(params.rid),
        digest: fromHex(DIGEST),
      },
      { ledger: memoryLedgerForTests() }
    );
    assert.equal(params.sid, mine.session.sid, 'params.sid is the core session id');
    return { sid: r.json.sessionId as string, out: mine.out };
  };
  const step = (sid: string, envs: Envelope[], token = alice) =>
    call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
      token,
      body: { messages: envs.map(b64) },
    });

  test('a valid envelope replayed into another session, or another sender or recipient, is a PROTOCOL_VIOLATION before core', async () => {
    const a = await startSign();
    const fromServer = await step(
      a.sid,
      a.out.map((e) => ({ ...e, from: 2 }))
    );
    assert.equal(fromServer.status, 400, fromServer.text);
    assert.equal(fromServer.json.error?.code, 'PROTOCOL_VIOLATION');
    assert.match(fromServer.json.error?.message ?? '', /envelope sender/);

    // A's envelopes, untouched, into B of the same subject and key.
    const b = await startSign();
    const replayed = await step(b.sid, a.out);
    assert.equal(replayed.json.error?.code, 'PROTOCOL_VIOLATION', replayed.text);
    assert.match(replayed.json.error?.message ?? '', /envelope session id/);
    assert.equal((await t.srv.store.getSession(b.sid))?.status, 'aborted');

    const c = await startSign();
    const toThird = await step(
      c.sid,
      c.out.map((e) => ({ ...e, to: 3 }))
    );
    assert.equal(toThird.json.error?.code, 'PROTOCOL_VIOLATION', toThird.text);
    assert.match(toThird.json.error?.message ?? '', /envelope recipient/);

    // Nothing reached the protocol: no pair marker or ban, no cheat, and the key signs.
    const db = (t.srv.store as SqliteStore).db;
    assert.deepEqual(db.prepare('SELECT * FROM pair_guard').all(), []);
    const audit = await t.srv.store.listAudit({ keyId, limit: 50 });
    assert.equal(audit.filter((e) => e.outcome === 'violation').length, 3);
    assert.equal(audit.filter((e) => e.outcome === 'abort').length, 0);
    const client = await t.client('alice', { store });
    const sig = await client.sign(keyId, { digest: DIGEST });
    assert.equal(sig.keyId, keyId);
  });

  test("another subject's session is a 404 like a missing one, even while the owner's step runs", async () => {
    const mallory = await t.token('mallory');
    const s = await startSign();
    const missing = '0'.repeat(32);
    for (const path of ['messages', 'ticket', 'abort']) {
      const body =
        path === 'messages' ? { messages: ['AAAA'] } : path === 'abort' ? { code: 'X' } : undefined;
      const theirs = await call(t.url, 'POST', `/v1/sessions/${s.sid}/${path}`, {
        token: mallory,
        ...(body ? { body } : {}),
      });
      const none = await call(t.url, 'POST', `/v1/sessions/${missing}/${path}`, {
        token: mallory,
        ...(body ? { body } : {}),
      });
      assert.equal(theirs.status, 404, `${path}: ${theirs.text}`);
      assert.equal(theirs.text, none.text, path);
    }
    // The owner's step in flight (not awaited): the owner's second is busy, mallory's is missing.
    const engine = t.srv.engine;
    const owner = engine.step('alice', s.sid, s.out.map(b64));
    await assert.rejects(engine.step('alice', s.sid, s.out.map(b64)), { code: 'SESSION_BUSY' });
    await assert.rejects(engine.step('mallory', s.sid, ['AAAA']), { code: 'NOT_FOUND' });
    await assert.rejects(engine.abortByClient('mallory', s.sid, 'X'), { code: 'NOT_FOUND' });
    assert.equal(JSON.parse(await owner).status, 'active');
  });
});
