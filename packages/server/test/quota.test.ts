/**
 * The per-subject hourly quotas count accepted starts only (docs/security.md A-68): requests refused for a
 * stale timestamp, an unsupported curve, a missing key or the key's policy cost nothing, and an
 * accepted one still counts. Counted in the process, and in Redis shared by instances.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ServerConfigInput } from '@tessera/server';
import { call, fresh, type TestServer, testServer } from './helpers.ts';
import { missing, REDIS_URL } from './services.ts';

function quotas(extra: () => ServerConfigInput) {
  let t: TestServer;
  before(async () => {
    t = await testServer({
      ...extra(),
      limits: { keygensPerHourPerSubject: 10, signsPerHourPerSubject: 3 },
      // One signature per key and day: the second request on a key is a policy refusal.
      policy: { blindSigning: false, dailyLimit: 1 },
    });
  });
  after(() => t.close());

  test('ten refused key generations, then a valid one with a limit of 10: accepted', async () => {
    const token = await t.token('erin');
    const keygen = (body: unknown) => call(t.url, 'POST', '/v1/keys', { token, body });
    for (let i = 0; i < 10; i++) {
      const stale = await keygen({
        ...fresh(),
        scheme: 'ed25519',
        timestamp: Date.now() - 3600_000,
      });
      assert.equal(stale.json.error?.code, 'STALE_REQUEST');
      const curve = await keygen({ scheme: 'ed448', ...fresh() });
      assert.equal(curve.json.error?.code, 'UNSUPPORTED_CURVE');
    }
    const ok = await keygen({ scheme: 'ed25519', ...fresh() });
    assert.equal(ok.status, 201, ok.text);
    // Accepted starts still count: nine more, then the limit.
    for (let i = 0; i < 9; i++)
      assert.equal((await keygen({ scheme: 'ed25519', ...fresh() })).status, 201);
    const over = await keygen({ scheme: 'ed25519', ...fresh() });
    assert.equal(over.status, 429, over.text);
    assert.equal(over.json.error?.code, 'RATE_LIMITED');
    assert.ok(Number(over.headers.get('retry-after')) > 3500);
    // Another subject has its own quota.
    const other = await call(t.url, 'POST', '/v1/keys', {
      token: await t.token('frank'),
      body: { scheme: 'ed25519', ...fresh() },
    });
    assert.equal(other.status, 201);
  });

  test('sign requests refused by policy, for a missing key or a bad payload do not count', async () => {
    const c = await t.client('gina');
    const token = await t.token('gina');
    const sign = (keyId: string, payload: unknown) =>
      call(t.url, 'POST', `/v1/keys/${keyId}/sign`, { token, body: { payload, ...fresh() } });
    const message = { message: 'aa' };
    const keys = [];
    for (let i = 0; i < 4; i++) keys.push(await c.createKey({ scheme: 'ed25519' }));
    const [a, b, cc, d] = keys.map((k) => k.keyId) as [string, string, string, string];
    await c.sign(a, message);
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await sign(a, { kind: 'message', ...message })).json.error?.code,
        'POLICY_DENIED'
      );
      assert.equal(
        (await sign('ab'.repeat(32), { kind: 'message', ...message })).json.error?.code,
        'NOT_FOUND'
      );
      // An Ed25519 key signs no digest.
      const digest = { kind: 'digest', digest: '11'.repeat(32) };
      assert.equal((await sign(b, digest)).json.error?.code, 'BAD_PAYLOAD');
    }
    // Two more accepted signatures reach the limit of 3; the fourth is over it.
    await c.sign(b, message);
    await c.sign(cc, message);
    const over = await sign(d, { kind: 'message', ...message });
    assert.equal(over.status, 429, over.text);
    assert.equal(over.json.error?.code, 'RATE_LIMITED');
  });
}

describe('quotas counted in the process', () => quotas(() => ({})));

const noRedis = await missing('redis');
describe('quotas counted in Redis', { skip: noRedis ?? false }, () =>
  quotas(() => ({ redis: REDIS_URL, redisPrefix: `t${randomBytes(4).toString('hex')}:` }))
);
