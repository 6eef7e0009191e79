/**
 * The gateway's HTTP surface (Fastify): limits, error mapping, the API-key check, and the routes
 * by concern in `routes/`. Callers' mistakes are 4xx with a stable code and never a stack trace;
 * what is not theirs is 5xx with a generic message.
 * @module
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { GatewayError, toGatewayError } from './errors.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerDocs, registerOpsRoutes } from './routes/ops.ts';
import { registerSecretRoutes } from './routes/secrets.ts';
import type { GatewayDeps } from './routes/shared.ts';
import { registerSignRoutes } from './routes/sign.ts';
import { registerWalletRoutes } from './routes/wallet.ts';

export async function buildGatewayApp(d: GatewayDeps) {
  const { limits } = d.config;
  const app = Fastify({
    loggerInstance: d.log,
    bodyLimit: limits.bodyBytes,
    // Node never times a request out by itself: a stalled client would hold its buffers forever.
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveMs,
    connectionTimeout: limits.idleTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs },
    // Node's and the router's own refusals answer in the API's shape too, echoing nothing.
    frameworkErrors: (_err, _req, reply) => {
      const e = new GatewayError('SCHEMA', 'the URL is malformed');
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
