/**
 * The HTTP and WebSocket surface (Fastify): authentication, schemas, rate limits, error mapping,
 * OpenAPI. Every route delegates to the session engine or the store; none does cryptography.
 * @module
 */

import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import fastifyWebsocket from '@fastify/websocket';
import {
  AbortBody,
  AbortReply,
  CreateKeyBody,
  coreProtocolName,
  ErrorResponse,
  Health,
  KeyIdParams,
  KeyInfo,
  type KeyInfoResponse,
  KeyList,
  MAX_STEP_BODY_BYTES,
  type ProtocolNameValue,
  RefreshBody,
  SessionParams,
  SessionStarted,
  type SessionStartedResponse,
  SignBody,
  Status,
  StepBody,
  StepReply,
  stepBodyLimit,
  WsTicket,
} from '@tessera/api';
import type { Scheme } from '@tessera/core';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import type { WebSocket } from 'ws';
import type { Authenticator } from './auth.ts';
import type { ServerConfig } from './config.ts';
import type { SessionEngine, StartRequest } from './engine.ts';
import { ApiError, notFound } from './errors.ts';
import { type Metrics, metricsAuthorized } from './metrics.ts';
import { type QuotaUnit, SubjectQuota } from './quota.ts';
import { InFlight, limitConnections, rateLimitKey } from './ratelimit.ts';
import type { RedisLink, SessionEvents } from './redis.ts';
import { type KeyRecord, type Store, StoreUnavailable } from './store/store.ts';

export const VERSION = '0.1.0';

declare module 'fastify' {
  interface FastifyRequest {
    subject: string;
  }
}

export interface AppDeps {
  config: ServerConfig;
  store: Store;
  engine: SessionEngine;
  auth: Authenticator;
  metrics: Metrics;
  log: Logger;
  /** Shared rate-limit counters across instances (null: counted in this process). */
  redis: RedisLink | null;
  events: SessionEvents;
}

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  410: ErrorResponse,
  413: ErrorResponse,
  429: ErrorResponse,
};
const START_BODY_LIMIT = 256 * 1024;
/** Routes for probes and scrapers: never refused for a Redis outage (still rate limited per IP). */
const OPEN_ROUTES = new Set(['/v1/health', '/v1/status', '/metrics']);
/**
 * The API docs page: swagger-ui's own scripts, styles and images only, never framed, and no
 * third-party requests (its validator badge is off).
 */
const DOCS_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export async function buildApp(d: AppDeps) {
  const { config, store, engine, auth, metrics } = d;
  const { limits } = config;
  const started = Date.now();
  const app = Fastify({
    loggerInstance: d.log,
    bodyLimit: START_BODY_LIMIT,
    trustProxy: config.trustProxy,
    // Node never times a request out by itself: a stalled client would hold its buffers forever.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveMs,
    connectionTimeout: limits.idleTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // How often Node looks for requests past their timeouts (its default is 30 s).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 4),
    },
    // What Node refuses before Fastify sees a request, and what Fastify's router refuses, answer
    // in the API's error shape, echoing nothing of the request.
    clientErrorHandler: (err, socket) => answerClientError(err, socket, metrics),
    frameworkErrors: (err, _req, reply) => {
      const e =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError('URI_TOO_LONG', 'a path parameter is too long')
          : new ApiError('SCHEMA', 'the URL is malformed');
      metrics.httpErrors.inc({ code: e.code });
      const body = JSON.stringify(e.toBody());
      reply.raw
        .writeHead(e.status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'x-content-type-options': 'nosniff',
        })
        .end(body);
    },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorateRequest('subject', '');
  limitConnections(app.server, limits.connectionsPerIp, () =>
    metrics.rateLimited.inc({ scope: 'connections' })
  );

  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err);
    metrics.httpErrors.inc({ code: e.code });
    if (e.code === 'INTERNAL')
      req.log.error(
        { err: { type: (err as Error).name, message: (err as Error).message } },
        'internal error'
      );
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    // Refused before its body was read (or while reading it): close rather than read the rest.
    if (!req.raw.complete) void reply.header('connection', 'close');
    return reply.status(e.status).send(e.toBody());
  });
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    // By route, not URL: `/docs?x` is the docs page too.
    const route = req.routeOptions.url ?? '';
    if (route === '/docs' || route.startsWith('/docs/')) void reply.headers(DOCS_HEADERS);
  });

  // Without Redis, shared counters are unknowable: refuse (closed) or let through (open, the
  // plugin's skipOnError), as configured. Health and metrics stay reachable either way.
  const redis = d.redis;
  if (redis && config.rateLimitOnRedisDown === 'closed')
    app.addHook('onRequest', async (req) => {
      if (redis.up || OPEN_ROUTES.has(req.routeOptions.url ?? '')) return;
      throw new ApiError(
        'UNAVAILABLE',
        'rate limiting is unavailable (Redis is unreachable) and configured to fail closed',
        { retryAfter: 2 }
      );
    });
  const ipLimited = (seconds: number) => {
    metrics.rateLimited.inc({ scope: 'ip' });
    return new ApiError('RATE_LIMITED', `too many requests; retry in ${seconds} s`, {
      retryAfter: seconds,
    });
  };
  // Registered before every route (the docs' too), so that each one is counted.
  await app.register(fastifyRateLimit, {
    ...(redis ? { redis: redis.client, nameSpace: `${redis.prefix}rl:`, skipOnError: true } : {}),
    global: true,
    keyGenerator: (req) => rateLimitKey(req.ip),
    max: limits.requestsPerMinutePerIp,
    timeWindow: '1 minute',
    errorResponseBuilder: (_req, ctx) => ipLimited(Math.ceil(ctx.ttl / 1000)),
  });
  // Unknown routes have no route hooks: they count against the same per-IP budget here.
  const countIp = app.createRateLimit();
  app.setNotFoundHandler(async (req, reply) => {
    const r = await countIp(req);
    if (!r.isAllowed && r.isExceeded) throw ipLimited(r.ttlInSeconds);
    return reply.status(404).send(notFound('route').toBody());
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tessera co-signing server',
        version: VERSION,
        description:
          'Threshold-signature co-signer: key generation, signing and refresh as a 2-of-2 party.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_STEP_BODY_BYTES } });

  const authenticate = async (req: FastifyRequest) => {
    req.subject = await auth.verify(req.headers.authorization);
  };
  const quota = new SubjectQuota({
    redis,
    failOpen: config.rateLimitOnRedisDown === 'open',
    metrics,
    now: () => engine.now(),
  });
  /**
   * A session start, run once per (subject, nonce). The timestamp must be in the window; a
   * resend of the identical request (route, key and body) gets the reply the first one got, the
   * same bytes, and another request with the nonce 409 REPLAYED_REQUEST. The subject's hourly
   * quota is charged only for a start that is accepted. Answers the reply's JSON text.
   */
  const startOnce = async (
    req: FastifyRequest,
    guard: { nonce: string; timestamp: number },
    limit: { scope: string; max: number },
    start: (request: StartRequest) => Promise<SessionStartedResponse>
  ): Promise<string> => {
    const now = engine.now();
    if (Math.abs(now - guard.timestamp) > config.replayWindowMs)
      throw new ApiError(
        'STALE_REQUEST',
        `timestamp is more than ${config.replayWindowMs / 1000} s from the server's clock`
      );
    const digest = createHash('sha256')
      .update(JSON.stringify([req.routeOptions.url, req.params, req.body]))
      .digest('hex');
    const expiresAt = now + 2 * config.replayWindowMs;
    const claim = await store.claimStart(req.subject, guard.nonce, digest, expiresAt);
    if (claim.state === 'replay') return claim.reply;
    if (claim.state === 'conflict')
      throw new ApiError('REPLAYED_REQUEST', 'this request nonce was already used');
    if (claim.state === 'pending')
      throw new ApiError(
        'SESSION_BUSY',
        'this start request is still being answered; resend it to get the reply',
        { retryAfter: 1 }
      );
    let unit: QuotaUnit | undefined;
    try {
      unit = await quota.take(limit.scope, req.subject, limit.max);
      return JSON.stringify(await start({ nonce: guard.nonce }));
    } catch (e) {
      // A payload refused for what it would cost still cost work to refuse (its worker may have
      // been terminated): it counts against the quota; every other refusal does not.
      if (!(e instanceof ApiError && e.code === 'PAYLOAD_TOO_COMPLEX')) await unit?.refund();
      // The start left nothing: its resend runs again rather than finding the nonce taken.
      await store.releaseStart(req.subject, guard.nonce).catch((err: Error) => {
        req.log.warn({ err: err.message }, 'a failed start request kept its nonce');
      });
      throw e;
    }
  };
  // The reply's own text, so that a resend gets the same bytes.
  const sendStarted = (reply: FastifyReply, text: string) =>
    reply
      .status(201)
      .header('content-type', 'application/json; charset=utf-8')
      .serializer((x) => x as string)
      .send(text as never);
  const secured = { security: [{ bearer: [] }] };

  app.get(
    '/v1/health',
    { schema: { response: { 200: Health, 503: Health } } },
    async (_req, reply) => {
      const storeUp = await store.ping().then(
        () => true,
        () => false
      );
      const redisState = !redis ? 'off' : redis.up ? 'ok' : 'down';
      const status = !storeUp ? 'down' : redisState === 'down' ? 'degraded' : 'ok';
      return reply
        .status(storeUp ? 200 : 503)
        .send({ status, store: storeUp ? 'ok' : 'down', redis: redisState } as const);
    }
  );
  // Public: no paths, addresses or versions of what runs behind it.
  const storeKind = store.description.startsWith('sqlite:') ? 'sqlite' : 'postgres';
  app.get('/v1/status', { schema: { response: { 200: Status } } }, async () => ({
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    build: { store: storeKind },
    activeSessions: await store.countActiveSessions(),
  }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Here only with its token, or in dev mode; with metrics.port, on that listener instead.
  const metricsToken = config.metrics.token;
  if (config.metrics.port === null && (metricsToken !== null || config.dev))
    app.get(
      '/metrics',
      {
        schema: { hide: true },
        onRequest: async (req) => {
          if (!metricsAuthorized(req.headers.authorization, metricsToken))
            throw new ApiError('UNAUTHORIZED', 'the metrics token is missing or wrong');
        },
      },
      async (_req, reply) => {
        const m = await renderMetrics(d);
        return reply.header('content-type', m.contentType).send(m.body);
      }
    );

  app.post(
    '/v1/keys',
    {
      schema: { ...secured, body: CreateKeyBody, response: { 201: SessionStarted, ...errors } },
      onRequest: authenticate,
    },
    async (req, reply) =>
      sendStarted(
        reply,
        await startOnce(
          req,
          req.body,
          { scope: 'keygen', max: config.limits.keygensPerHourPerSubject },
          (request) =>
            engine.startKeygen(req.subject, req.body.scheme, req.body.label ?? '', request)
        )
      )
  );
  app.get(
    '/v1/keys',
    { schema: { ...secured, response: { 200: KeyList, ...errors } }, onRequest: authenticate },
    async (req) => ({
      keys: (await store.listKeys(req.subject)).map(keyInfo),
    })
  );
  app.get(
    '/v1/keys/:keyId',
    {
      schema: { ...secured, params: KeyIdParams, response: { 200: KeyInfo, ...errors } },
      onRequest: authenticate,
    },
    async (req) => {
      const key = await store.getKey(req.params.keyId, req.subject);
      if (!key || key.subject !== req.subject) throw notFound('key');
      return keyInfo(key);
    }
  );
  app.post(
    '/v1/keys/:keyId/sign',
    {
      schema: {
        ...secured,
        params: KeyIdParams,
        body: SignBody,
        response: { 201: SessionStarted, ...errors },
      },
      onRequest: authenticate,
    },
    async (req, reply) =>
      sendStarted(
        reply,
        await startOnce(
          req,
          req.body,
          { scope: 'sign', max: config.limits.signsPerHourPerSubject },
          (request) =>
            engine.startSign(
              req.subject,
              req.params.keyId,
              req.body.payload,
              req.body.epoch,
              request
            )
        )
      )
  );
  // Refresh, and recover: the same protocol, started by a client restored from a backup.
  const refreshLimit = { scope: 'refresh', max: config.limits.keygensPerHourPerSubject };
  for (const purpose of ['refresh', 'recover'] as const) {
    app.post(
      `/v1/keys/:keyId/${purpose}`,
      {
        schema: {
          ...secured,
          description:
            purpose === 'refresh'
              ? 'Proactive refresh: same public key, new shares on both sides.'
              : 'Prove possession of a share restored from a backup; both shares are replaced.',
          params: KeyIdParams,
          body: RefreshBody,
          response: { 201: SessionStarted, ...errors },
        },
        onRequest: authenticate,
      },
      async (req, reply) =>
        sendStarted(
          reply,
          await startOnce(req, req.body, refreshLimit, (request) =>
            engine.startRefresh(req.subject, req.params.keyId, req.body.epoch, purpose, request)
          )
        )
    );
  }
  app.post(
    '/v1/keys/:keyId/refresh/confirm',
    {
      schema: {
        ...secured,
        params: KeyIdParams,
        body: Type.Object({ epoch: RefreshBody.properties.epoch }, { additionalProperties: false }),
        response: { 200: KeyInfo, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => keyInfo(await engine.confirmEpoch(req.subject, req.params.keyId, req.body.epoch))
  );
  const steps = new InFlight();
  app.post(
    '/v1/sessions/:sid/messages',
    {
      bodyLimit: MAX_STEP_BODY_BYTES,
      schema: {
        ...secured,
        params: SessionParams,
        body: StepBody,
        response: { 200: StepReply, ...errors },
      },
      onRequest: authenticate,
      // Before a byte of the body is read: few enough of the caller's steps are in flight, the
      // session is the caller's (404 otherwise, as for a missing one), and the body fits what
      // the session's protocol round can need.
      preParsing: async (req, reply, payload) => {
        if (!Value.Check(SessionParams, req.params))
          throw new ApiError('SCHEMA', 'invalid request: params/sid must be 32 hex digits');
        const release = steps.acquire([
          { key: `sub:${req.subject}`, max: limits.stepsInFlightPerSubject },
          { key: `ip:${rateLimitKey(req.ip)}`, max: limits.stepsInFlightPerIp },
        ]);
        if (!release) {
          metrics.rateLimited.inc({ scope: 'in-flight' });
          throw new ApiError('RATE_LIMITED', 'too many step requests in flight; retry shortly', {
            retryAfter: 1,
          });
        }
        // Held until the reply is sent or the connection closes: a stalled upload counts.
        reply.raw.once('close', release);
        const rec = await engine.ownedSession(req.subject, req.params.sid);
        const limit = stepBodyLimit(
          coreProtocolName(rec.protocol as ProtocolNameValue, rec.scheme as Scheme),
          rec.round
        );
        if (Number(req.headers['content-length']) > limit) throw tooLarge(limit);
        return cappedBody(payload, limit);
      },
    },
    async (req, reply) => {
      const text = await engine.step(req.subject, req.params.sid, req.body.messages);
      // The stored reply text itself: a resend gets byte-identical bytes.
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .serializer((x) => x as string)
        .send(text as never);
    }
  );
  app.post(
    '/v1/sessions/:sid/ticket',
    {
      schema: { ...secured, params: SessionParams, response: { 200: WsTicket, ...errors } },
      onRequest: authenticate,
    },
    async (req) => {
      await engine.assertSessionOwner(req.subject, req.params.sid);
      return auth.issueTicket(req.subject, req.params.sid, engine.now());
    }
  );

  app.post(
    '/v1/sessions/:sid/abort',
    {
      schema: {
        ...secured,
        description:
          'The client gives up on its session: its state is destroyed and the key is free at once.',
        params: SessionParams,
        body: AbortBody,
        response: { 200: AbortReply, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => {
      await engine.abortByClient(req.subject, req.params.sid, req.body.code);
      return { sessionId: req.params.sid, status: 'aborted' as const };
    }
  );

  app.get(
    '/v1/sessions/:sid/ws',
    {
      websocket: true,
      schema: {
        ...secured,
        params: SessionParams,
        querystring: Type.Object(
          { ticket: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })) },
          { additionalProperties: false }
        ),
      },
      preValidation: async (req) => {
        if (/[?&](token|access_token|jwt)=/.test(req.url))
          throw new ApiError(
            'SCHEMA',
            'tokens are not accepted in URLs: use a ticket or the Authorization header'
          );
        const origin = req.headers.origin;
        if (origin !== undefined && !config.allowedOrigins.includes(origin))
          throw new ApiError('FORBIDDEN', `origin ${origin} is not allowed`);
      },
      // After the schemas: the ticket and session id are well-formed before anything uses them.
      preHandler: async (req) => {
        const { sid } = req.params;
        const { ticket } = req.query;
        req.subject = ticket
          ? await auth.redeemTicket(ticket, sid, engine.now())
          : await auth.verify(req.headers.authorization);
        await engine.assertSessionOwner(req.subject, sid);
      },
    },
    (socket, req) => serveSocket(socket, req.subject, req.params.sid, d)
  );

  return app;
}

/** One session over a WebSocket: each text frame is a step request; the reply is the step's JSON. */
function serveSocket(socket: WebSocket, subject: string, sessionId: string, d: AppDeps): void {
  const { engine, config, metrics } = d;
  let queue = Promise.resolve();
  let inFlight = 0;
  // A session aborted through another connection (another instance, or HTTP): tell this client
  // now rather than at its next frame. This socket's own requests report their own outcome.
  const unsubscribe = d.events.subscribe((e) => {
    if (e.sessionId !== sessionId || e.status !== 'aborted' || inFlight > 0) return;
    socket.send(
      JSON.stringify(
        new ApiError(
          'SESSION_CLOSED',
          'the session was aborted by a request on another connection'
        ).toBody()
      )
    );
    socket.close(1000, 'SESSION_CLOSED');
  });
  let windowStart = Date.now();
  let count = 0;
  let idle = setTimeout(() => socket.close(1000, 'idle'), config.sessions.idleMs);
  socket.on('message', (data, isBinary) => {
    clearTimeout(idle);
    idle = setTimeout(() => socket.close(1000, 'idle'), config.sessions.idleMs);
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      count = 0;
    }
    if (++count > config.limits.wsMessagesPerMinute) {
      metrics.rateLimited.inc({ scope: 'websocket' });
      socket.close(1008, 'message budget exceeded');
      return;
    }
    inFlight++;
    queue = queue.then(async () => {
      try {
        if (isBinary) throw new ApiError('SCHEMA', 'frames must be JSON text');
        let body: unknown;
        try {
          body = JSON.parse(data.toString());
        } catch {
          throw new ApiError('SCHEMA', 'frame is not JSON');
        }
        if (!Value.Check(StepBody, body))
          throw new ApiError('SCHEMA', 'frame does not match the step schema');
        socket.send(await engine.step(subject, sessionId, body.messages));
      } catch (err) {
        const e = toApiError(err);
        metrics.httpErrors.inc({ code: e.code });
        socket.send(JSON.stringify(e.toBody()));
        if (
          [
            'PROTOCOL_ABORT',
            'PROTOCOL_VIOLATION',
            'SESSION_EXPIRED',
            'SESSION_CLOSED',
            'NOT_FOUND',
          ].includes(e.code)
        )
          socket.close(1000, e.code);
      } finally {
        inFlight--;
      }
    });
  });
  socket.on('close', () => {
    clearTimeout(idle);
    unsubscribe();
  });
}

/** The metrics exposition, wherever it is served. */
export async function renderMetrics(
  d: Pick<AppDeps, 'metrics' | 'store'>
): Promise<{ contentType: string; body: string }> {
  d.metrics.activeSessions.set(await d.store.countActiveSessions());
  return { contentType: d.metrics.registry.contentType, body: await d.metrics.registry.metrics() };
}

const tooLarge = (limit: number) =>
  new ApiError(
    'PAYLOAD_TOO_LARGE',
    `the body is over this session round's limit of ${limit} bytes`
  );

/** The request body, failing with PAYLOAD_TOO_LARGE once more than `limit` bytes came (chunked). */
function cappedBody(payload: NodeJS.ReadableStream, limit: number): Transform {
  let received = 0;
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      done(received > limit ? tooLarge(limit) : null, chunk);
    },
  });
  // pipe, not pipeline: an error here must not destroy the request (and the socket) before the
  // 413 is written.
  payload.pipe(capped);
  return capped;
}

/**
 * Node's own refusals (a malformed request line or header, headers over 16 KiB, a request not
 * received within the timeouts), answered in the API's shape and then closed.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket, metrics: Metrics) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new ApiError('REQUEST_TIMEOUT', 'the request did not arrive in time')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new ApiError('HEADERS_TOO_LARGE', 'the request headers are too large')
        : new ApiError('SCHEMA', 'malformed HTTP request');
  metrics.httpErrors.inc({ code: e.code });
  // Node's own handler makes the same check: a reply already begun cannot take another.
  const replying = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
  if (socket.writable && !replying?.headersSent) {
    const body = JSON.stringify(e.toBody());
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n` +
        `Connection: close\r\n\r\n${body}`
    );
  }
  socket.destroy();
}

function keyInfo(k: KeyRecord): KeyInfoResponse {
  return {
    keyId: k.keyId,
    scheme: k.scheme,
    label: k.label,
    publicKey: k.publicKey,
    threshold: k.threshold,
    parties: k.parties,
    party: k.party,
    epoch: k.epoch,
    ...(k.pendingEpoch ? { pendingEpoch: k.pendingEpoch } : {}),
    policy: k.policy,
    createdAt: k.createdAt,
  };
}

/** Maps anything thrown to an API error; unknown faults become INTERNAL with a generic message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
  if (e.validation)
    return new ApiError('SCHEMA', `invalid request: ${e.message ?? 'schema mismatch'}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP'))
    return new ApiError('SCHEMA', `invalid request body: ${e.message}`);
  if (e.statusCode === 429) return new ApiError('RATE_LIMITED', e.message ?? 'too many requests');
  // The store is locked, full or unreachable: transient, nothing was half-written (transactions).
  if (
    err instanceof StoreUnavailable ||
    (typeof e.code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/.test(e.code))
  )
    return new ApiError('UNAVAILABLE', 'the store is unavailable; retry shortly', {
      retryAfter: 1,
    });
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new ApiError('SCHEMA', e.message ?? 'bad request');
  return new ApiError('INTERNAL', 'internal error');
}
