/**
 * The routes through Fastify's `inject()`: no listening server. Schema rejections, and one case
 * per error code of the API: provoked for real where a request alone can (schemas, auth, replay,
 * a malformed envelope), and otherwise thrown by the engine behind the route that would answer
 * it, to pin the mapping (status, body shape, `Retry-After`, nothing leaked).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ERROR_STATUS, type ErrorCode } from '@tessera/api';
import { buildApp } from '../src/app.ts';
import { Authenticator, devToken } from '../src/auth.ts';
import { loadConfig } from '../src/config.ts';
import { Sealer } from '../src/custody.ts';
import { ApiError } from '../src/errors.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { LocalSessionEvents } from '../src/redis.ts';
import { SessionEngine } from '../src/sessions/engine.ts';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.ts';
import { StoreUnavailable } from '../src/store/store.ts';

/** The engine behind the routes, made to throw `fail` from the entry points routes call. */
class ScriptedEngine extends SessionEngine {
  fail: Error | null = null;
  #check(): void {
    if (this.fail) throw this.fail;
  }
  override async start(...a: Parameters<SessionEngine['start']>) {
    this.#check();
    return super.start(...a);
  }
  override async step(...a: Parameters<SessionEngine['step']>) {
    this.#check();
    return super.step(...a);
  }
  override async abortByClient(...a: Parameters<SessionEngine['abortByClient']>) {
    this.#check();
    return super.abortByClient(...a);
  }
  override async confirmEpoch(...a: Parameters<SessionEngine['confirmEpoch']>) {
    this.#check();
    return super.confirmEpoch(...a);
  }
}

type App = Awaited<ReturnType<typeof buildApp>>;
type Method = 'GET' | 'POST';
interface Reply {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
  headers: Record<string, unknown>;
  text: string;
}

const hex = (n: number) => Buffer.from(randomBytes(n)).toString('hex');
const guard = () => ({ nonce: hex(16), timestamp: Date.now() });
const KEY = hex(32);
const SID = hex(16);

describe('routes (inject)', () => {
  let data: string;
  let store: SqliteStore;
  let engine: ScriptedEngine;
  let app: App;
  let token: string;
  /** A started session (the step routes look the session up before the engine's step). */
  let live: string;

  async function send(
    method: Method,
    url: string,
    o: { body?: unknown; raw?: string; auth?: boolean; headers?: Record<string, string> } = {}
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.auth !== false) headers.authorization = `Bearer ${token}`;
    const payload = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const r = await app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    });
    let body: Reply['body'] = {};
    try {
      body = r.json();
    } catch {}
    return { status: r.statusCode, body, headers: r.headers, text: r.body };
  }

  /** A real key generation start (ed25519): a session to step. */
  async function keygenSession(): Promise<string> {
    const r = await send('POST', '/v1/keys', { body: { scheme: 'ed25519', ...guard() } });
    assert.equal(r.status, 201, r.text);
    return r.body.sessionId as string;
  }

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'tessera-routes-'));
    const config = loadConfig({ data, dev: true, port: 0, logLevel: 'silent' }, {});
    store = openSqliteStore('sqlite::memory:');
    await store.init();
    const log = createLogger('silent');
    const metrics = new Metrics();
    engine = new ScriptedEngine({
      store,
      sealer: new Sealer(new Uint8Array(randomBytes(32))),
      config,
      metrics,
      log,
    });
    const auth = await Authenticator.create(config, store);
    const events = new LocalSessionEvents();
    app = await buildApp({
      config,
      store,
      engine,
      auth,
      metrics,
      log,
      redis: null,
      events,
      relay: null,
      attestation: null,
    });
    await app.ready();
    token = await devToken(data, 'alice');
    live = await keygenSession();
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(data, { recursive: true, force: true });
  });
  beforeEach(() => {
    engine.fail = null;
  });

  describe('schema rejections answer 400 SCHEMA and reach no engine', () => {
    const cases: [string, Method, string, { body?: unknown; raw?: string }][] = [
      [
        'a key body with an unknown field',
        'POST',
        '/v1/keys',
        { body: { scheme: 'ed25519', x: 1, ...guard() } },
      ],
      [
        'a key body without its nonce',
        'POST',
        '/v1/keys',
        { body: { scheme: 'ed25519', timestamp: 1 } },
      ],
      [
        'a timestamp of the wrong type',
        'POST',
        '/v1/keys',
        { body: { scheme: 'ed25519', nonce: hex(16), timestamp: '1' } },
      ],
      ['a body that is not JSON', 'POST', '/v1/keys', { raw: '{"scheme":' }],
      ['a key id that is not 32 hex bytes', 'GET', '/v1/keys/xyz', {}],
      [
        'a sign payload of an unknown kind',
        'POST',
        `/v1/keys/${KEY}/sign`,
        { body: { payload: { kind: 'nope' }, ...guard() } },
      ],
      ['a refresh without its epoch', 'POST', `/v1/keys/${KEY}/refresh`, { body: guard() }],
      [
        'a confirmation with an extra field',
        'POST',
        `/v1/keys/${KEY}/refresh/confirm`,
        { body: { epoch: hex(32), more: 1 } },
      ],
      [
        'a session id that is not 16 hex bytes',
        'POST',
        '/v1/sessions/zz/messages',
        { body: { messages: [] } },
      ],
      [
        'messages that are not an array',
        'POST',
        '/v1/sessions/LIVE/messages',
        { body: { messages: 'AAAA' } },
      ],
      [
        'an envelope that is not base64',
        'POST',
        '/v1/sessions/LIVE/messages',
        { body: { messages: ['!!'] } },
      ],
      ['an abort code with spaces', 'POST', `/v1/sessions/${SID}/abort`, { body: { code: 'a b' } }],
      [
        'a WebSocket query with two tickets',
        'GET',
        `/v1/sessions/${SID}/ws?ticket=${'0'.repeat(64)}&ticket=${'0'.repeat(64)}`,
        {},
      ],
    ];
    for (const [what, method, url, o] of cases)
      it(what, async () => {
        engine.fail = new Error('the engine must not be reached');
        // A step's body is read only for a session of the caller's (`LIVE`: a started one).
        const r = await send(method, url.replace('LIVE', live), o);
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.error?.code, 'SCHEMA', r.text);
      });
  });

  /**
   * Every code: `real` provokes it with a request; otherwise `thrown` is what the engine throws
   * behind `route`. Codes only Node's HTTP layer answers (no route runs) say why they are not here.
   */
  type Case =
    | { real: () => Promise<Reply> }
    | { thrown: () => Error; route: () => [Method, string, unknown] }
    | { notARoute: string };
  const signRoute = (): [Method, string, unknown] => [
    'POST',
    `/v1/keys/${KEY}/sign`,
    { payload: { kind: 'message', message: '00' }, ...guard() },
  ];
  const stepRoute = (): [Method, string, unknown] => [
    'POST',
    `/v1/sessions/${live}/messages`,
    { messages: ['AAAA'] },
  ];
  const api = (code: ErrorCode, opts?: { retryAfter?: number }) => () =>
    new ApiError(code, `scripted ${code}`, opts);
  const cases: Record<ErrorCode, Case> = {
    SCHEMA: { real: () => send('POST', '/v1/keys', { body: {} }) },
    UNSUPPORTED_CURVE: {
      real: () => send('POST', '/v1/keys', { body: { scheme: 'rsa', ...guard() } }),
    },
    BAD_PAYLOAD: { thrown: api('BAD_PAYLOAD'), route: signRoute },
    PAYLOAD_TOO_COMPLEX: { thrown: api('PAYLOAD_TOO_COMPLEX'), route: signRoute },
    PROTOCOL_VIOLATION: {
      real: async () => {
        const sid = await keygenSession();
        return send('POST', `/v1/sessions/${sid}/messages`, { body: { messages: ['AAAA'] } });
      },
    },
    PROTOCOL_ABORT: { thrown: api('PROTOCOL_ABORT'), route: stepRoute },
    UNAUTHORIZED: { real: () => send('GET', '/v1/keys', { auth: false }) },
    FORBIDDEN: {
      real: () =>
        send('GET', `/v1/sessions/${SID}/ws`, { headers: { origin: 'https://evil.example' } }),
    },
    NOT_FOUND: { real: () => send('GET', `/v1/keys/${KEY}`) },
    KEY_BUSY: { thrown: api('KEY_BUSY'), route: signRoute },
    EPOCH_STALE: {
      thrown: api('EPOCH_STALE'),
      route: () => ['POST', `/v1/keys/${KEY}/refresh/confirm`, { epoch: hex(32) }],
    },
    REPLAYED_REQUEST: {
      real: async () => {
        const g = guard();
        const first = await send('POST', '/v1/keys', { body: { scheme: 'ed25519', ...g } });
        assert.equal(first.status, 201, first.text);
        return send('POST', '/v1/keys', { body: { scheme: 'bip340', ...g } });
      },
    },
    SESSION_BUSY: { thrown: api('SESSION_BUSY', { retryAfter: 1 }), route: stepRoute },
    POLICY_DENIED: { thrown: api('POLICY_DENIED'), route: signRoute },
    SESSION_EXPIRED: {
      thrown: api('SESSION_EXPIRED'),
      route: () => ['POST', `/v1/sessions/${live}/abort`, { code: 'USER_CANCELLED' }],
    },
    SESSION_CLOSED: {
      real: async () => {
        const sid = await keygenSession();
        const url = `/v1/sessions/${sid}/messages`;
        await send('POST', url, { body: { messages: ['AAAA'] } });
        return send('POST', url, { body: { messages: ['AAAB'] } });
      },
    },
    STALE_REQUEST: {
      real: () =>
        send('POST', '/v1/keys', { body: { scheme: 'ed25519', nonce: hex(16), timestamp: 1 } }),
    },
    PAYLOAD_TOO_LARGE: {
      real: () =>
        send('POST', '/v1/keys', {
          body: { scheme: 'ed25519', label: 'x'.repeat(300 * 1024), ...guard() },
        }),
    },
    REQUEST_TIMEOUT: { notARoute: "Node's request timeout (http.test.ts)" },
    URI_TOO_LONG: { real: () => send('GET', `/v1/keys/${'a'.repeat(600)}`) },
    HEADERS_TOO_LARGE: { notARoute: "Node's header limit (http.test.ts)" },
    RATE_LIMITED: { thrown: api('RATE_LIMITED', { retryAfter: 7 }), route: stepRoute },
    KEY_CORRUPTED: { thrown: api('KEY_CORRUPTED'), route: signRoute },
    EPOCH_ROLLBACK: { thrown: api('EPOCH_ROLLBACK'), route: signRoute },
    KEY_LOCKED: { thrown: api('KEY_LOCKED'), route: stepRoute },
    ROLE_FORBIDDEN: { real: () => send('GET', '/v1/node/identity', { auth: false }) },
    KEY_RETIRED: { thrown: api('KEY_RETIRED'), route: signRoute },
    RECOVERY_PENDING: { thrown: api('RECOVERY_PENDING'), route: signRoute },
    NO_RECOVERY: { thrown: api('NO_RECOVERY'), route: signRoute },
    UNAVAILABLE: { thrown: () => new StoreUnavailable('connection refused'), route: stepRoute },
    RELAY_DISABLED: { real: () => send('GET', '/v1/relay/identity') },
    ATTESTATION_DISABLED: { real: () => send('GET', `/v1/attestation?nonce=${'ab'.repeat(16)}`) },
    RELAY_ROOM: { thrown: api('RELAY_ROOM'), route: stepRoute },
    // Provoked for real with a key of the caller's in backups.test.ts.
    BACKUP_INVALID: { thrown: api('BACKUP_INVALID'), route: signRoute },
    BACKUP_LIMIT: { thrown: api('BACKUP_LIMIT'), route: signRoute },
    INTERNAL: { thrown: () => new Error('secret internal detail'), route: signRoute },
  };

  it('the table names every error code of the API', () => {
    assert.deepEqual(Object.keys(cases).sort(), Object.keys(ERROR_STATUS).sort());
  });

  describe('each error code answers its status and the error shape', () => {
    for (const [code, c] of Object.entries(cases) as [ErrorCode, Case][]) {
      if ('notARoute' in c) continue;
      it(code, async () => {
        let r: Reply;
        if ('real' in c) r = await c.real();
        else {
          engine.fail = c.thrown();
          const [method, url, body] = c.route();
          r = await send(method, url, { body });
        }
        assert.equal(r.status, ERROR_STATUS[code], r.text);
        assert.equal(r.body.error?.code, code, r.text);
        assert.equal(typeof r.body.error?.message, 'string');
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        if (code === 'INTERNAL') assert.ok(!r.text.includes('secret'), r.text);
        if (code === 'UNAVAILABLE') assert.equal(r.headers['retry-after'], '1');
        if (code === 'RATE_LIMITED') assert.equal(r.headers['retry-after'], '7');
      });
    }
  });
});
