/**
 * The verified-token cache of `Authenticator.verify`: a token that passed once is served from the
 * cache, but never past its `exp` (with the verifier's 30 s tolerance) and never for a token that
 * differs in any byte. And the longest lifetime a token may have (`auth.maxTokenLifetimeSeconds`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { Authenticator, devKey, devToken, loadConfig } from '@tessera/server';
import { importJWK, SignJWT } from 'jose';

const data = mkdtempSync(join(tmpdir(), 'tessera-auth-'));
let auth: Authenticator;
const noTickets = {
  putTicket: async () => {},
  takeTicket: async () => null,
};

before(async () => {
  const config = loadConfig({ data, dev: true, logLevel: 'silent' });
  await devKey(data);
  auth = await Authenticator.create(config, noTickets);
});
after(() => {
  mock.timers.reset();
  rmSync(data, { recursive: true, force: true });
});

describe('Authenticator.verify', () => {
  it('serves a verified token from the cache only until its expiry', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const token = await devToken(data, 'alice', { ttlSeconds: 60 });
    assert.equal(await auth.verify(`Bearer ${token}`), 'alice');
    mock.timers.tick(50_000);
    assert.equal(await auth.verify(`Bearer ${token}`), 'alice', 'cached and still valid');
    mock.timers.tick(45_000); // 95 s after issue: past exp + 30 s
    await assert.rejects(auth.verify(`Bearer ${token}`), { code: 'UNAUTHORIZED' });
    mock.timers.reset();
  });

  it('a token changed in its signature is verified again, and refused', async () => {
    const token = await devToken(data, 'bob', { ttlSeconds: 600 });
    assert.equal(await auth.verify(`Bearer ${token}`), 'bob');
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${token.slice(0, -2)}${last}${token.slice(-1)}`;
    await assert.rejects(auth.verify(`Bearer ${forged}`), { code: 'UNAUTHORIZED' });
  });
});

describe('token lifetime (auth.maxTokenLifetimeSeconds, 24 h by default)', () => {
  const sign = async (claims: { iat?: number; exp: number }) => {
    const { privateJwk } = await devKey(data);
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid as string })
      .setSubject('carol')
      .setIssuer('tessera')
      .setAudience('tessera')
      .setExpirationTime(claims.exp);
    if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
    return `Bearer ${await jwt.sign(await importJWK(privateJwk, 'EdDSA'))}`;
  };
  const now = () => Math.floor(Date.now() / 1000);
  const day = 24 * 3600;

  it('refuses a token expiring more than the limit from now, issued in the future, or issued for longer', async () => {
    for (const [what, claims] of [
      ['exp 100 years ahead', { exp: now() + 100 * 365 * day }],
      ['exp 2 days ahead, no iat', { exp: now() + 2 * day }],
      ['iat a year in the future', { iat: now() + 365 * day, exp: now() + 3600 }],
      ['iat 2 min in the future', { iat: now() + 120, exp: now() + 3600 }],
      ['exp - iat of 2 days', { iat: now() - 2 * day + 60, exp: now() + 60 }],
    ] as const)
      await assert.rejects(auth.verify(await sign(claims)), { code: 'UNAUTHORIZED' }, what);
  });

  it('accepts tokens within it, and the dev token command mints only such tokens', async () => {
    assert.equal(await auth.verify(await sign({ exp: now() + day })), 'carol');
    assert.equal(await auth.verify(await sign({ iat: now() + 10, exp: now() + day })), 'carol');
    const dev = await devToken(data, 'dave', { ttlSeconds: day });
    assert.equal(await auth.verify(`Bearer ${dev}`), 'dave');
    await assert.rejects(devToken(data, 'dave', { ttlSeconds: day + 1 }), /at most 86400 s/);
  });
});
