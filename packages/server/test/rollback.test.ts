/**
 * A store restored to before a refresh (docs/security.md A-47) (the old epoch's share row and key record back)
 * must not sign with the retired share: `EPOCH_ROLLBACK`, before any protocol round, also after a
 * restart, because the confirmed generation is anchored outside the store:
 * a store restored to before a pair ban still refuses to sign (`KEY_LOCKED`). The anchor file
 * itself (reload, torn line, catch-up after it was lost).
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { decodeEnvelope, encodeEnvelope } from '@tessera/core';
import { FileEpochAnchor } from '@tessera/server';
import Database from 'better-sqlite3';
import { call, fresh, type TestServer, testServer } from './helpers.ts';

const MESSAGE = Buffer.from('after a rollback').toString('hex');

describe('epoch rollback', () => {
  test('a store restored to before a refresh refuses the old epoch with EPOCH_ROLLBACK, across a restart', async () => {
    const t = await testServer();
    try {
      const token = await t.token('alice');
      const c = await t.client('alice');
      const key = await c.createKey({ scheme: 'ed25519' });
      const old = await t.srv.store.getKey(key.keyId);
      const oldEpoch = old?.epoch as string;
      const oldShare = (await t.srv.store.getShare(key.keyId, oldEpoch)) as Uint8Array;

      const { epoch: newEpoch } = await c.refresh(key.keyId);
      assert.notEqual(newEpoch, oldEpoch);
      const anchor = readFileSync(t.config.epochAnchorFile, 'utf8');
      assert.deepEqual(JSON.parse(anchor.trim().split('\n').at(-1) as string), {
        keyId: key.keyId,
        generation: 1,
      });

      // The restore: the old key record and share row back, the new share gone.
      editDb(t, (db) => {
        db.prepare('UPDATE keys SET epoch = ?, pending_epoch = NULL WHERE key_id = ?').run(
          oldEpoch,
          key.keyId
        );
        db.prepare('DELETE FROM shares WHERE key_id = ?').run(key.keyId);
        db.prepare('INSERT INTO shares (key_id, epoch, sealed) VALUES (?, ?, ?)').run(
          key.keyId,
          oldEpoch,
          oldShare
        );
      });
      const attempt = () =>
        call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
          token,
          body: { payload: { kind: 'message', message: MESSAGE }, epoch: oldEpoch, ...fresh() },
        });
      const refused = await attempt();
      assert.equal(refused.status, 500, refused.text);
      assert.equal(refused.json.error?.code, 'EPOCH_ROLLBACK');
      assert.equal(refused.json.sessionId, undefined, 'no session was opened');
      assert.ok(t.logs.some((l) => l.includes('epoch rollback')));

      await t.restart();
      const again = await attempt();
      assert.equal(again.json.error?.code, 'EPOCH_ROLLBACK', 'the anchor outlives a restart');

      // The anchor is lost too (restored with the store): nothing to compare with, it signs.
      // This is what the anchor is for; restore the current state and it signs again.
      rmSync(t.config.epochAnchorFile);
      await t.restart();
      const unprotected = await attempt();
      assert.equal(unprotected.status, 201, 'without its anchor the rollback goes unseen');
      assert.ok(
        t.logs.some((l) => l.includes('the epoch anchor was missing for a store in use')),
        'a missing anchor for a store in use is reported at start'
      );
    } finally {
      await t.close();
    }
  });

  test('an anchor lost after a refresh is caught up by the next signature with the current epoch', async () => {
    const t = await testServer();
    try {
      const c = await t.client('bob');
      const key = await c.createKey({ scheme: 'ed25519' });
      await c.refresh(key.keyId);
      await c.refresh(key.keyId);
      rmSync(t.config.epochAnchorFile);
      await t.restart();
      await c.sign(key.keyId, { message: MESSAGE });
      assert.equal(new FileEpochAnchor(t.config.epochAnchorFile).confirmed(key.keyId), 2);
    } finally {
      await t.close();
    }
  });
});

/** Runs `edit` on the server's SQLite database through a second connection, in one transaction. */
function editDb(t: TestServer, edit: (db: Database.Database) => void): void {
  const db = new Database(join(t.data, 'tessera.db'));
  try {
    db.transaction(() => edit(db))();
  } finally {
    db.close();
  }
}

/** A fetch that, while `armed`, flips one byte of each round-1 p2p envelope (M1) sent to the server. */
function tamperingFetch(): { fetch: typeof fetch; armed: { on: boolean } } {
  const armed = { on: false };
  const tampering: typeof fetch = async (input, init) => {
    if (armed.on && String(input).endsWith('/messages') && typeof init?.body === 'string') {
      const body = JSON.parse(init.body) as { messages: string[] };
      body.messages = body.messages.map((m) => {
        const env = decodeEnvelope(new Uint8Array(Buffer.from(m, 'base64')));
        if (env.round !== 1 || env.to === 0) return m;
        const bytes = env.body.slice();
        bytes[100] = (bytes[100] as number) ^ 1;
        return Buffer.from(encodeEnvelope({ ...env, body: bytes })).toString('base64');
      });
      return fetch(input, { ...init, body: JSON.stringify(body) });
    }
    return fetch(input, init);
  };
  return { fetch: tampering, armed };
}

describe('confirmation by a first signature with the pending epoch', () => {
  /**
   * Runs `check` on a fresh server with an Ed25519 key whose refresh is pending: the client holds
   * the new share, but its confirmation never reached the server.
   */
  async function withPendingRefresh(
    sub: string,
    check: (t: TestServer, c: TesseraClient, keyId: string) => Promise<void>
  ): Promise<void> {
    const t = await testServer();
    try {
      const c = new TesseraClient({
        server: t.url,
        token: await t.token(sub),
        store: new MemoryShareStore(),
        fetch: (input, init) =>
          String(input).endsWith('/refresh/confirm')
            ? Promise.reject(new TypeError('fetch failed'))
            : fetch(input, init),
      });
      const { keyId } = await c.createKey({ scheme: 'ed25519' });
      await assert.rejects(c.refresh(keyId));
      assert.ok((await t.srv.store.getKey(keyId))?.pendingEpoch, 'the refresh is pending');
      await check(t, c, keyId);
    } finally {
      await t.close();
    }
  }

  test('anchors the generation once the store confirms it', () =>
    withPendingRefresh('frank', async (t, c, keyId) => {
      await c.sign(keyId, { message: MESSAGE }); // with the pending epoch: confirms it
      const k = await t.srv.store.getKey(keyId);
      assert.equal(k?.pendingEpoch, null);
      assert.equal(new FileEpochAnchor(t.config.epochAnchorFile).confirmed(keyId), 1);
    }));

  test('anchors nothing when the pending epoch moved on meanwhile (the store did not confirm)', () =>
    withPendingRefresh('grace', async (t, c, keyId) => {
      const current = (await t.srv.store.getKey(keyId))?.epoch as string;
      // A refresh committing while the signature computes: the pending epoch is no longer this one.
      t.srv.engine.faultPoint = (name) => {
        if (name !== 'frost.sign:computed:final') return;
        editDb(t, (db) =>
          db
            .prepare('UPDATE keys SET pending_epoch = ? WHERE key_id = ?')
            .run('ff'.repeat(32), keyId)
        );
      };
      await c.sign(keyId, { message: MESSAGE });
      t.srv.engine.faultPoint = () => {};
      assert.equal((await t.srv.store.getKey(keyId))?.epoch, current, 'not confirmed');
      assert.equal(new FileEpochAnchor(t.config.epochAnchorFile).confirmed(keyId), 0);
      // The current epoch still signs: the anchor is not ahead of the store.
      const started = await call(t.url, 'POST', `/v1/keys/${keyId}/sign`, {
        token: await t.token('grace'),
        body: { payload: { kind: 'message', message: MESSAGE }, epoch: current, ...fresh() },
      });
      assert.equal(started.status, 201, started.text);
    }));
});

describe('a ban survives a store restore', () => {
  test('a store restored to before the ban of an ECDSA pair still refuses to sign (KEY_LOCKED)', async () => {
    const t = await testServer();
    try {
      const { fetch: tampering, armed } = tamperingFetch();
      const c = new TesseraClient({
        server: t.url,
        token: await t.token('carol'),
        store: new MemoryShareStore(),
        fetch: tampering,
      });
      const key = await c.createKey({ scheme: 'ecdsa' });
      const epoch = (await t.srv.store.getKey(key.keyId))?.epoch as string;
      const unbanned = (await t.srv.store.getShare(key.keyId, epoch)) as Uint8Array;
      await c.sign(key.keyId, { digest: 'cd'.repeat(32) });

      armed.on = true;
      await assert.rejects(c.sign(key.keyId, { digest: 'cd'.repeat(32) }), (e: Error) => {
        assert.match(e.message, /OteConsistency/);
        return true;
      });
      armed.on = false;
      await assert.rejects(c.sign(key.keyId, { digest: 'cd'.repeat(32) }), { code: 'KEY_LOCKED' });
      assert.equal(new FileEpochAnchor(t.config.epochAnchorFile).lockedThrough(key.keyId), 0);

      // An anchor that lost the lock (or predates it) takes it again from the banned share.
      rmSync(t.config.epochAnchorFile);
      await t.restart();
      await assert.rejects(c.sign(key.keyId, { digest: 'cd'.repeat(32) }), { code: 'KEY_LOCKED' });
      assert.equal(new FileEpochAnchor(t.config.epochAnchorFile).lockedThrough(key.keyId), 0);

      // The restore: the share as it was before the ban, and no pair marker.
      editDb(t, (db) => {
        db.prepare('UPDATE shares SET sealed = ? WHERE key_id = ? AND epoch = ?').run(
          unbanned,
          key.keyId,
          epoch
        );
        db.prepare('DELETE FROM pair_guard').run();
      });
      await t.restart();
      await assert.rejects(c.sign(key.keyId, { digest: 'cd'.repeat(32) }), { code: 'KEY_LOCKED' });
      assert.ok(t.logs.some((l) => l.includes('the store lost a pair ban')));

      // Without the anchor the restore would have lifted the ban: the anchor is what refuses.
      rmSync(t.config.epochAnchorFile);
      await t.restart();
      const sig = await c.sign(key.keyId, { digest: 'cd'.repeat(32) });
      assert.ok(sig.signature.length > 0);
    } finally {
      await t.close();
    }
  });
});

describe('FileEpochAnchor', () => {
  test('keeps the highest generation per key across reloads, skips a torn line, ignores lower', () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `tessera-anchor-${crypto.randomUUID()}`);
    const file = join(dir, 'nested', 'epoch-anchor.jsonl');
    try {
      const a = new FileEpochAnchor(file);
      assert.equal(a.confirmed('k1'), 0);
      a.record('k1', 2);
      a.record('k1', 1);
      a.record('k2', 1);
      assert.equal(a.lockedThrough('k1'), -1);
      a.lock('k1', 0);
      a.lock('k1', 0);
      assert.equal(
        readFileSync(file, 'utf8').trim().split('\n').length,
        3,
        'a lower or equal one is not written'
      );
      appendFileSync(file, '{"keyId":"k1","genera'); // a crash mid-write
      const b = new FileEpochAnchor(file);
      assert.equal(b.confirmed('k1'), 2);
      assert.equal(b.confirmed('k2'), 1);
      assert.equal(b.lockedThrough('k1'), 0);
      assert.equal(b.lockedThrough('k2'), -1);
      b.record('k2', 5);
      const c = new FileEpochAnchor(file);
      assert.equal(c.confirmed('k2'), 5, 'a record after a torn line is not swallowed by it');
      writeFileSync(file, 'junk\n{"keyId":1,"generation":"x"}\n');
      assert.equal(new FileEpochAnchor(file).confirmed('k1'), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
