/**
 * The gateway's routes in process (Fastify inject), node 1 stubbed: API keys before bodies,
 * schema errors, the routes that need no node, the refusals that must happen before any node is
 * contacted (wrong password, damaged share, wrong signing route), and the node failures mapped
 * to stable codes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bytesToHex } from '@noble/hashes/utils.js';
import { local, pairGuardKey } from '@tessera/core';
import { BanBook } from '../src/bans.ts';
import { GatewayError } from '../src/errors.ts';
import { API_KEY, type Harness, harness, json, sealedShare } from './fixtures.ts';
import { flipByte } from './helpers.ts';

const password = 'a good long password';
let h: Harness;
let ed: Awaited<ReturnType<typeof sealedShare>>;
let ec: Awaited<ReturnType<typeof sealedShare>>;
let nodeAnswer: (method: string, path: string) => Response = () => {
  throw new TypeError('fetch failed');
};

before(async () => {
  h = await harness((m, p) => nodeAnswer(m, p));
  const [share] = await local.keygen('ed25519', { threshold: 2, parties: 3 });
  const s = share as NonNullable<typeof share>;
  ed = await sealedShare(s.toBytes(), {
    scheme: 'ed25519',
    keyId: s.keyIdHex,
    epoch: bytesToHex(s.epoch),
    password,
  });
  ec = await sealedShare(new Uint8Array(64).fill(1), { scheme: 'ecdsa', password });
});
after(() => h.app.close());

const post = (url: string, payload: unknown, key: string | null = API_KEY) =>
  h.app.inject({
    method: 'POST',
    url,
    headers: key === null ? {} : { 'x-api-key': key },
    payload: payload as Record<string, unknown>,
  });

function errorOf(res: { statusCode: number; body: string }, status: number, code: string) {
  assert.equal(res.statusCode, status, res.body);
  const body = JSON.parse(res.body) as { error: { code: string; message: string } };
  assert.equal(body.error.code, code, res.body);
  assert.doesNotMatch(res.body, /\n\s+at /, 'no stack trace');
  return body.error;
}

const signBody = (s: typeof ed, extra: Record<string, unknown> = {}) => ({
  keyId: s.keyId,
  encryptedShare: s.encryptedShare,
  secretStore: s.secretStore,
  password,
  message: '68656c6c6f',
  ...extra,
});

test('health answers without an API key; the docs and the OpenAPI document are served locally', async () => {
  const health = await h.app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(JSON.parse(health.body), { ok: true });
  const spec = JSON.parse((await h.app.inject({ method: 'GET', url: '/openapi.json' })).body) as {
    paths: Record<string, unknown>;
  };
  for (const p of [
    '/v3/wallet/generate',
    '/v3/wallet/sign',
    '/v3/wallet/sign/mta',
    '/v3/wallet/recover',
    '/v3/wallet/password',
    '/v3/wallet/publickey',
    '/v3/wallet/validate/password',
    '/v3/wallet/validate/share',
    '/v3/wallet/key',
  ])
    assert.ok(spec.paths[p], p);
  const docs = await h.app.inject({ method: 'GET', url: '/docs/' });
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /swagger/i);
  assert.doesNotMatch(
    docs.body,
    /https?:\/\/(?!127\.0\.0\.1)[a-z]/i,
    'no third-party URL on the page'
  );
});

test('every wallet route wants a configured x-api-key, checked before the body is parsed', async () => {
  for (const url of [
    '/v3/wallet/generate',
    '/v3/wallet/sign',
    '/v3/wallet/sign/mta',
    '/v3/wallet/recover',
    '/v3/wallet/password',
    '/v3/wallet/publickey',
    '/v3/wallet/validate/password',
    '/v3/wallet/validate/share',
    '/v3/wallet/key',
  ]) {
    errorOf(await post(url, {}, null), 401, 'UNAUTHORIZED');
    errorOf(await post(url, {}, 'wrong-key'), 401, 'UNAUTHORIZED');
    const junk = await h.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'x-api-key': 'nope' },
      payload: '{not json',
    });
    errorOf(junk, 401, 'UNAUTHORIZED');
  }
  errorOf(
    await h.app.inject({ method: 'GET', url: '/v3/wallet/key?userId=a' }),
    401,
    'UNAUTHORIZED'
  );
});

test('schema errors are 400 SCHEMA: missing, unknown and mistyped fields, bad JSON', async () => {
  errorOf(
    await post('/v3/wallet/generate', { curve: 'p256', password, userId: 'a' }),
    400,
    'SCHEMA'
  );
  errorOf(
    await post('/v3/wallet/generate', { curve: 'ed25519', password: 'short', userId: 'a' }),
    400,
    'SCHEMA'
  );
  errorOf(
    await post('/v3/wallet/generate', { curve: 'ed25519', password, userId: 'a', x: 1 }),
    400,
    'SCHEMA'
  );
  errorOf(await post('/v3/wallet/sign', { ...signBody(ed), message: undefined }), 400, 'SCHEMA');
  errorOf(await post('/v3/wallet/sign', signBody(ed, { digest: '00'.repeat(32) })), 400, 'SCHEMA');
  errorOf(
    await post('/v3/wallet/sign/mta', signBody(ec, { message: undefined, digest: 'zz' })),
    400,
    'SCHEMA'
  );
  errorOf(await post('/v3/wallet/recover', { userId: 'a', password }), 400, 'SCHEMA');
  const bad = await h.app.inject({
    method: 'POST',
    url: '/v3/wallet/validate/password',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    payload: '{not json',
  });
  errorOf(bad, 400, 'SCHEMA');
  const big = await post('/v3/wallet/validate/password', {
    secretStore: 'v1.x',
    password: 'p'.repeat(600_000),
  });
  errorOf(big, 413, 'PAYLOAD_TOO_LARGE');
  errorOf(await h.app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND');
});

test('validate/password: true for the password, false for another; a malformed store is SECRET_STORE_INVALID', async () => {
  const ok = await post('/v3/wallet/validate/password', { secretStore: ed.secretStore, password });
  assert.deepEqual(JSON.parse(ok.body), { valid: true });
  const no = await post('/v3/wallet/validate/password', {
    secretStore: ed.secretStore,
    password: 'other',
  });
  assert.deepEqual(JSON.parse(no.body), { valid: false });
  errorOf(
    await post('/v3/wallet/validate/password', { secretStore: 'v1.AAAA', password }),
    400,
    'SECRET_STORE_INVALID'
  );
  assert.equal(h.nodeCalls.length, 0);
});

test('validate/share: a sound share is valid; a flipped byte anywhere, or junk share bytes, SHARE_CORRUPTED', async () => {
  const body = { encryptedShare: ed.encryptedShare, secretStore: ed.secretStore, password };
  assert.deepEqual(JSON.parse((await post('/v3/wallet/validate/share', body)).body), {
    valid: true,
  });
  for (const i of [0, 1, 2, 5, 40, 67, 70, 100, 500, 10_000]) {
    const flipped = { ...body, encryptedShare: flipByte(ed.encryptedShare, i, 0x20) };
    const r = await post('/v3/wallet/validate/share', flipped);
    assert.equal(r.statusCode, 200, r.body);
    const v = JSON.parse(r.body) as { valid: boolean; reason?: string };
    assert.equal(v.valid, false);
    assert.equal(v.reason, 'SHARE_CORRUPTED');
  }
  const junk = { encryptedShare: ec.encryptedShare, secretStore: ec.secretStore, password };
  assert.deepEqual(JSON.parse((await post('/v3/wallet/validate/share', junk)).body), {
    valid: false,
    reason: 'SHARE_CORRUPTED',
  });
  errorOf(
    await post('/v3/wallet/validate/share', { ...body, password: 'wrong' }),
    400,
    'INVALID_PASSWORD'
  );
  assert.equal(h.nodeCalls.length, 0);
});

test('password: the new store opens the unchanged share with the new password only', async () => {
  const r = await post('/v3/wallet/password', {
    secretStore: ed.secretStore,
    password,
    newPassword: 'a new password',
  });
  assert.equal(r.statusCode, 200, r.body);
  const { secretStore } = JSON.parse(r.body) as { secretStore: string };
  const body = { encryptedShare: ed.encryptedShare, secretStore, password: 'a new password' };
  assert.deepEqual(JSON.parse((await post('/v3/wallet/validate/share', body)).body), {
    valid: true,
  });
  errorOf(await post('/v3/wallet/validate/share', { ...body, password }), 400, 'INVALID_PASSWORD');
  errorOf(
    await post('/v3/wallet/password', {
      secretStore: ed.secretStore,
      password: 'wrong',
      newPassword: 'whatever123',
    }),
    400,
    'INVALID_PASSWORD'
  );
});

test('sign refuses before contacting any node: wrong password, damaged share, wrong route, other key', async () => {
  const calls = h.nodeCalls.length;
  errorOf(
    await post('/v3/wallet/sign', signBody(ed, { password: 'wrong' })),
    400,
    'INVALID_PASSWORD'
  );
  errorOf(
    await post(
      '/v3/wallet/sign',
      signBody(ed, { encryptedShare: flipByte(ed.encryptedShare, 300, 1) })
    ),
    400,
    'SHARE_CORRUPTED'
  );
  const e1 = errorOf(await post('/v3/wallet/sign/mta', signBody(ed)), 400, 'WRONG_SIGNING_METHOD');
  assert.match(e1.message, /\/v3\/wallet\/sign\b/);
  const e2 = errorOf(await post('/v3/wallet/sign', signBody(ec)), 400, 'WRONG_SIGNING_METHOD');
  assert.match(e2.message, /\/v3\/wallet\/sign\/mta/);
  errorOf(await post('/v3/wallet/sign', signBody(ed, { keyId: ec.keyId })), 400, 'SHARE_MISMATCH');
  errorOf(
    await post('/v3/wallet/sign', signBody(ed, { secretStore: ec.secretStore })),
    400,
    'SHARE_MISMATCH'
  );
  assert.equal(h.nodeCalls.length, calls, 'no request reached node 1');
});

test('node 1 down is 503 NODE_UNAVAILABLE with Retry-After; its codes pass through with sensible statuses', async () => {
  const body = { keyId: ed.keyId, userId: 'alice' };
  nodeAnswer = () => {
    throw new TypeError('fetch failed');
  };
  const down = await post('/v3/wallet/publickey', body);
  errorOf(down, 503, 'NODE_UNAVAILABLE');
  assert.ok(Number(down.headers['retry-after']) >= 1);
  nodeAnswer = () =>
    json(503, { error: { code: 'UNAVAILABLE', message: 'store down' } }, { 'retry-after': '3' });
  const busy = await post('/v3/wallet/publickey', body);
  errorOf(busy, 503, 'NODE_UNAVAILABLE');
  assert.equal(busy.headers['retry-after'], '3');
  nodeAnswer = () => json(401, { error: { code: 'UNAUTHORIZED', message: 'bad token' } });
  errorOf(await post('/v3/wallet/publickey', body), 502, 'NODE_AUTH_FAILED');
  nodeAnswer = () => json(404, { error: { code: 'NOT_FOUND', message: 'key not found' } });
  errorOf(await post('/v3/wallet/publickey', body), 404, 'NOT_FOUND');
  nodeAnswer = () => json(410, { error: { code: 'KEY_RETIRED', message: 'recovered since' } });
  errorOf(await post('/v3/wallet/publickey', body), 410, 'KEY_RETIRED');
  nodeAnswer = () =>
    json(403, { error: { code: 'ROLE_FORBIDDEN', message: 'node 2 does not co-sign' } });
  errorOf(await post('/v3/wallet/publickey', body), 403, 'ROLE_FORBIDDEN');
  nodeAnswer = () => json(500, { error: { code: 'INTERNAL', message: 'boom' } });
  errorOf(await post('/v3/wallet/publickey', body), 502, 'INTERNAL');
});

test('publickey: addresses from the key node 1 records (Ethereum and P2WPKH; Solana)', async () => {
  const info = (scheme: string, publicKey: string) => ({
    keyId: ed.keyId,
    scheme,
    label: '',
    publicKey,
    threshold: 2,
    parties: [1, 2, 3],
    party: 1,
    epoch: '00'.repeat(32),
    policy: { blindSigning: false },
    createdAt: 0,
  });
  // The secp256k1 generator: its addresses are well known.
  const g = '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798';
  nodeAnswer = () => json(200, info('ecdsa', g));
  const r = JSON.parse(
    (await post('/v3/wallet/publickey', { keyId: ed.keyId, userId: 'alice' })).body
  );
  assert.deepEqual(r, {
    publicKey: g,
    curve: 'secp256k1',
    addresses: {
      ethereum: '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf',
      bitcoinP2wpkh: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4',
    },
  });
  nodeAnswer = () => json(200, info('ed25519', '00'.repeat(32)));
  const s = JSON.parse(
    (await post('/v3/wallet/publickey', { keyId: ed.keyId, userId: 'alice' })).body
  );
  assert.deepEqual(s, {
    publicKey: '00'.repeat(32),
    curve: 'ed25519',
    addresses: { solana: '11111111111111111111111111111111' },
  });
});

test("publickey with a key id alone asks node 1 with the gateway's scoped token; with a userId, as that user", async () => {
  const claims = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as {
      sub: string;
      scope?: string;
    };
  nodeAnswer = () => json(200, { keyId: ed.keyId, scheme: 'ed25519', publicKey: '00'.repeat(32) });
  const first = h.nodeCalls.length;
  assert.equal((await post('/v3/wallet/publickey', { keyId: ed.keyId })).statusCode, 200);
  assert.equal(
    (await post('/v3/wallet/publickey', { keyId: ed.keyId, userId: 'alice' })).statusCode,
    200
  );
  assert.deepEqual(h.nodeCalls.slice(first), [
    `GET /v1/keys/${ed.keyId}/public`,
    `GET /v1/keys/${ed.keyId}/public`,
  ]);
  const [service, user] = h.nodeTokens.slice(first).map(claims);
  // What node 1 answers is checked: another key's facts, or no curve point, is a node fault.
  nodeAnswer = () => json(200, { keyId: ec.keyId, scheme: 'ed25519', publicKey: '00'.repeat(32) });
  errorOf(await post('/v3/wallet/publickey', { keyId: ed.keyId }), 502, 'NODE_FAILED');
  nodeAnswer = () => json(200, { keyId: ed.keyId, scheme: 'ecdsa', publicKey: '05'.repeat(33) });
  errorOf(await post('/v3/wallet/publickey', { keyId: ed.keyId }), 502, 'NODE_FAILED');
  assert.equal(service?.scope, 'tessera:keys.public');
  assert.match(service?.sub ?? '', / /, 'a subject no userId can have');
  assert.deepEqual([user?.sub, user?.scope], ['alice', undefined]);
});

test('key: list from node 1 with a token for the user; metadata registered with PATCH /v1/keys/:keyId', async () => {
  nodeAnswer = (m, p) =>
    m === 'GET' && p === '/v1/keys' ? json(200, { keys: [] }) : json(200, {});
  const list = await h.app.inject({
    method: 'GET',
    url: '/v3/wallet/key?userId=alice',
    headers: { 'x-api-key': API_KEY },
  });
  assert.deepEqual(JSON.parse(list.body), { keys: [] });
  const r = await post('/v3/wallet/key', {
    userId: 'alice',
    keyId: ed.keyId,
    label: 'main',
    addresses: { ethereum: '0xabc' },
  });
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(h.nodeCalls.at(-1), `PATCH /v1/keys/${ed.keyId}`);
  nodeAnswer = () => json(404, { error: { code: 'NOT_FOUND', message: 'route not found' } });
  errorOf(
    await post('/v3/wallet/key', { userId: 'alice', keyId: ed.keyId, label: 'x' }),
    404,
    'NOT_FOUND'
  );
});

test('a key whose pair with node 1 is banned in DATA/bans/ does not sign: 423 KEY_LOCKED, node 1 not contacted', async () => {
  const [share] = await local.keygen('ecdsa', { threshold: 2, parties: 2 });
  const s = share as NonNullable<typeof share>;
  const sealed = await sealedShare(s.toBytes(), {
    scheme: 'ecdsa',
    keyId: s.keyIdHex,
    epoch: bytesToHex(s.epoch),
    password,
  });
  // What another instance on the same data directory wrote after node 1 failed a check.
  await new BanBook(h.data).ban(pairGuardKey(s, 2));
  const calls = h.nodeCalls.length;
  const r = await post(
    '/v3/wallet/sign/mta',
    signBody(sealed, { message: undefined, digest: '11'.repeat(32) })
  );
  errorOf(r, 423, 'KEY_LOCKED');
  assert.equal(h.nodeCalls.length, calls);
});

test("a share of a key pinned to other nodes' fingerprints is refused before any node call", async () => {
  const [share] = await local.keygen('ed25519', { threshold: 2, parties: 3 });
  const s = share as NonNullable<typeof share>;
  const node = (fp: string) => ({ url: 'http://elsewhere.invalid', fingerprint: fp.repeat(32) });
  const sealed = await sealedShare(s.toBytes(), {
    scheme: 'ed25519',
    keyId: s.keyIdHex,
    epoch: bytesToHex(s.epoch),
    password,
    nodes: { node1: node('ab'), node2: node('ee') },
  });
  const calls = h.nodeCalls.length;
  const e = errorOf(await post('/v3/wallet/sign', signBody(sealed)), 400, 'BAD_INPUT');
  assert.match(e.message, /other nodes/);
  assert.equal(h.nodeCalls.length, calls);
});

test('a full hashing queue is 503 BUSY with Retry-After, and no node is contacted', async () => {
  const busy = await harness(undefined, {
    kdf: async () => {
      throw new GatewayError('BUSY', 'too many password operations are waiting; retry shortly', {
        retryAfter: 1,
      });
    },
  });
  const r = await busy.app.inject({
    method: 'POST',
    url: '/v3/wallet/generate',
    headers: { 'x-api-key': API_KEY },
    payload: { curve: 'ed25519', password, userId: 'alice' },
  });
  errorOf(r, 503, 'BUSY');
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(busy.nodeCalls.length, 0);
  await busy.app.close();
});

test('no password, share, secret store, API key or token appears in the logs', async () => {
  const canaryPassword = 'CANARY-password-7f3a9c';
  const s = await sealedShare(new Uint8Array(200).fill(0x5a), {
    scheme: 'ed25519',
    password: canaryPassword,
  });
  nodeAnswer = () => json(500, { error: { code: 'INTERNAL', message: 'x' } });
  await post('/v3/wallet/validate/password', {
    secretStore: s.secretStore,
    password: canaryPassword,
  });
  await post('/v3/wallet/validate/share', {
    encryptedShare: s.encryptedShare,
    secretStore: s.secretStore,
    password: canaryPassword,
  });
  await post('/v3/wallet/password', {
    secretStore: s.secretStore,
    password: canaryPassword,
    newPassword: `${canaryPassword}-new`,
  });
  await post('/v3/wallet/sign', {
    keyId: s.keyId,
    encryptedShare: s.encryptedShare,
    secretStore: s.secretStore,
    password: canaryPassword,
    message: '00',
  });
  await post('/v3/wallet/sign', {
    keyId: s.keyId,
    encryptedShare: s.encryptedShare,
    secretStore: s.secretStore,
    password: 'wrong',
    message: '00',
  });
  await post('/v3/wallet/generate', {
    curve: 'ed25519',
    password: canaryPassword,
    userId: 'x',
    bogus: s.secretStore,
  });
  await post('/v3/wallet/publickey', { keyId: s.keyId, userId: 'alice' });
  const all = h.logs.join('');
  assert.ok(all.length > 0 && all.includes('"statusCode"'), 'requests are logged');
  for (const secret of [
    canaryPassword,
    s.encryptedShare.slice(3, 40),
    s.secretStore.slice(3, 40),
    API_KEY,
    'Bearer ',
    'eyJ', // any JWT
  ])
    assert.ok(!all.includes(secret), `the logs contain ${secret.slice(0, 12)}…`);
});
