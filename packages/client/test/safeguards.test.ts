/**
 * What the client refuses on its own, whatever the server says (docs/security.md
 * a request id it already used (its durable ledger, also after a restart), a server
 * message that is not for this session (header checks before the core sees it), a restored share
 * before it was refreshed, and a weak backup passphrase; and after any refusal it tells the
 * server, which frees the key at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { FileShareStore } from '@tessera/client/node';
import { pairGuardKey } from '@tessera/core';
import {
  editEnvelopes,
  editingFetch,
  type Requests,
  STORE_SECRET,
  type World,
  world,
} from './fixtures/harness.ts';

const digest = Buffer.from(sha256(new TextEncoder().encode('safeguards'))).toString('hex');
const isSignStart = (path: string) => /^\/v1\/keys\/[0-9a-f]{64}\/sign$/.test(path);

describe('the client refuses on its own', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.close());

  for (const scheme of ['ecdsa', 'ed25519'] as const) {
    test(`${scheme}: a server that replays a request id is refused before anything is sent (NONCE_REUSED), also after a restart`, async () => {
      const home = w.home();
      const c = await w.client(`replay-${scheme}`, home);
      const key = await c.createKey({ scheme });
      let firstRid: string | undefined;
      const input = scheme === 'ecdsa' ? { digest } : { message: digest };
      const recording = await w.client(`replay-${scheme}`, home, {
        fetch: editingFetch((path, body) => {
          if (isSignStart(path)) firstRid ??= (body.params as { rid: string }).rid;
        }),
      });
      await recording.sign(key.keyId, input);
      assert.ok(firstRid);
      for (let restart = 0; restart < 2; restart++) {
        const seen: Requests = [];
        const replaying = await w.client(`replay-${scheme}`, home, {
          fetch: editingFetch((path, body) => {
            if (isSignStart(path)) (body.params as { rid: string }).rid = firstRid as string;
          }, seen),
        });
        await assert.rejects(replaying.sign(key.keyId, input), { code: 'NONCE_REUSED' });
        assert.ok(!seen.some((r) => r.endsWith('/messages')), 'no message was sent');
      }
    });
  }

  test('a server envelope of another session is refused before the core sees it (PROTOCOL_VIOLATION): no ban, and the key signs again at once', async () => {
    const home = w.home();
    const c = await w.client('headers', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const moved = await w.client('headers', home, {
      fetch: editingFetch((path, body) => {
        if (!isSignStart(path)) return;
        editEnvelopes(
          body,
          (e) => e.round === 1 && e.to === 1,
          (e) => ({ ...e, sid: 'ff'.repeat(32) })
        );
      }),
    });
    await assert.rejects(moved.sign(key.keyId, { digest }), { code: 'PROTOCOL_VIOLATION' });
    const store = await FileShareStore.open(home, { secret: STORE_SECRET });
    const local = await c.localKey(key.keyId);
    const share = await store.get(key.keyId, local.epoch);
    assert.ok(share);
    const { KeyShare } = await import('@tessera/core');
    const parsed = KeyShare.fromBytes(share);
    assert.deepEqual(parsed.bannedPeers, []);
    assert.equal(await store.pairBanned(pairGuardKey(parsed, 2)), false);
    // The client told the server it abandoned the session: no KEY_BUSY for the next one.
    const sig = await c.sign(key.keyId, { digest });
    assert.equal(sig.keyId, key.keyId);
  });

  test('a signing the client abandons (the server asks for another digest) is ended at the server at once', async () => {
    const home = w.home();
    const c = await w.client('abandon', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const lying = await w.client('abandon', home, {
      fetch: editingFetch((path, body) => {
        if (isSignStart(path)) (body.params as { digest: string }).digest = '00'.repeat(32);
      }),
    });
    await assert.rejects(lying.sign(key.keyId, { digest }), { code: 'DIGEST_MISMATCH' });
    const sig = await c.sign(key.keyId, { digest });
    assert.equal(sig.keyId, key.keyId, 'no KEY_BUSY: the abandoned session was ended');
  });

  test('backup passphrases: under 12 characters or easy to guess is WEAK_PASSPHRASE; a long unrelated phrase exports', async () => {
    const c = await w.client('backup', w.home());
    const key = await c.createKey({ scheme: 'ed25519' });
    for (const weak of ['short', 'password1234', 'qwertyuiopasdf', 'aaaaaaaaaaaaaaaa'])
      await assert.rejects(c.exportBackup(key.keyId, weak), { code: 'WEAK_PASSPHRASE' }, weak);
    const blob = await c.exportBackup(key.keyId, 'violet tractor seldom 47 harbour');
    assert.ok(blob.length > 100);
  });
});
