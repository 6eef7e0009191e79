/**
 * The client's transports against a real server: HTTP start/step and a WebSocket per session
 * both sign; a reply lost on the way back (the request reached the server) is resent and answered
 * with the identical reply; a WebSocket dropped after a send reopens with a new ticket; a server
 * that is briefly busy or unavailable is retried, a refusal is not; a server frame that is not
 * canonical base64 is refused. Every signature is verified by OpenSSL or noble.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64 } from '@tessera/api/relay';
import { ClientError, Http, HttpStepTransport, ServerError } from '@tessera/client';
import { type World, world } from './fixtures/harness.ts';

const message = new TextEncoder().encode('transports');
const digest = Buffer.from(sha256(message)).toString('hex');

function opensslEcdsa(publicKey: string, compact: string): boolean {
  const p = secp256k1.Point.fromHex(publicKey).toBytes(false);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  const jwk = { kty: 'EC', crv: 'secp256k1', x: b64(p.subarray(1, 33)), y: b64(p.subarray(33)) };
  const der = secp256k1.Signature.fromBytes(Buffer.from(compact, 'hex'), 'compact').toBytes('der');
  return verify('sha256', message, createPublicKey({ key: jwk, format: 'jwk' }), der);
}

function opensslEd25519(publicKey: string, sig: string): boolean {
  const jwk = {
    kty: 'OKP',
    crv: 'Ed25519',
    x: Buffer.from(publicKey, 'hex').toString('base64url'),
  };
  return verify(
    null,
    message,
    createPublicKey({ key: jwk, format: 'jwk' }),
    Buffer.from(sig, 'hex')
  );
}

describe('transports', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.close());

  test('HTTP and WebSocket both create keys and sign', async () => {
    for (const transport of ['http', 'ws'] as const) {
      const c = await w.client(`t-${transport}`, w.home());
      const ec = await c.createKey({ scheme: 'ecdsa' });
      const ed = await c.createKey({ scheme: 'ed25519', transport });
      assert.ok(
        opensslEcdsa(ec.publicKey, (await c.sign(ec.keyId, { digest }, { transport })).signature)
      );
      const sig = await c.sign(
        ed.keyId,
        { message: Buffer.from(message).toString('hex') },
        { transport }
      );
      assert.ok(opensslEd25519(ed.publicKey, sig.signature));
    }
  });

  test('a step reply lost on its way back: the identical request is resent and answered with the identical reply', async () => {
    let lost = 0;
    const replies = new Map<string, string>();
    const losing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const path = new URL(String(input)).pathname;
      if (!path.endsWith('/messages')) return res;
      const text = await res.text();
      const key = String(init?.body);
      if (replies.has(key)) assert.equal(text, replies.get(key), 'a resend gets the same bytes');
      replies.set(key, text);
      // The first reply of every step is lost after the server processed the request.
      if (lost++ % 2 === 0) throw new TypeError('fetch failed: connection reset');
      return new Response(text, { status: res.status, headers: res.headers });
    };
    const home = w.home();
    const c = await w.client('lossy', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const lossy = await w.client('lossy', home, { fetch: losing });
    const sig = await lossy.sign(key.keyId, { digest });
    assert.ok(opensslEcdsa(key.publicKey, sig.signature));
    assert.ok(lost >= 4, 'every step was lost once and resent');
  });

  test('a start reply lost on its way back: the identical start is resent, the server answers it with the same session, and the key is not left busy', async () => {
    const home = w.home();
    const c = await w.client('lost-start', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const sessions: string[] = [];
    let lost = 0;
    const losing: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!new URL(String(input)).pathname.endsWith('/sign')) return res;
      const text = await res.text();
      sessions.push((JSON.parse(text) as { sessionId: string }).sessionId);
      if (lost++ === 0) throw new TypeError('fetch failed: connection reset');
      return new Response(text, { status: res.status, headers: res.headers });
    };
    const lossy = await w.client('lost-start', home, { fetch: losing });
    const sig = await lossy.sign(key.keyId, { digest });
    assert.ok(opensslEcdsa(key.publicKey, sig.signature));
    assert.equal(sessions.length, 2);
    assert.equal(sessions[0], sessions[1], 'the resend got the first start’s session');
    assert.ok(opensslEcdsa(key.publicKey, (await c.sign(key.keyId, { digest })).signature));
  });

  test('a WebSocket dropped right after each send reopens with a new ticket and resumes', async () => {
    const home = w.home();
    const c = await w.client('dropper', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    for (let drop = 0; drop < 3; drop++) {
      let sends = 0;
      c.onWsTransport = (t) => {
        t.afterSend = (socket) => {
          if (sends++ === drop) socket.close(4000, 'test drop');
        };
      };
      const sig = await c.sign(key.keyId, { digest }, { transport: 'ws' });
      assert.ok(opensslEcdsa(key.publicKey, sig.signature), `drop after send ${drop}`);
    }
    c.onWsTransport = null;
  });

  test('HTTP steps retry what is transient (SESSION_BUSY, UNAVAILABLE, a dropped connection) and nothing else', async () => {
    const answers = [
      () =>
        new Response(JSON.stringify({ error: { code: 'SESSION_BUSY', message: 'busy' } }), {
          status: 409,
        }),
      () =>
        new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'down' } }), {
          status: 503,
          headers: { 'retry-after': '0' },
        }),
      () => {
        throw new TypeError('fetch failed');
      },
      () =>
        new Response(JSON.stringify({ sessionId: 's', status: 'done', round: 3, messages: [] })),
    ];
    let calls = 0;
    const http = new Http({
      server: 'http://127.0.0.1:1',
      token: 't',
      fetch: async () => (answers[calls++] as () => Response)(),
    });
    const reply = await new HttpStepTransport(http).step('00'.repeat(16), ['AA==']);
    assert.equal(reply.status, 'done');
    assert.equal(calls, 4);
    let refused = 0;
    const strict = new Http({
      server: 'http://127.0.0.1:1',
      token: 't',
      fetch: async () => {
        refused++;
        return new Response(JSON.stringify({ error: { code: 'PROTOCOL_ABORT', message: 'no' } }), {
          status: 422,
        });
      },
    });
    await assert.rejects(new HttpStepTransport(strict).step('00'.repeat(16), ['AA==']), (e) => {
      assert.ok(e instanceof ServerError && e.code === 'PROTOCOL_ABORT');
      return true;
    });
    assert.equal(refused, 1, 'a refusal is not retried');
  });

  test('envelopes travel as canonical base64 only', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253]);
    assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
    for (const bad of ['AAE', 'AA=E', 'AAE=\n', 'A-E=', 'AAF='])
      assert.throws(() => fromBase64(bad));
    assert.ok(new ClientError('TRANSPORT', 'x') instanceof Error);
  });
});
