/**
 * The gateway's HTTP surface (Fastify): limits, error mapping, the API-key check, and the routes
 * by concern in `routes/`. Callers' mistakes are 4xx with a stable code and never a stack trace;
 * what is not theirs is 5xx with a generic message.
 * @module
 */
import { createService, handleErrors, type LowLevelFault } from '@tessera/http';
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

  handleErrors(app, {
    toRefusal: (err) => toGatewayError(err),
    notFound: new GatewayError('NOT_FOUND', 'route not found'),
  });

  await registerDocs(app);
  registerOpsRoutes(app);
  registerWalletRoutes(app, d);
  registerSignRoutes(app, d);
  registerSecretRoutes(app, d);
  registerKeyRoutes(app, d);
  return app;
}
