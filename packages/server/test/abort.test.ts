/**
 * `POST /v1/sessions/:sid/abort`: a client that gives up tells the server, which destroys the
 * session and frees the key at once (no KEY_BUSY until the idle expiry), audited.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryShareStore } from '@tessera/client';
import { encodeEnvelope, frostSign, KeyShare } from '@tessera/core';
import { memoryLedgerForTests } from '@tessera/core/testing';
import { call, fresh, fromHex, type TestServer, testServer } from './helpers.ts';

describe('client abort', () => {
  let t: TestServer;
  let alice: string;
  let keyId: string;
  before(async () => {
    t = await testServer();
    alice = await t.token('alice');
    keyId = (await (await t.client('alice')).createKey({ scheme: 'ed25519' })).keyId;
  });
  after(() => t.close());

  const startSign = (token = alice) =>
    call(t.url, 'POST', `/v1/keys/${keyId}/sign`, {
      token,
      body: { payload: { kind: 'message', message: 'ab' }, ...fresh() },
    });
  const abort = (sid: string, code = 'DIGEST_MISMATCH', token = alice) =>
    call(t.url, 'POST', `/v1/sessions/${sid}/abort`, { token, body: { code } });

  test('an aborted signing session frees the key at once; a second abort answers the same', async () => {
    const first = await startSign();
    const sid = first.json.sessionId as string;
    assert.equal((await startSign()).json.error?.code, 'KEY_BUSY', 'one signing at a time');
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/sessions/${sid}/ws`, {
      headers: { authorization: `Bearer ${alice}` },
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const wsClosed = new Promise<string>((resolve) =>
      ws.once('message', (m) => resolve(JSON.parse(String(m)).error.code))
    );

    const r = await abort(sid);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { sessionId: sid, status: 'aborted' });
    assert.deepEqual((await abort(sid)).json, { sessionId: sid, status: 'aborted' });
    assert.equal(await wsClosed, 'SESSION_CLOSED', 'the open WebSocket is told');
    const rec = await t.srv.store.getSession(sid);
    assert.equal(rec?.status, 'aborted');
    assert.equal(rec?.state, null, 'state destroyed');

    const next = await startSign();
    assert.equal(next.status, 201, `a new signing starts at once: ${next.text}`);
    const step = await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
      token: alice,
      body: { messages: ['AAAA'] },
    });
    assert.equal(step.json.error?.code, 'SESSION_CLOSED');
    const audit = await t.srv.store.listAudit({ keyId, limit: 20 });
    const row = audit.find((e) => e.sessionId === sid && e.outcome === 'client-abort');
    assert.deepEqual(row?.details, { code: 'DIGEST_MISMATCH' });
    assert.equal(row?.subject, 'alice');
    await abort(next.json.sessionId as string);
  });

  test("another subject's abort is a 404; a bad code is a 400; a finished session is 410", async () => {
    const s = await startSign();
    const sid = s.json.sessionId as string;
    const mallory = await t.token('mallory');
    const theirs = await abort(sid, 'X', mallory);
    assert.equal(theirs.status, 404, theirs.text);
    assert.equal(theirs.json.error?.code, 'NOT_FOUND');
    assert.equal((await abort(sid, 'no spaces!')).json.error?.code, 'SCHEMA');
    assert.equal((await abort(sid, 'x'.repeat(65))).json.error?.code, 'SCHEMA');
    assert.equal((await t.srv.store.getSession(sid))?.status, 'active', 'untouched');
    await abort(sid);
  });

  test('a done session answers SESSION_CLOSED, an expired one SESSION_EXPIRED, one mid-step SESSION_BUSY', async () => {
    // A clock of our own: expiry without sleeping, whatever the machine's load.
    let skew = 0;
    const u = await testServer({}, { now: () => Date.now() + skew });
    try {
      const token = await u.token('bob');
      const store = new MemoryShareStore();
      const c = await u.client('bob', { store });
      const key = await c.createKey({ scheme: 'ed25519' });
      await c.sign(key.keyId, { message: 'ef' });
      const done = (await u.srv.store.listAudit({ keyId: key.keyId, limit: 20 })).find(
        (e) => e.action === 'sign' && e.outcome === 'ok'
      )?.sessionId as string;
      const closed = await call(u.url, 'POST', `/v1/sessions/${done}/abort`, {
        token,
        body: { code: 'LATE' },
      });
      assert.equal(closed.status, 410, closed.text);
      assert.equal(closed.json.error?.code, 'SESSION_CLOSED');

      const start = () =>
        call(u.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
          token,
          body: { payload: { kind: 'message', message: 'ab' }, ...fresh() },
        });

      // A real round-1 step, not awaited: it is in the compute pool when the abort comes.
      const started = (await start()).json as { sessionId: string; params: { rid: string } };
      const share = KeyShare.fromBytes((await store.get(key.keyId)) as Uint8Array);
      const mine = frostSign.start(
        {
          share,
          signers: [1, 2],
          message: fromHex('ab'),
          rid: fromHex(started.params.rid),
        },
        { ledger: memoryLedgerForTests() }
      );
      const messages = mine.out.map((e) => Buffer.from(encodeEnvelope(e)).toString('base64'));
      const inFlight = u.srv.engine.step('bob', started.sessionId, messages);
      await assert.rejects(u.srv.engine.abortByClient('bob', started.sessionId, 'X'), {
        code: 'SESSION_BUSY',
      });
      assert.equal(JSON.parse(await inFlight).status, 'active');
      await u.srv.engine.abortByClient('bob', started.sessionId, 'X');

      const idle = (await start()).json.sessionId as string;
      skew = u.config.sessions.idleMs + 1_000;
      const expired = await call(u.url, 'POST', `/v1/sessions/${idle}/abort`, {
        token,
        body: { code: 'LATE' },
      });
      assert.equal(expired.status, 410, expired.text);
      assert.equal(expired.json.error?.code, 'SESSION_EXPIRED');
    } finally {
      await u.close();
    }
  });
});
