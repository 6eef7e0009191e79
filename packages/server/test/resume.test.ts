/**
 * Resume (docs/security.md A-05): the WebSocket dropped after each step in turn, a switch between
 * transports mid-session, and a server restart mid-session. Every signature verifies, and the
 * server's used-nonce ledger shows each nonce consumed exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import type { SqliteStore } from '@tessera/server';
import {
  call,
  fresh,
  nobleVerify,
  opensslVerifyEd25519,
  type TestServer,
  testServer,
  toHex,
} from './helpers.ts';

const digest = new Uint8Array(32).fill(7);
const message = new TextEncoder().encode('resume me');

/** The server's ledger rows of one signing session (party 2's nonce ids). */
function ledgerRows(t: TestServer): string[] {
  const db = (t.srv.store as SqliteStore).db;
  return (db.prepare('SELECT id FROM nonce_ledger').all() as { id: string }[]).map((r) => r.id);
}

describe('resume', () => {
  let t: TestServer;
  let ecdsaKey: { keyId: string; publicKey: string };
  let edKey: { keyId: string; publicKey: string };
  const store = new MemoryShareStore();
  before(async () => {
    t = await testServer();
    const c = await t.client('resumer', { store });
    ecdsaKey = await c.createKey({ scheme: 'ecdsa' });
    edKey = await c.createKey({ scheme: 'ed25519' });
  });
  after(() => t.close());

  test('the WebSocket dropped right after each step request in turn: the resend gets the cached reply', async () => {
    for (const [scheme, key] of [
      ['ecdsa', () => ecdsaKey],
      ['ed25519', () => edKey],
    ] as const) {
      for (let drop = 0; drop < 3; drop++) {
        const c = await t.client('resumer', { store, transport: 'ws' });
        let sends = 0;
        c.onWsTransport = (ws) => {
          ws.afterSend = (socket) => {
            if (sends++ === drop) socket.close(4000, 'test drop');
          };
        };
        const before = ledgerRows(t).length;
        const sig = await c.sign(
          key().keyId,
          scheme === 'ecdsa' ? { digest: toHex(digest) } : { message: toHex(message) }
        );
        if (scheme === 'ecdsa')
          assert.ok(nobleVerify.ecdsa(key().publicKey, digest, sig.signature));
        else assert.ok(opensslVerifyEd25519(key().publicKey, message, sig.signature));
        // ecdsa: rid, signing session id and presignature; ed25519: session id and nonce pair.
        assert.equal(
          ledgerRows(t).length - before,
          scheme === 'ecdsa' ? 3 : 2,
          `${scheme} drop ${drop}`
        );
      }
    }
  });

  test('switching between HTTP and WebSocket mid-session', async () => {
    const c = await t.client('resumer', { store });
    for (const pattern of [
      (s: number) => (s % 2 ? 'ws' : 'http'),
      (s: number) => (s % 2 ? 'http' : 'ws'),
    ] as const) {
      const sig = await c.sign(ecdsaKey.keyId, { digest: toHex(digest) }, { transport: pattern });
      assert.ok(nobleVerify.ecdsa(ecdsaKey.publicKey, digest, sig.signature));
      const ed = await c.sign(edKey.keyId, { message: toHex(message) }, { transport: pattern });
      assert.ok(opensslVerifyEd25519(edKey.publicKey, message, ed.signature));
    }
  });

  /** A client whose HTTP step request number `at` (0, 1, …) first restarts the server. */
  const restartingClient = async (at: number) => {
    let steps = 0;
    const restartingFetch: typeof fetch = async (input, init) => {
      if (String(input).endsWith('/messages') && steps++ === at) await t.restart();
      return fetch(input, init);
    };
    return new TesseraClient({
      server: t.url,
      token: await t.token('resumer'),
      store,
      fetch: restartingFetch,
      webSocket: nodeWebSocket,
    });
  };

  test('a server restart before each step: sessions resume from the store, no nonce used twice', async () => {
    for (let at = 0; at < 2; at++) {
      const c = await restartingClient(at);
      const rows = ledgerRows(t).length;
      const sig = await c.sign(ecdsaKey.keyId, { digest: toHex(digest) });
      assert.ok(nobleVerify.ecdsa(ecdsaKey.publicKey, digest, sig.signature));
      const ids = ledgerRows(t);
      assert.equal(ids.length - rows, 3);
      assert.equal(new Set(ids).size, ids.length);
    }
  });

  test('a session the server restarted in the middle of, resumed over another transport, signs once', async () => {
    const c = await restartingClient(1);
    const sig = await c.sign(
      edKey.keyId,
      { message: toHex(message) },
      { transport: (s) => (s === 0 ? 'ws' : 'http') }
    );
    assert.ok(opensslVerifyEd25519(edKey.publicKey, message, sig.signature));
  });
});

describe('expiry (fake clock)', () => {
  test('a session idle past 5 minutes is expired, its state wiped at expiry, and refused', async () => {
    let offset = 0;
    const t = await testServer({}, { now: () => Date.now() + offset });
    try {
      const token = await t.token('sleepy');
      const c = await t.client('sleepy');
      const key = await c.createKey({ scheme: 'ed25519' });
      const started = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
        token,
        body: { payload: { kind: 'message', message: 'aa' }, ...fresh() },
      });
      assert.equal(started.status, 201, started.text);
      const sid = started.json.sessionId as string;
      offset = 4 * 60_000;
      assert.equal(await t.srv.engine.reap(), 0, 'not idle long enough yet');
      offset = 5 * 60_000 + 1000;
      assert.equal(await t.srv.engine.reap(), 1);
      const rec = await t.srv.store.getSession(sid);
      assert.equal(rec?.status, 'expired');
      assert.equal(rec?.state, null, 'state wiped at expiry, not at the resume attempt');
      const late = await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
        token,
        body: { messages: ['AAAA'] },
      });
      assert.equal(late.status, 410);
      assert.equal(late.json.error?.code, 'SESSION_EXPIRED');
      // The key is free again for a new session.
      offset = 0;
      const again = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
        token,
        body: { payload: { kind: 'message', message: 'aa' }, ...fresh() },
      });
      assert.equal(again.status, 201, again.text);
    } finally {
      await t.close();
    }
  });
});
