/**
 * The HTTP surface: malformed WebSocket queries, the per-IP limit on the docs and unknown routes
 * (docs/security.md ), HTTP-layer errors in the API's shape, what anonymous callers
 * see of the status and metrics, and the security headers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { call, type TestServer, testServer } from './helpers.ts';

/** Sends raw bytes and returns all the server answered before closing. */
function raw(url: string, request: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(request));
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => resolve(text));
  });
}

/** A raw answer: its status and parsed JSON body. */
function answer(text: string): { status: number; body: unknown } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const start = text.indexOf('\r\n\r\n') + 4;
  let body: unknown;
  try {
    body = JSON.parse(text.slice(start));
  } catch {
    body = text.slice(start);
  }
  return { status, body };
}

describe('HTTP surface', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer();
  });
  after(() => t.close());

  test('two tickets (or any malformed query) on the WebSocket route are a 400 SCHEMA, unauthenticated', async () => {
    const z = '0'.repeat(64);
    const r = await call(t.url, 'GET', `/v1/sessions/${'a'.repeat(32)}/ws?ticket=${z}&ticket=${z}`);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error?.code, 'SCHEMA');
    const other = await call(t.url, 'GET', `/v1/sessions/${'a'.repeat(32)}/ws?ticket[a]=1`);
    assert.equal(other.json.error?.code, 'SCHEMA', other.text);
    assert.ok(!t.logs.join('').includes('internal error'));
  });

  test('HTTP-layer refusals answer {"error":{"code","message"}} and echo nothing of the request', async () => {
    const marker = 'zq'.repeat(150);
    const cases: [string, string, number, string][] = [
      [
        'path parameter over 100 characters',
        `GET /v1/keys/${marker} HTTP/1.1\r\nHost: x\r\n\r\n`,
        414,
        'URI_TOO_LONG',
      ],
      [
        'headers over 16 KiB',
        `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${marker.repeat(60)}\r\n\r\n`,
        431,
        'HEADERS_TOO_LARGE',
      ],
      ['malformed request line', `GET /${marker} NOT-HTTP\r\n\r\n`, 400, 'SCHEMA'],
      [
        'Content-Length with Transfer-Encoding',
        `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nX-M: ${marker}\r\n\r\n0\r\n\r\n`,
        400,
        'SCHEMA',
      ],
      [
        'two Content-Lengths',
        `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\nX-M: ${marker}\r\n\r\nab`,
        400,
        'SCHEMA',
      ],
      [
        'a NUL byte in a header',
        `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-M: ${marker}\0\r\n\r\n`,
        400,
        'SCHEMA',
      ],
      [
        'an invalid URL component',
        `GET /v1/keys/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n`,
        400,
        'SCHEMA',
      ],
    ];
    for (const [what, request, status, code] of cases) {
      const text = await raw(t.url, request);
      const a = answer(text);
      assert.equal(a.status, status, `${what}: ${text.slice(0, 200)}`);
      const body = a.body as { error?: { code?: string; message?: string } };
      assert.deepEqual(Object.keys(body), ['error'], what);
      assert.equal(body.error?.code, code, what);
      assert.equal(typeof body.error?.message, 'string', what);
      assert.ok(!text.includes(marker) && !text.includes('%E0'), `${what}: nothing echoed`);
    }
  });

  test('status shows no store path or Node version; every answer has nosniff; /docs has a strict CSP', async () => {
    const status = await call(t.url, 'GET', '/v1/status');
    assert.deepEqual(status.json.build, { store: 'sqlite' });
    assert.ok(!status.text.includes(t.data) && !status.text.includes(process.version));
    assert.equal(status.headers.get('x-content-type-options'), 'nosniff');
    for (const path of [
      '/docs',
      '/docs?x=1',
      '/docs/?x=1',
      '/docs/json',
      '/docs/static/swagger-ui.css',
    ]) {
      const r = await fetch(`${t.url}${path}`, { redirect: 'manual' });
      assert.ok(r.status < 400, `${path}: ${r.status}`);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
    }
    const notFound = await call(t.url, 'GET', '/nowhere');
    assert.equal(notFound.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('the per-IP limit covers the docs and unknown routes', () => {
  test('once the address is over its budget, /docs/* and unknown paths are 429 too', async () => {
    const t = await testServer({ limits: { requestsPerMinutePerIp: 4 } });
    try {
      const codes: number[] = [];
      for (const path of [
        '/docs/json',
        '/docs/',
        '/nowhere',
        '/docs/static/index.css',
        '/docs/json',
        '/nowhere',
        '/docs/',
      ])
        codes.push((await fetch(`${t.url}${path}`)).status);
      assert.deepEqual(codes.slice(0, 4), [200, 200, 404, 200]);
      assert.deepEqual(codes.slice(4), [429, 429, 429]);
      const r = await call(t.url, 'GET', '/nowhere');
      assert.equal(r.json.error?.code, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } finally {
      await t.close();
    }
  });
});

describe('/metrics is not open outside dev mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-jwks-'));
  const jwksFile = join(dir, 'jwks.json');
  before(async () => {
    const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] })
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without a token or a listener of its own it is not served; dev mode serves it', async () => {
    const dev = await testServer();
    try {
      assert.equal((await fetch(`${dev.url}/metrics`)).status, 200);
      const prod = await testServer({ dev: false, auth: { jwksFile } });
      try {
        assert.equal((await call(prod.url, 'GET', '/metrics')).json.error?.code, 'NOT_FOUND');
      } finally {
        await prod.close();
      }
    } finally {
      await dev.close();
    }
  });

  test('with metrics.token: a scraper must send it', async () => {
    const token = 'metrics-token-0123456789';
    const t = await testServer({ dev: false, auth: { jwksFile }, metrics: { token } });
    try {
      const none = await call(t.url, 'GET', '/metrics');
      assert.equal(none.status, 401);
      assert.equal(none.json.error?.code, 'UNAUTHORIZED');
      const wrong = await call(t.url, 'GET', '/metrics', {
        headers: { authorization: `Bearer ${token.slice(0, -1)}x` },
      });
      assert.equal(wrong.status, 401);
      const ok = await call(t.url, 'GET', '/metrics', {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200);
      assert.match(ok.text, /tessera_sessions_total/);
    } finally {
      await t.close();
    }
  });

  test('with metrics.port: served there only (the token too, if set)', async () => {
    const t = await testServer({ metrics: { port: 0, token: 'metrics-token-0123456789' } });
    try {
      assert.equal((await call(t.url, 'GET', '/metrics')).status, 404, 'not on the API listener');
      const url = t.srv.metricsUrl as string;
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.equal((await fetch(url)).status, 401);
      const ok = await fetch(url, {
        headers: { authorization: 'Bearer metrics-token-0123456789' },
      });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /tessera_http_errors_total/);
      assert.equal((await fetch(url.replace('/metrics', '/v1/health'))).status, 404);
    } finally {
      await t.close();
    }
  });
});
