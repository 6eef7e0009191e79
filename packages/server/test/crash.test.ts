/**
 * kill -9 the server process during the commit of a key generation, at the points
 * around the atomic write, then restart it. The key is either fully there (record and share) or
 * absent, never half; the client's retry then finishes and the key signs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import { devToken, openSqliteStore } from '@tessera/server';
import { spawnServer } from './fixtures/spawn.ts';
import { nobleVerify, opensslVerifyEd25519, toHex } from './helpers.ts';

for (const [killAt, expectKeyAfterCrash] of [
  ['dkg:computed:final', false],
  ['dkg:committed:final', true],
] as const) {
  test(`kill -9 at ${killAt}: the key is whole or absent, and the retry completes`, async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-crash-'));
    try {
      const first = await spawnServer(data, { killAt });
      const port = Number(new URL(first.url).port);
      const client = new TesseraClient({
        server: first.url,
        token: await devToken(data, 'crash'),
        store: new MemoryShareStore(),
        webSocket: nodeWebSocket,
      });
      const exited = new Promise<NodeJS.Signals | null>((r) =>
        first.child.once('exit', (_c, sig) => r(sig))
      );
      const created = client.createKey({ scheme: 'ed25519' });
      assert.equal(await exited, 'SIGKILL');
      // Between the crash and the restart: the store holds the whole key or nothing.
      const store = openSqliteStore(`sqlite:${join(data, 'tessera.db')}`);
      await store.init();
      const keys = await store.listKeys('crash');
      assert.equal(keys.length, expectKeyAfterCrash ? 1 : 0);
      for (const k of keys)
        assert.ok(
          await store.getShare(k.keyId, k.epoch),
          'a key record never exists without its share'
        );
      await store.close();
      const second = await spawnServer(data, { port });
      try {
        const key = await created;
        const msg = new TextEncoder().encode('after the crash');
        const sig = await client.sign(key.keyId, { message: toHex(msg) });
        assert.ok(opensslVerifyEd25519(key.publicKey, msg, sig.signature));
        assert.deepEqual(
          (await client.listKeys()).map((k) => k.keyId),
          [key.keyId]
        );
      } finally {
        second.child.kill('SIGTERM');
        await new Promise((r) => second.child.once('exit', r));
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
}

for (const killAt of [
  'frost.sign:computed:final',
  'frost.sign:committed:final',
  'ecdsa.sign:committed:round',
]) {
  test(`kill -9 at ${killAt} mid-signature: the client resumes on the restarted process, each nonce used once`, async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-crash-'));
    const scheme = killAt.startsWith('ecdsa') ? 'ecdsa' : 'ed25519';
    try {
      const a = await spawnServer(data);
      const port = Number(new URL(a.url).port);
      const client = new TesseraClient({
        server: a.url,
        token: await devToken(data, 'crash'),
        store: new MemoryShareStore(),
        webSocket: nodeWebSocket,
      });
      const key = await client.createKey({ scheme });
      a.child.kill('SIGTERM');
      await new Promise((r) => a.child.once('exit', r));
      const b = await spawnServer(data, { port, killAt });
      const exited = new Promise<NodeJS.Signals | null>((r) =>
        b.child.once('exit', (_c, sig) => r(sig))
      );
      const msg = new TextEncoder().encode('signed across a crash');
      const digest = new Uint8Array(32).fill(9);
      const signing = client.sign(
        key.keyId,
        scheme === 'ecdsa' ? { digest: toHex(digest) } : { message: toHex(msg) }
      );
      assert.equal(await exited, 'SIGKILL');
      const c = await spawnServer(data, { port });
      try {
        const sig = await signing;
        if (scheme === 'ecdsa') assert.ok(nobleVerify.ecdsa(key.publicKey, digest, sig.signature));
        else assert.ok(opensslVerifyEd25519(key.publicKey, msg, sig.signature));
      } finally {
        c.child.kill('SIGTERM');
        await new Promise((r) => c.child.once('exit', r));
      }
      // The ledger (a primary key) holds each of this signature's nonce ids exactly once.
      const store = openSqliteStore(`sqlite:${join(data, 'tessera.db')}`);
      await store.init();
      const ids = (store.db.prepare('SELECT id FROM nonce_ledger').all() as { id: string }[]).map(
        (r) => r.id
      );
      await store.close();
      assert.equal(ids.length, scheme === 'ecdsa' ? 3 : 2, ids.join('\n'));
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
}
