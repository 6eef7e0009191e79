/**
 * The gateway's HTTP surface (Fastify): limits, error mapping, the API-key check, and the routes
 * by concern in `routes/`. Callers' mistakes are 4xx with a stable code and never a stack trace;
 * what is not theirs is 5xx with a generic message.
 * @module
 */
import { createService, type LowLevelFault } from '@tessera/http';
import { GatewayError, type GatewayErrorCode, toGatewayError } from './errors.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerDocs, registerOpsRoutes } from './routes/ops.ts';
import { registerSecretRoutes } from './routes/secrets.ts';
import type { GatewayDeps } from './routes/shared.ts';
import { registerSignRoutes } from './routes/sign.ts';
import { registerWalletRoutes } from './routes/wallet.ts';

/** What is refused below the routes, in the gateway's codes. */
const LOW_LEVEL: Record<LowLevelFault, [GatewayErrorCode, string]> = {
  REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'the request did not arrive in time'],
  HEADERS_TOO_LARGE: ['HEADERS_TOO_LARGE', 'the request headers are too large'],
  MALFORMED_REQUEST: ['SCHEMA', 'malformed HTTP request'],
  URI_TOO_LONG: ['URI_TOO_LONG', 'a path parameter is too long'],
  MALFORMED_URL: ['SCHEMA', 'the URL is malformed'],
};

export async function buildGatewayApp(d: GatewayDeps) {
  const { limits } = d.config;
  const app = createService({
    log: d.log,
    bodyLimit: limits.bodyBytes,
    timeouts: {
      requestMs: limits.requestTimeoutMs,
      headersMs: limits.headersTimeoutMs,
      keepAliveMs: limits.keepAliveMs,
      idleMs: limits.idleTimeoutMs,
    },
    refusal: (fault) => new GatewayError(...LOW_LEVEL[fault]),
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toGatewayError(err);
    if (e.code === 'INTERNAL')
      // The error's name and code only: an SDK's message may quote what it was given.
      req.log.error(
        { err: { type: (err as Error).name, code: (err as { code?: unknown }).code } },
        'internal error'
      );
    else req.log.info({ code: e.code, status: e.status }, 'refused');
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    if (!req.raw.complete) void reply.header('connection', 'close');
    return reply.status(e.status).send(e.toBody());
  });
  app.setNotFoundHandler(async (_req, reply) =>
    reply.status(404).send(new GatewayError('NOT_FOUND', 'route not found').toBody())
  );
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('cache-control', 'no-store');
  });

  await registerDocs(app);
  registerOpsRoutes(app);
  registerWalletRoutes(app, d);
  registerSignRoutes(app, d);
  registerSecretRoutes(app, d);
  registerKeyRoutes(app, d);
  return app;
}
