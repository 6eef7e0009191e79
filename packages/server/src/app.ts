/**
 * The HTTP and WebSocket surface (Fastify): the server, its error mapping, rate limits and
 * hooks; the routes themselves are in `routes/` (operations, keys, sessions), each delegating to
 * the session engine or the store. None does cryptography.
 * @module
 */

import fastifyRateLimit from '@fastify/rate-limit';
import fastifyWebsocket from '@fastify/websocket';
import { type ErrorCode, MAX_STEP_BODY_BYTES } from '@tessera/api';
import { createService, type LowLevelFault } from '@tessera/http';
import { ApiError, notFound, toApiError } from './errors.ts';
import { limitConnections, rateLimitKey } from './ratelimit.ts';
import { registerAttestationRoutes } from './routes/attestation.ts';
import { registerBackupRoutes } from './routes/backups.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerNodeRoutes } from './routes/node.ts';
import { OPEN_ROUTES, registerDocs, registerOpsRoutes } from './routes/ops.ts';
import { registerRecoveryRoutes } from './routes/recovery.ts';
import { registerRelayRoutes } from './routes/relay.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import type { AppDeps } from './routes/shared.ts';
import { registerWalletRoutes } from './routes/wallet.ts';

export { toApiError } from './errors.ts';
export { renderMetrics, VERSION } from './routes/ops.ts';
export type { AppDeps } from './routes/shared.ts';

/** What is refused below the routes, in the API's codes. */
const LOW_LEVEL: Record<LowLevelFault, [ErrorCode, string]> = {
  REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'the request did not arrive in time'],
  HEADERS_TOO_LARGE: ['HEADERS_TOO_LARGE', 'the request headers are too large'],
  MALFORMED_REQUEST: ['SCHEMA', 'malformed HTTP request'],
  URI_TOO_LONG: ['URI_TOO_LONG', 'a path parameter is too long'],
  MALFORMED_URL: ['SCHEMA', 'the URL is malformed'],
};

/** The largest body any route takes (a session start); steps have their own, per round. */
const START_BODY_LIMIT = 256 * 1024;

export async function buildApp(d: AppDeps) {
  const { config, metrics } = d;
  const { limits } = config;
  const app = createService({
    log: d.log,
    bodyLimit: START_BODY_LIMIT,
    trustProxy: config.trustProxy,
    timeouts: {
      requestMs: limits.requestTimeoutMs,
      headersMs: limits.headersTimeoutMs,
      keepAliveMs: limits.keepAliveMs,
      idleMs: limits.idleTimeoutMs,
    },
    refusal: (fault) => new ApiError(...LOW_LEVEL[fault]),
    onRefused: (e) => metrics.httpErrors.inc({ code: e.code }),
  });
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
  registerBackupRoutes(app, d);
  registerNodeRoutes(app, d);
  registerSessionRoutes(app, d);
  registerRelayRoutes(app, d);
  registerAttestationRoutes(app, d);
  registerWalletRoutes(app, d);
  return app;
}

/**
 * Node's own refusals (a malformed request line or header, headers over 16 KiB, a request not
 * received within the timeouts), answered in the API's shape and then closed.
 */
