/**
 * The proxy in front of a real co-signing server over TLS 1.3 with a test CA: an ECDSA key made
 * and used over HTTP and an Ed25519 key over WebSocket through it (signatures verified by
 * OpenSSL); the rate limit's 429 with `/health` still answering; a dead upstream's 502; TLS 1.2
 * refused; the headers the upstream gets and what the log keeps; a missing certificate file.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { MemoryShareStore, TesseraClient, type WebSocketLike } from '@tessera/client';
import { DEFAULT_LIMITS, loadProxyConfig, startProxy } from '@tessera/proxy';
import { WebSocket } from 'ws';
import {
  call,
  cleanup,
  deadPort,
  makeCerts,
  nodeFetch,
  opensslVerifyEcdsa,
  proxy,
  server,
  type TestCerts,
  type TestServer,
} from './helpers.ts';

const message = new TextEncoder().encode('signed through the parent proxy');
const messageHex = Buffer.from(message).toString('hex');

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(cleanup);

describe('in front of a co-signing server', () => {
  let s: TestServer;
  before(async () => {
    s = await server();
  });

  test('an ECDSA key is generated and signs through the proxy over TLS', async () => {
    const p = await proxy(s.hostPort, certs);
    assert.match(p.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new TesseraClient({
      server: p.url,
      token: await s.token('alice'),
      store: new MemoryShareStore(),
      fetch: nodeFetch({ ca: certs.ca }),
    });
    const key = await client.createKey({ scheme: 'ecdsa' });
    const sig = await client.sign(key.keyId, { message: messageHex });
    assert.ok(sig.der, 'an ECDSA signature carries its DER form');
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der));
    // Every exchange went through the proxy and is logged without its query string.
    const lines = p.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    assert.ok(lines.some((l) => l.method === 'POST' && l.path === '/v1/keys' && l.status === 201));
    assert.ok(lines.every((l) => typeof l.durationMs === 'number' && l.ip === '127.0.0.1'));
  });

  test('an Ed25519 key is generated and signs over WebSocket through the proxy', async () => {
    const p = await proxy(s.hostPort, certs);
    const client = new TesseraClient({
      server: p.url,
      token: await s.token('bob'),
      store: new MemoryShareStore(),
      transport: 'ws',
      fetch: nodeFetch({ ca: certs.ca }),
      webSocket: (url) => new WebSocket(url, { ca: certs.ca }) as unknown as WebSocketLike,
    });
    const key = await client.createKey({ scheme: 'ed25519' });
    const sig = await client.sign(key.keyId, { message: messageHex });
    const jwk = {
      kty: 'OKP',
      crv: 'Ed25519',
      x: Buffer.from(key.publicKey, 'hex').toString('base64url'),
    };
    assert.ok(
      verify(
        null,
        message,
        createPublicKey({ key: jwk, format: 'jwk' }),
        Buffer.from(sig.signature, 'hex')
      )
    );
    const upgrades = p.logs
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'request' && l.upgrade === 'websocket');
    assert.ok(upgrades.length >= 2, 'key generation and signing each opened a WebSocket');
    assert.ok(
      upgrades.every((l) => l.status === 101 && /^\/v1\/sessions\/[^?]+\/ws$/.test(l.path))
    );
    assert.doesNotMatch(p.logs.join(''), /ticket=/, 'the ticket in the query string is not logged');
  });

  test('over the rate limit: 429 RATE_LIMITED with Retry-After, for WebSockets too; /health still answers', async () => {
    const p = await proxy(s.hostPort, certs, { flags: { rateLimit: 3, rateWindowSeconds: 60 } });
    for (let i = 0; i < 3; i++)
      assert.equal((await call(`${p.url}/v1/health`, certs.ca)).status, 200);
    const r = await call(`${p.url}/v1/health`, certs.ca);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'RATE_LIMITED');
    assert.equal(typeof r.json.error.message, 'string');
    const retryAfter = Number(r.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
    // A WebSocket upgrade counts as a request, and is refused the same way.
    const ws = new WebSocket(`${p.url.replace('https', 'wss')}/v1/sessions/x/ws`, { ca: certs.ca });
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 429);
    ws.terminate();
    // The proxy's own health check is answered before the limit, and does not count.
    for (let i = 0; i < 5; i++) {
      const h = await call(`${p.url}/health`, certs.ca);
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'ok', upstream: 'up' });
    }
  });
});

test('a dead upstream: 502 UPSTREAM_UNAVAILABLE, for WebSockets too; /health says it is down', async () => {
  const p = await proxy(`127.0.0.1:${await deadPort()}`, certs);
  const r = await call(`${p.url}/v1/keys`, certs.ca, { method: 'POST', body: '{}' });
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'UPSTREAM_UNAVAILABLE');
  const ws = new WebSocket(`${p.url.replace('https', 'wss')}/v1/sessions/x/ws`, { ca: certs.ca });
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
  assert.equal(res.statusCode, 502);
  ws.terminate();
  const h = await call(`${p.url}/health`, certs.ca);
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok', upstream: 'down' });
});

test('TLS 1.2 is refused; TLS 1.3 is accepted', async () => {
  const p = await proxy(`127.0.0.1:${await deadPort()}`, certs);
  const port = Number(new URL(p.url).port);
  const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca: certs.ca, maxVersion });
      socket.once('secureConnect', () => {
        resolve(socket.getProtocol() ?? 'unknown');
        socket.destroy();
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
    });
  assert.match(await attempt('TLSv1.2'), /^error /);
  assert.equal(await attempt('TLSv1.3'), 'TLSv1.3');
});

test('the upstream gets the client address and https from the proxy alone, no hop-by-hop headers; the log keeps no query, header or body', async () => {
  let seen: IncomingHttpHeaders = {};
  let seenUrl = '';
  const echo = createServer((req, res) => {
    seen = req.headers;
    seenUrl = req.url ?? '';
    req.resume();
    req.on('end', () => res.end('{"ok":true}'));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  try {
    const p = await proxy(`127.0.0.1:${(echo.address() as { port: number }).port}`, certs);
    const r = await call(`${p.url}/v1/anything?ticket=secret-ticket`, certs.ca, {
      method: 'POST',
      headers: {
        authorization: 'Bearer secret-token',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6',
        'x-custom': 'kept',
        connection: 'keep-alive, x-custom-hop',
        'x-custom-hop': 'dropped',
        'content-type': 'application/json',
      },
      body: '{"secret":"body"}',
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { ok: true });
    assert.equal(seenUrl, '/v1/anything?ticket=secret-ticket', 'the target passes unchanged');
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'https');
    assert.equal(seen['x-forwarded-host'], undefined);
    assert.equal(seen.forwarded, undefined);
    assert.equal(
      seen['x-custom-hop'],
      undefined,
      'a header the Connection header names is dropped'
    );
    assert.equal(seen['x-custom'], 'kept');
    assert.equal(seen.authorization, 'Bearer secret-token');
    const log = p.logs.join('');
    for (const secret of ['secret-ticket', 'secret-token', 'secret', 'Bearer'])
      assert.ok(!log.includes(secret), `the log holds no "${secret}"`);
    const line = p.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request');
    assert.equal(line.path, '/v1/anything');
    assert.equal(line.method, 'POST');
    assert.equal(line.status, 200);
  } finally {
    await new Promise<void>((r) => echo.close(() => r()));
  }
});

test('a certificate file that cannot be read stops the start with a configuration error', async () => {
  const config = loadProxyConfig(
    { upstream: '127.0.0.1:5000', tlsCert: `${certs.dir}/missing.pem`, tlsKey: certs.keyFile },
    {}
  );
  await assert.rejects(startProxy({ ...config, port: 0 }), (e: Error) => {
    assert.equal(e.name, 'ConfigError');
    assert.match(e.message, /missing\.pem.*ENOENT/);
    return true;
  });
  const mismatched = { ...config, tlsCert: certs.keyFile, port: 0 };
  await assert.rejects(startProxy(mismatched), { name: 'ConfigError' });
});

test('bodies stream both ways (4 MiB up in chunks, 4 MiB back)', async () => {
  let framing: string | undefined;
  const echo = createServer((req, res) => {
    framing = req.headers['transfer-encoding'];
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  try {
    const p = await proxy(`127.0.0.1:${(echo.address() as { port: number }).port}`, certs);
    const chunk = Buffer.alloc(1024 * 1024, 'tessera');
    const back = await new Promise<Buffer>((resolve, reject) => {
      const req = httpsRequest(
        `${p.url}/echo`,
        { method: 'PUT', ca: certs.ca, agent: false },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        }
      );
      req.on('error', reject);
      // No Content-Length: the body goes chunked, written a piece at a time.
      for (let i = 0; i < 3; i++) req.write(chunk);
      req.end(chunk);
    });
    assert.equal(framing, 'chunked');
    assert.equal(back.length, 4 * chunk.length);
    assert.ok(back.equals(Buffer.concat([chunk, chunk, chunk, chunk])));
  } finally {
    await new Promise<void>((r) => echo.close(() => r()));
  }
});

test('an upstream that accepts and stays silent: 504 UPSTREAM_TIMEOUT', async () => {
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const p = await proxy(`127.0.0.1:${(silent.address() as { port: number }).port}`, certs, {
      config: { limits: { ...DEFAULT_LIMITS, upstreamTimeoutMs: 200 } },
    });
    const r = await call(`${p.url}/v1/health`, certs.ca);
    assert.equal(r.status, 504);
    assert.equal(r.json.error.code, 'UPSTREAM_TIMEOUT');
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('a client that leaves before the answer: the upstream request is dropped, the upstream not blamed', async () => {
  let reached: () => void = () => {};
  const arrived = new Promise<void>((r) => {
    reached = r;
  });
  let upstreamClosed: () => void = () => {};
  const dropped = new Promise<void>((r) => {
    upstreamClosed = r;
  });
  const slow = createServer((req, res) => {
    if (req.url === '/v1/health') return void res.end('{"status":"ok"}');
    req.socket.once('close', () => upstreamClosed());
    reached();
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  try {
    const p = await proxy(`127.0.0.1:${(slow.address() as { port: number }).port}`, certs);
    const req = httpsRequest(`${p.url}/slow`, { ca: certs.ca, agent: false });
    req.on('error', () => {});
    req.end();
    await arrived;
    req.destroy();
    await dropped;
    const h = await call(`${p.url}/health`, certs.ca);
    assert.deepEqual(h.json, { status: 'ok', upstream: 'up' });
    const line = p.logs.map((l) => JSON.parse(l)).find((l) => l.path === '/slow');
    assert.equal(line.aborted, true);
    assert.equal(line.status, null);
  } finally {
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  }
});

test('a refused request without a body keeps its connection; one with an unread body closes it', async () => {
  const p = await proxy(`127.0.0.1:${await deadPort()}`, certs, {
    flags: { rateLimit: 1, rateWindowSeconds: 60 },
  });
  const f = nodeFetch({ ca: certs.ca });
  await (await f(`${p.url}/a`)).text();
  const bodyless = await f(`${p.url}/b`);
  assert.equal(bodyless.status, 429);
  assert.equal(bodyless.headers.get('connection'), 'keep-alive');
  const withBody = await f(`${p.url}/c`, { method: 'POST', body: 'x'.repeat(100) });
  assert.equal(withBody.status, 429);
  assert.equal(withBody.headers.get('connection'), 'close');
});

test('headers over the limit: 431 HEADERS_TOO_LARGE in the house shape', async () => {
  const p = await proxy(`127.0.0.1:${await deadPort()}`, certs);
  const r = await call(`${p.url}/v1/health`, certs.ca, {
    headers: { 'x-big': 'a'.repeat(20_000) },
  });
  assert.equal(r.status, 431);
  assert.equal(r.json.error.code, 'HEADERS_TOO_LARGE');
});
