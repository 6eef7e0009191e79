/**
 * Request-layer bounds with real sockets (docs/security.md ): timeouts cut slow and idle clients,
 * a WebSocket outlives them, connections are capped per address, and a step's session is looked
 * up before its body is read, which must fit the session's round and the in-flight caps.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { call, fresh, type TestServer, testServer } from './helpers.ts';

/** A raw connection and everything the server sent on it until it closed. */
function open(url: string): { socket: Socket; closed: Promise<string> } {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  return { socket, closed };
}

/** The status and error code of a raw HTTP response. */
function parse(text: string): { status: number; code: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {}
  return { status, code };
}

/** Rejects if `p` has not settled within `ms`: the server never answered. */
const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref()
    ),
  ]);

const stepHead = (sid: string, token: string, contentLength: number | 'chunked') =>
  `POST /v1/sessions/${sid}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
  'Content-Type: application/json\r\n' +
  (contentLength === 'chunked'
    ? 'Transfer-Encoding: chunked\r\n\r\n'
    : `Content-Length: ${contentLength}\r\n\r\n`);

describe('timeouts and connection bounds', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer({
      limits: {
        requestTimeoutSeconds: 2,
        headersTimeoutSeconds: 1,
        keepAliveSeconds: 1,
        idleTimeoutSeconds: 3,
      },
    });
  });
  after(() => t.close());

  test('an idle connection, a slow header and a slow body are cut off (408 in the API shape)', async () => {
    const idle = open(t.url);
    const slowHeader = open(t.url);
    slowHeader.socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => slowHeader.socket.write('X-Slow: 1\r\n'), 200);
    const slowBody = open(t.url);
    slowBody.socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await t.token('slow')}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n'
    );
    const bodyDrip = setInterval(() => slowBody.socket.write(' '), 200);
    try {
      await within(idle.closed, 10_000, 'idle connection');
      const header = parse(await within(slowHeader.closed, 10_000, 'slow header'));
      assert.deepEqual(header, { status: 408, code: 'REQUEST_TIMEOUT' });
      const body = parse(await within(slowBody.closed, 10_000, 'slow body'));
      assert.deepEqual(body, { status: 408, code: 'REQUEST_TIMEOUT' });
    } finally {
      clearInterval(drip);
      clearInterval(bodyDrip);
    }
  });

  test('a keep-alive connection idle after its request is closed', async () => {
    const c = open(t.url);
    c.socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await within(c.closed, 10_000, 'keep-alive connection');
    assert.equal(parse(text).status, 200);
  });

  test('a WebSocket outlives the HTTP timeouts (its own idle timer is the session one)', async () => {
    const c = await t.client('ws-alice');
    const key = await c.createKey({ scheme: 'ed25519' });
    const token = await t.token('ws-alice');
    const started = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token,
      body: { payload: { kind: 'message', message: 'aa' }, ...fresh() },
    });
    const sid = started.json.sessionId as string;
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/sessions/${sid}/ws`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // Longer than the request, header and idle timeouts together.
    await new Promise((r) => setTimeout(r, 4_500));
    assert.equal(ws.readyState, WebSocket.OPEN);
    const reply = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
    ws.send('not json');
    assert.equal(JSON.parse(await reply).error.code, 'SCHEMA');
    ws.close();
  });
});

describe('connections per client address', () => {
  test('over the cap a connection is closed at once; a WebSocket counts as one', async () => {
    const t = await testServer({ limits: { connectionsPerIp: 3, headersTimeoutSeconds: 30 } });
    const held: ReturnType<typeof open>[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(open(t.url));
      await Promise.all(held.map((c) => new Promise((r) => c.socket.once('connect', r))));
      const fourth = open(t.url);
      fourth.socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(await within(fourth.closed, 5_000, 'fourth connection'), '', 'no answer');
      // One slot back: the next connection is served.
      const first = held.shift() as ReturnType<typeof open>;
      first.socket.destroy();
      await first.closed;
      await new Promise((r) => setTimeout(r, 100));
      const again = open(t.url);
      again.socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(parse(await within(again.closed, 5_000, 'after a slot freed')).status, 200);
    } finally {
      for (const c of held) c.socket.destroy();
      await t.close();
    }
  });
});

describe('step bodies: ownership first, per-round size, in-flight caps', () => {
  let t: TestServer;
  let alice: string;
  let bob: string;
  let sid: string;
  let bobSid: string;
  before(async () => {
    t = await testServer({
      limits: {
        requestTimeoutSeconds: 2,
        headersTimeoutSeconds: 1,
        stepsInFlightPerSubject: 2,
        stepsInFlightPerIp: 3,
      },
    });
    alice = await t.token('alice');
    bob = await t.token('bob');
    const signing = async (sub: string, token: string) => {
      const key = await (await t.client(sub)).createKey({ scheme: 'ed25519' });
      const started = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
        token,
        body: { payload: { kind: 'message', message: 'aa' }, ...fresh() },
      });
      return started.json.sessionId as string;
    };
    sid = await signing('alice', alice);
    bobSid = await signing('bob', bob);
  });
  after(() => t.close());

  test('a missing or foreign session is a 404 before the (multi-MiB) body is sent', async () => {
    for (const [who, token, target] of [
      ['missing', alice, '0'.repeat(32)],
      ['foreign', bob, sid],
    ] as const) {
      const c = open(t.url);
      // 20 MiB declared, none of it sent: only an answer given before the body can come back.
      c.socket.write(stepHead(target, token, 20 * 1024 * 1024));
      assert.deepEqual(parse(await within(c.closed, 1_500, who)), {
        status: 404,
        code: 'NOT_FOUND',
      });
      assert.ok(c.socket.bytesWritten < 4096, `${who}: only the head was sent`);
    }
  });

  test("a body over the round's limit is a 413: declared, or counted while chunked", async () => {
    const declared = open(t.url);
    declared.socket.write(stepHead(sid, alice, 1024 * 1024));
    assert.deepEqual(parse(await within(declared.closed, 1_500, 'declared')), {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
    const chunked = open(t.url);
    chunked.socket.write(stepHead(sid, alice, 'chunked'));
    const chunk = `{"messages":["${'A'.repeat(64 * 1024)}`;
    chunked.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    assert.deepEqual(parse(await within(chunked.closed, 1_500, 'chunked')), {
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
    // The session is untouched.
    assert.equal((await t.srv.store.getSession(sid))?.status, 'active');
  });

  test('stalled uploads hold their slot until the request timeout; beyond the cap, 429 without reading', async () => {
    const stalled = [open(t.url), open(t.url)];
    for (const c of stalled) c.socket.write(`${stepHead(sid, alice, 4000)}{"messages":[`);
    await new Promise((r) => setTimeout(r, 300));
    const third = open(t.url);
    third.socket.write(stepHead(sid, alice, 4000));
    const refused = await within(third.closed, 1_500, 'third upload of the subject');
    assert.deepEqual(parse(refused), { status: 429, code: 'RATE_LIMITED' });
    assert.match(refused, /\r\nretry-after: 1\r\n/i);
    // Bob is under his own cap, but the address is at its cap of 3 with his first upload.
    const bobs = open(t.url);
    bobs.socket.write(`${stepHead(bobSid, bob, 4000)}{"messages":[`);
    await new Promise((r) => setTimeout(r, 300));
    const fourth = open(t.url);
    fourth.socket.write(stepHead(bobSid, bob, 4000));
    assert.deepEqual(parse(await within(fourth.closed, 1_500, 'fourth upload of the address')), {
      status: 429,
      code: 'RATE_LIMITED',
    });
    // The stalled ones are cut off by the request timeout, which frees their slots.
    for (const c of stalled)
      assert.deepEqual(parse(await within(c.closed, 10_000, 'stalled upload')), {
        status: 408,
        code: 'REQUEST_TIMEOUT',
      });
    await within(bobs.closed, 10_000, "bob's stalled upload");
    const r = await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
      token: alice,
      body: { messages: ['AAAA'] },
    });
    assert.equal(r.json.error?.code, 'PROTOCOL_VIOLATION', r.text);
  });
});
