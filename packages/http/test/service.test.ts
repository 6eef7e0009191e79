/**
 * A service built with `createService`, on loopback: what Node's parser and Fastify's router
 * refuse is answered in the service's own error shape; schemas neither coerce nor strip; the
 * logger censors the fields a service names and never logs a query string.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import {
  createService,
  createServiceLogger,
  handleErrors,
  type LowLevelFault,
  type ServiceApp,
} from '@tessera/http';

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
    done();
  },
});
const refused: string[] = [];
let app: ServiceApp;
let port: number;

before(async () => {
  app = createService({
    log: createServiceLogger({ service: 'test', level: 'info', secretFields: ['password'] }, sink),
    bodyLimit: 1024,
    timeouts: { requestMs: 2000, headersMs: 1000, keepAliveMs: 1000, idleMs: 2000 },
    refusal: (fault: LowLevelFault) => ({
      status: fault === 'HEADERS_TOO_LARGE' ? 431 : fault === 'URI_TOO_LONG' ? 414 : 400,
      code: fault,
      toBody: () => ({ error: { code: fault, message: 'refused' } }),
    }),
    onRefused: (r) => refused.push(r.code),
  });
  app.post(
    '/echo',
    {
      schema: {
        body: {
          type: 'object',
          properties: { n: { type: 'integer' } },
          required: ['n'],
          additionalProperties: false,
        },
      },
    },
    async (req) => req.body
  );
  const refusal = (status: number, code: string, retryAfter?: number) => ({
    status,
    code,
    retryAfter,
    toBody: () => ({ error: { code, message: code.toLowerCase() } }),
  });
  handleErrors(app, {
    toRefusal: (err) =>
      err instanceof RangeError
        ? refusal(429, 'BUSY', 7)
        : (err as { validation?: unknown }).validation
          ? refusal(400, 'SCHEMA')
          : refusal(500, 'INTERNAL'),
    notFound: refusal(404, 'NOT_FOUND'),
    onRefused: (r) => refused.push(r.code),
  });
  app.get('/busy', async () => {
    throw new RangeError('queue full');
  });
  app.get('/bug', async () => {
    throw new Error('secret detail');
  });
  app.get('/item/:id', async () => 'item');
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
after(() => app.close());

/** Writes `raw` to the service and reads until it closes. */
function rawRequest(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(raw));
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

test('headers too large and malformed requests are refused in the service shape, and counted', async () => {
  const big = await rawRequest(
    `GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`
  );
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.match(big, /"code":"HEADERS_TOO_LARGE"/);
  const junk = await rawRequest('NOT HTTP AT ALL\r\n\r\n');
  assert.match(junk, /^HTTP\/1\.1 400 /);
  assert.match(junk, /"code":"MALFORMED_REQUEST"/);
  assert.deepEqual(refused.slice(0, 2), ['HEADERS_TOO_LARGE', 'MALFORMED_REQUEST']);
});

test('a malformed URL and an overlong path parameter are refused before any route, echoing nothing', async () => {
  const bad = await app.inject({ method: 'GET', url: '/item/%E0%A4%A' });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(JSON.parse(bad.body), { error: { code: 'MALFORMED_URL', message: 'refused' } });
  const long = await app.inject({ method: 'GET', url: `/item/${'a'.repeat(200)}` });
  assert.equal(long.statusCode, 414);
  assert.equal(JSON.parse(long.body).error.code, 'URI_TOO_LONG');
});

test('schemas do not coerce: "1" is not an integer', async () => {
  const ok = await app.inject({ method: 'POST', url: '/echo', payload: { n: 1 } });
  assert.equal(ok.statusCode, 200);
  const coerced = await app.inject({ method: 'POST', url: '/echo', payload: { n: '1' } });
  assert.equal(coerced.statusCode, 400);
  const extra = await app.inject({ method: 'POST', url: '/echo', payload: { n: 1, x: 2 } });
  assert.equal(extra.statusCode, 400);
});

test('the logger censors named fields at depth and drops query strings', async () => {
  const log = createServiceLogger(
    { service: 'test', level: 'info', secretFields: ['password'] },
    sink
  );
  log.info({ password: 'p1', user: { password: 'p2' }, a: { b: { password: 'p3' } } }, 'hello');
  await app.inject({ method: 'POST', url: '/echo?ticket=secret', payload: { n: 1 } });
  await new Promise((r) => setImmediate(r));
  const text = JSON.stringify(lines);
  for (const s of ['p1', 'p2', 'p3', 'ticket=secret']) assert.ok(!text.includes(s), s);
  assert.ok(text.includes('[redacted]'));
  assert.ok(lines.some((l) => (l.req as { path?: string } | undefined)?.path === '/echo'));
});

test('handleErrors: thrown errors become the service refusals, with Retry-After; 404s too; no detail leaks', async () => {
  const busy = await app.inject({ method: 'GET', url: '/busy' });
  assert.equal(busy.statusCode, 429);
  assert.equal(busy.headers['retry-after'], '7');
  assert.equal(busy.headers['x-content-type-options'], 'nosniff');
  assert.equal(busy.headers['cache-control'], 'no-store');
  const bug = await app.inject({ method: 'GET', url: '/bug' });
  assert.equal(bug.statusCode, 500);
  assert.doesNotMatch(bug.body, /secret detail/);
  const none = await app.inject({ method: 'GET', url: '/nothing-here' });
  assert.deepEqual(JSON.parse(none.body), { error: { code: 'NOT_FOUND', message: 'not_found' } });
  assert.ok(refused.includes('BUSY') && refused.includes('NOT_FOUND'));
});
