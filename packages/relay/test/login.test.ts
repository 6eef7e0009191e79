/**
 * Login: a good login, and each way it fails (wrong origin, reused challenge, expired challenge
 * under an injected clock, signature by another key), always LOGIN_FAILED; bad tokens are
 * UNAUTHORIZED; challenges are rate limited per address.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hexToBytes } from '@noble/hashes/utils.js';
import { loginMessage } from '@tessera/relay';
import { call, Identity, post, relay, type TestRelay } from './helpers.ts';

let r: TestRelay;
before(async () => {
  r = await relay();
});
after(() => r.close());

async function attempt(
  who: Identity,
  o: { origin?: string; signer?: Identity; challenge?: string } = {}
) {
  const challenge = o.challenge ?? (await post(r.url, '/v1/relay/challenge')).body.challenge;
  const signer = o.signer ?? who;
  return post(r.url, '/v1/relay/login', {
    publicKey: who.publicKey,
    challenge,
    signature: signer.sign(loginMessage(o.origin ?? r.origin, hexToBytes(challenge))),
  });
}

test('a challenge is 32 random bytes valid 30 s; a good login gets a 15-minute token', async () => {
  const before = Date.now();
  const c = await post(r.url, '/v1/relay/challenge');
  assert.equal(c.status, 200);
  assert.match(c.body.challenge, /^[0-9a-f]{64}$/);
  assert.ok(c.body.expiresAt >= before + 30_000 && c.body.expiresAt <= Date.now() + 30_000);
  const a = new Identity();
  const l = await attempt(a, { challenge: c.body.challenge });
  assert.equal(l.status, 200);
  assert.match(l.body.token, /^[0-9a-f]{64}$/);
  assert.ok(Math.abs(l.body.expiresAt - (Date.now() + 15 * 60_000)) < 5_000);
  assert.equal(r.origin, new URL(r.url).origin);
});

test('wrong origin, reused challenge, expired challenge and wrong key are LOGIN_FAILED', async () => {
  const a = new Identity();
  const wrongOrigin = await attempt(a, { origin: 'http://evil.example' });
  assert.equal(wrongOrigin.status, 401);
  assert.equal(wrongOrigin.body.error.code, 'LOGIN_FAILED');

  const c = (await post(r.url, '/v1/relay/challenge')).body.challenge;
  assert.equal((await attempt(a, { challenge: c })).status, 200);
  const reused = await attempt(a, { challenge: c });
  assert.equal(reused.body.error.code, 'LOGIN_FAILED');

  const old = (await post(r.url, '/v1/relay/challenge')).body.challenge;
  r.clock.offset = 31_000;
  try {
    const expired = await attempt(a, { challenge: old });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, 'LOGIN_FAILED');
  } finally {
    r.clock.offset = 0;
  }

  const wrongKey = await attempt(a, { signer: new Identity() });
  assert.equal(wrongKey.body.error.code, 'LOGIN_FAILED');
  // A failed attempt spends the challenge too.
  const c2 = (await post(r.url, '/v1/relay/challenge')).body.challenge;
  await attempt(a, { challenge: c2, signer: new Identity() });
  assert.equal((await attempt(a, { challenge: c2 })).body.error.code, 'LOGIN_FAILED');
});

test('a token expires after 15 minutes; a made-up or missing token is UNAUTHORIZED', async () => {
  const a = new Identity();
  await a.login(r);
  const ok = await post(r.url, '/rooms', { manifest: '', signature: '00'.repeat(64) }, a.token);
  assert.notEqual(ok.status, 401);
  r.clock.offset = 15 * 60_000 + 1000;
  try {
    const late = await post(r.url, '/rooms', { manifest: '', signature: '00'.repeat(64) }, a.token);
    assert.equal(late.body.error.code, 'UNAUTHORIZED');
  } finally {
    r.clock.offset = 0;
  }
  const made = await call(r.url, 'GET', `/rooms/${'ab'.repeat(16)}`, undefined, 'ab'.repeat(32));
  assert.equal(made.status, 401);
  assert.equal(made.body.error.code, 'UNAUTHORIZED');
  const none = await call(r.url, 'GET', `/rooms/${'ab'.repeat(16)}`);
  assert.equal(none.body.error.code, 'UNAUTHORIZED');
});

test('a malformed login body is SCHEMA', async () => {
  const res = await post(r.url, '/v1/relay/login', { publicKey: 'zz', challenge: 1 });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'SCHEMA');
});

test('31 challenges in a minute from one address: RATE_LIMITED with Retry-After', async () => {
  const fresh = await relay();
  try {
    for (let i = 0; i < 30; i++)
      assert.equal((await post(fresh.url, '/v1/relay/challenge')).status, 200);
    const res = await post(fresh.url, '/v1/relay/challenge');
    assert.equal(res.status, 429);
    assert.equal(res.body.error.code, 'RATE_LIMITED');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
  } finally {
    await fresh.close();
  }
});
