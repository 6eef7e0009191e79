/**
 * Session starts are idempotent by request nonce (docs/security.md A-64): a client that lost the reply to a
 * start resends it unchanged and gets the same reply, byte for byte, instead of 409 and a key
 * busy until its session expires. The same nonce on another request is still a replay. Run on
 * SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServerConfigInput } from '@tessera/server';
import { call, fresh, type TestServer, testServer } from './helpers.ts';
import { freshSchema, missing } from './services.ts';

function idempotentStarts(config: () => ServerConfigInput, dispose = async () => {}) {
  let t: TestServer;
  let token: string;
  let key: { keyId: string };
  before(async () => {
    t = await testServer(config());
    token = await t.token('dave');
    key = await (await t.client('dave')).createKey({ scheme: 'ed25519' });
  });
  after(async () => {
    await t.close();
    await dispose();
  });

  const post = (path: string, body: unknown) => call(t.url, 'POST', path, { token, body });
  const signBody = () => ({ payload: { kind: 'message', message: 'c0ffee' }, ...fresh() });

  test('a resent sign start gets the identical reply and starts no second session', async () => {
    const body = signBody();
    const first = await post(`/v1/keys/${key.keyId}/sign`, body);
    assert.equal(first.status, 201, first.text);
    const again = await post(`/v1/keys/${key.keyId}/sign`, body);
    assert.equal(again.status, 201, again.text);
    assert.equal(again.text, first.text, 'byte-identical');
    assert.equal(await t.srv.store.countSignSessions(key.keyId, 0), 1);
    const rec = await t.srv.store.getSession(first.json.sessionId as string);
    assert.equal(rec?.status, 'active');
    assert.equal(rec?.subject, 'dave');
    // What is kept is the public reply only.
    assert.deepEqual(Object.keys(first.json).sort(), [
      'expiresAt',
      'messages',
      'params',
      'party',
      'protocol',
      'serverParty',
      'sessionId',
      'totalRounds',
    ]);
    // A new request (a new nonce) meets the busy key as before.
    const other = await post(`/v1/keys/${key.keyId}/sign`, signBody());
    assert.equal(other.json.error?.code, 'KEY_BUSY');
  });

  test('the same nonce with another request is still refused as a replay', async () => {
    const body = { scheme: 'ed25519', ...fresh() };
    const first = await post('/v1/keys', body);
    assert.equal(first.status, 201, first.text);
    assert.equal((await post('/v1/keys', body)).text, first.text);
    for (const [path, other] of [
      ['/v1/keys', { ...body, label: 'changed' }],
      ['/v1/keys', { ...body, timestamp: body.timestamp + 1 }],
      [`/v1/keys/${key.keyId}/sign`, { ...signBody(), nonce: body.nonce }],
    ] as const) {
      const r = await post(path, other);
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error?.code, 'REPLAYED_REQUEST');
    }
  });

  test('two identical starts racing: one session, and both learn it', async () => {
    const k = await (await t.client('dave')).createKey({ scheme: 'ed25519' });
    const body = signBody();
    const path = `/v1/keys/${k.keyId}/sign`;
    const racing = await Promise.all([post(path, body), post(path, body)]);
    const winner = racing.find((r) => r.status === 201);
    assert.ok(winner, racing.map((r) => r.text).join('\n'));
    for (const r of racing) {
      if (r.status === 201) assert.equal(r.text, winner.text);
      else {
        // The loser came while the winner was still being answered: retryable.
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.error?.code, 'SESSION_BUSY');
        assert.ok(Number(r.headers.get('retry-after')) > 0);
      }
    }
    assert.equal((await post(path, body)).text, winner.text);
    assert.equal(await t.srv.store.countSignSessions(k.keyId, 0), 1);
  });

  test('a start that failed left nothing: its resend runs again', async () => {
    const body = { scheme: 'ed448', ...fresh() };
    for (let i = 0; i < 2; i++) {
      const r = await post('/v1/keys', body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error?.code, 'UNSUPPORTED_CURVE', 'not REPLAYED_REQUEST');
    }
  });
}

describe('idempotent starts: SQLite', () => idempotentStarts(() => ({})));

const noPostgres = await missing('postgres');
const schema = freshSchema();
describe('idempotent starts: PostgreSQL', { skip: noPostgres ?? false }, () =>
  idempotentStarts(
    () => ({ store: schema.url }),
    () => schema.drop()
  )
);
