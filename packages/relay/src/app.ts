/**
 * The relay's HTTP and WebSocket surface (Fastify through `@tessera/http`): limits, error
 * mapping, and the routes by concern in `routes/`. Callers' mistakes are 4xx with a stable code
 * and never a stack trace; what is not theirs is 5xx with a generic message.
 * @module
 */
import fastifyWebsocket from '@fastify/websocket';
import {
  createService,
  handleErrors,
  type LowLevelFault,
  registerStaticSite,
  StaticSiteError,
} from '@tessera/http';
import { RelayConfigError } from './config.ts';
import { RelayError, type RelayErrorCode, toRelayError } from './errors.ts';
import { registerDeliveryRoutes, WS_PROTOCOL } from './routes/delivery.ts';
import { registerLoginRoutes } from './routes/login.ts';
import { registerDocs, registerOpsRoutes } from './routes/ops.ts';
import { MESSAGE_ROUTES, messageBodyLimit, registerRoomRoutes } from './routes/rooms.ts';
import type { RelayDeps } from './routes/shared.ts';

const LOW_LEVEL: Record<LowLevelFault, [RelayErrorCode, string]> = {
  REQUEST_TIMEOUT: ['REQUEST_TIMEOUT', 'the request did not arrive in time'],
  HEADERS_TOO_LARGE: ['HEADERS_TOO_LARGE', 'the request headers are too large'],
  MALFORMED_REQUEST: ['SCHEMA', 'malformed HTTP request'],
  URI_TOO_LONG: ['URI_TOO_LONG', 'a path parameter is too long'],
  MALFORMED_URL: ['SCHEMA', 'the URL is malformed'],
};

export async function buildRelayApp(d: RelayDeps, opts: { metricsToken?: string | null } = {}) {
  const { limits } = d.config;
  const app = createService({
    log: d.log,
    bodyLimit: messageBodyLimit(limits.messageBytes),
    trustProxy: d.config.trustProxy,
    timeouts: {
      requestMs: limits.requestTimeoutMs,
      headersMs: limits.headersTimeoutMs,
      keepAliveMs: limits.keepAliveMs,
      idleMs: limits.idleTimeoutMs,
    },
    refusal: (fault) => new RelayError(...LOW_LEVEL[fault]),
    onRefused: (r) => d.metrics.errors.inc({ code: r.code }),
  });

  handleErrors(app, {
    toRefusal: (err, req) =>
      toRelayError(
        err,
        MESSAGE_ROUTES.has(req.routeOptions.url ?? '') ? 'MESSAGE_TOO_LARGE' : 'SCHEMA'
      ),
    notFound: new RelayError('NOT_FOUND', 'route not found'),
    onRefused: (e) => d.metrics.errors.inc({ code: e.code }),
  });

  await registerDocs(app);
  await app.register(fastifyWebsocket, {
    options: {
      maxPayload: messageBodyLimit(limits.messageBytes),
      // Never echo the bearer value: only the relay's own subprotocol is ever selected.
      handleProtocols: (offered: Set<string>) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    },
  });
  registerOpsRoutes(app, d, opts.metricsToken ?? null);
  registerLoginRoutes(app, d);
  registerRoomRoutes(app, d);
  registerDeliveryRoutes(app, d);
  if (d.config.walletDir !== null) {
    try {
      registerStaticSite(app, {
        prefix: '/wallet/',
        dir: d.config.walletDir,
        notFound: () => new RelayError('NOT_FOUND', 'file not found'),
      });
    } catch (e) {
      throw e instanceof StaticSiteError ? new RelayConfigError(`wallet: ${e.message}`) : e;
    }
  }
  return app;
}
