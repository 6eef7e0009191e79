/**
 * Canaries (docs/security.md A-54): a whole flow (keygen, sign, refresh, sign; every scheme) with logs captured at debug
 * level; then every log line, the metrics page and the audit log are searched for the shares'
 * secret bytes (client and server shares: every 16-byte window outside the public fields, in hex
 * and base64), the bearer token and a backup passphrase. Nothing may be found.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryShareStore } from '@tessera/client';
import { KeyShare } from '@tessera/core';
import { LocalKek, SERVER_PARTY, Sealer, type SqliteStore } from '@tessera/server';
import { call, type TestServer, testServer, toHex } from './helpers.ts';

/** Every 16-byte window of a serialised share that is not inside one of its public fields. */
function needles(secret: Uint8Array): string[] {
  const share = KeyShare.fromBytes(secret);
  const pub = [
    share.keyId,
    share.epoch,
    share.chainCode,
    share.groupKey,
    ...share.parties.map((p) => share.verificationShare(p)),
  ]
    .map(toHex)
    .join('|');
  const out: string[] = [];
  for (let i = 0; i + 16 <= secret.length; i += 16) {
    const w = secret.subarray(i, i + 16);
    if (pub.includes(toHex(w))) continue;
    out.push(
      toHex(w),
      Buffer.from(w).toString('base64').slice(0, 20),
      Buffer.from(w).toString('base64url').slice(0, 20)
    );
  }
  return out;
}

test('no share, token or passphrase appears in logs, metrics or the audit log', async () => {
  const t: TestServer = await testServer({ logLevel: 'trace' });
  try {
    const store = new MemoryShareStore();
    const c = await t.client('canary', { store });
    const secrets: Uint8Array[] = [];
    for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
      const key = await c.createKey({ scheme });
      await c.sign(
        key.keyId,
        scheme === 'ecdsa' ? { digest: '42'.repeat(32) } : { message: 'c0ffee' },
        { transport: 'ws' }
      );
      const epoch0 = (await store.getKey(key.keyId))?.epoch as string;
      secrets.push((await store.get(key.keyId, epoch0)) as Uint8Array);
      await c.refresh(key.keyId);
      await c.sign(
        key.keyId,
        scheme === 'ecdsa' ? { digest: '43'.repeat(32) } : { message: 'c0ffee' }
      );
      secrets.push((await store.get(key.keyId)) as Uint8Array);
      await c.exportBackup(key.keyId, 'canary passphrase 123');
    }
    // The server's own shares, opened from the store with its KEK.
    const db = (t.srv.store as SqliteStore).db;
    const sealer = await Sealer.open(LocalKek.load(t.config.kekFile, { create: false }), {
      get: () => t.srv.store.getWrappedDataKey(),
      putIfAbsent: (w) => t.srv.store.putWrappedDataKeyIfAbsent(w),
    });
    for (const r of db.prepare('SELECT key_id, epoch, sealed FROM shares').all() as {
      key_id: string;
      epoch: string;
      sealed: Buffer;
    }[])
      secrets.push(sealer.openShare(r.key_id, SERVER_PARTY, r.epoch, new Uint8Array(r.sealed)));
    assert.ok(secrets.length >= 9);
    const windows = secrets.flatMap(needles);
    assert.ok(windows.length > 9 * 2, 'secret windows to search for');
    const token = await t.token('canary');
    const metrics = (await call(t.url, 'GET', '/metrics')).text;
    const audit = JSON.stringify(await t.srv.store.listAudit({ limit: 1000 }));
    const haystack = [t.logs.join(''), metrics, audit].join('\n');
    assert.ok(t.logs.length > 20, 'logs were captured');
    for (const n of windows) assert.ok(!haystack.includes(n), `a share window leaked: ${n}`);
    for (const n of [token, token.split('.')[2] as string, 'canary passphrase 123'])
      assert.ok(!haystack.includes(n), 'a token or passphrase leaked');
  } finally {
    await t.close();
  }
});
