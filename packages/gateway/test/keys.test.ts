/**
 * The gateway's signing key and its tokens: `init` writes a 0600 private JWK and the public
 * JWKS, refuses to replace a key without `force`; tokens verify against the JWKS with the
 * claims the nodes check and live at most 120 s. API keys compare in constant time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ApiKeys } from '../src/auth.ts';
import { GatewayConfigError, loadGatewayConfig } from '../src/config.ts';
import { initGatewayKey, loadGatewayKey } from '../src/keyfile.ts';
import { TokenMinter } from '../src/token.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gw-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('init writes the private key 0600 and the JWKS; a second init without force is refused', async () => {
  const { jwks } = await initGatewayKey(dir);
  assert.equal(jwks, join(dir, 'gateway.jwks.json'));
  assert.equal(statSync(join(dir, 'gateway-key.json')).mode & 0o777, 0o600);
  const set = JSON.parse(readFileSync(jwks, 'utf8')) as { keys: Record<string, unknown>[] };
  assert.equal(set.keys.length, 1);
  const k = set.keys[0] as Record<string, unknown>;
  assert.equal(k.kty, 'OKP');
  assert.equal(k.crv, 'Ed25519');
  assert.equal(k.alg, 'EdDSA');
  assert.equal(k.use, 'sig');
  assert.equal(typeof k.kid, 'string');
  assert.equal(k.d, undefined, 'no private member in the JWKS');
  await assert.rejects(initGatewayKey(dir), GatewayConfigError);
  const before = readFileSync(join(dir, 'gateway-key.json'), 'utf8');
  await initGatewayKey(dir, { force: true });
  assert.notEqual(readFileSync(join(dir, 'gateway-key.json'), 'utf8'), before);
});

test('tokens verify against the JWKS with iss, aud, sub, iat, exp and kid, for at most 120 s', async () => {
  const key = await loadGatewayKey(dir);
  const minter = new TokenMinter(key, { issuer: 'tessera', audience: 'tessera', ttlSeconds: 120 });
  const token = await minter.mint('alice');
  const jwks = JSON.parse(readFileSync(join(dir, 'gateway.jwks.json'), 'utf8'));
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: 'tessera',
    audience: 'tessera',
    algorithms: ['EdDSA'],
    requiredClaims: ['sub', 'exp', 'iat'],
  });
  assert.equal(payload.sub, 'alice');
  assert.ok((payload.exp as number) - (payload.iat as number) <= 120);
  assert.equal(decodeProtectedHeader(token).kid, key.kid);
  assert.throws(() => new TokenMinter(key, { issuer: 'a', audience: 'b', ttlSeconds: 121 }));
  const f = minter.forSubject('bob');
  assert.equal(await f(), await f(), 'one token per request while it is young');
});

test('a missing key file is a configuration error naming init', async () => {
  await assert.rejects(loadGatewayKey(join(dir, 'nope')), /tessera gateway init/);
});

test('API keys: only a configured key passes; empty and missing headers do not', () => {
  const keys = new ApiKeys(['k1', 'a-longer-second-key']);
  keys.check('k1');
  keys.check('a-longer-second-key');
  for (const bad of [undefined, '', 'k', 'k1 ', 'K1', ['k1'], 'x'.repeat(5000)])
    assert.throws(() => keys.check(bad as string), /x-api-key/);
});

test('config: every missing variable is named; flags win over the environment', () => {
  const env = {
    TESSERA_GATEWAY_NODE1_URL: 'http://127.0.0.1:1',
    TESSERA_GATEWAY_NODE2_URL: 'http://127.0.0.1:2/',
    TESSERA_GATEWAY_NODE1_FINGERPRINT: 'ab'.repeat(32),
    TESSERA_GATEWAY_NODE2_FINGERPRINT: 'cd'.repeat(32),
    TESSERA_GATEWAY_API_KEYS: 'k1, k2',
    TESSERA_GATEWAY_PORT: '9000',
  };
  const c = loadGatewayConfig({ data: dir, port: 0 }, env);
  assert.equal(c.port, 0);
  assert.equal(c.host, '127.0.0.1');
  assert.deepEqual(c.apiKeys, ['k1', 'k2']);
  assert.equal(c.nodes.node2.url, 'http://127.0.0.1:2');
  assert.equal(c.token.issuer, 'tessera');
  assert.equal(c.token.audience, 'tessera');
  for (const name of Object.keys(env).filter((n) => n !== 'TESSERA_GATEWAY_PORT')) {
    const { [name]: _, ...rest } = env as Record<string, string>;
    assert.throws(() => loadGatewayConfig({ data: dir }, rest), new RegExp(name));
  }
  assert.throws(() => loadGatewayConfig({}, env), /--data/);
  assert.throws(
    () => loadGatewayConfig({ data: dir }, { ...env, TESSERA_GATEWAY_NODE1_URL: 'ftp://x' }),
    /NODE1_URL/
  );
});
