/**
 * The verified-token cache of `Authenticator.verify`: a token that passed once is served from the
 * cache, but never past its `exp` (with the verifier's 30 s tolerance) and never for a token that
 * differs in any byte.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { Authenticator, devKey, devToken, loadConfig } from '@tessera/server';

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
