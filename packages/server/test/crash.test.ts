/**
 * SRV-F-01: kill -9 the server process during the commit of a key generation, at the points
 * around the atomic write, then restart it. The key is either fully there (record and share) or
 * absent, never half; the client's retry then finishes and the key signs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import { devToken, openSqliteStore } from '@tessera/server';
import { opensslVerifyEd25519, toHex } from './helpers.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'server-process.ts');

function spawnServer(
  data: string,
  port: number,
  killAt?: string
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, DATA: data, PORT: String(port), ...(killAt ? { KILL_AT: killAt } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (l) => {
      const m = /^listening on (\S+)/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
}

for (const [killAt, expectKeyAfterCrash] of [
  ['dkg:computed:final', false],
  ['dkg:committed:final', true],
] as const) {
  test(`kill -9 at ${killAt}: the key is whole or absent, and the retry completes`, async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-crash-'));
    try {
      const first = await spawnServer(data, 0, killAt);
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
      const second = await spawnServer(data, port);
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
