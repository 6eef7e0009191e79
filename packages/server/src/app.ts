/**
 * The HTTP and WebSocket surface (Fastify): the server, its error mapping, rate limits and
 * hooks; the routes themselves are in `routes/` (operations, keys, sessions), each delegating to
 * the session engine or the store. None does cryptography.
 * @module
 */

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fastifyRateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import fastifyWebsocket from '@fastify/websocket';
import { MAX_STEP_BODY_BYTES } from '@tessera/api';
import Fastify from 'fastify';
import { ApiError, notFound, toApiError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { limitConnections, rateLimitKey } from './ratelimit.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerNodeRoutes } from './routes/node.ts';
import { OPEN_ROUTES, registerDocs, registerOpsRoutes } from './routes/ops.ts';
import { registerRecoveryRoutes } from './routes/recovery.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import type { AppDeps } from './routes/shared.ts';

export { toApiError } from './errors.ts';
export { renderMetrics, VERSION } from './routes/ops.ts';
export type { AppDeps } from './routes/shared.ts';

/** The largest body any route takes (a session start); steps have their own, per round. */
const START_BODY_LIMIT = 256 * 1024;

export async function buildApp(d: AppDeps) {
  const { config, metrics } = d;
  const { limits } = config;
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
  // Null until the authentication hook of an authenticated route sets it (a default object
  // would be shared by every request).
  app.decorateRequest('scopes', null as unknown as ReadonlySet<string>);
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
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
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

  await registerDocs(app);
  await app.register(fastifyWebsocket, { options: { maxPayload: MAX_STEP_BODY_BYTES } });
  registerOpsRoutes(app, d);
  registerKeyRoutes(app, d);
  registerRecoveryRoutes(app, d);
  registerNodeRoutes(app, d);
  registerSessionRoutes(app, d);
  return app;
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
