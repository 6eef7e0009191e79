/**
 * Prometheus metrics (`/metrics`). Labels are protocol names, outcomes and codes only: never a
 * key id, subject, digest or anything derived from a secret. Still, they show every tenant's
 * activity, so they are served only to a scraper with the metrics token, or on a listener of their
 * own (`metrics.port`), or to anyone in dev mode.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerConfig } from './config.ts';
import { ApiError } from './errors.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly sessions = new Counter({
    name: 'tessera_sessions_total',
    help: 'Protocol sessions by protocol and outcome (started, done, aborted, client-abort, expired, violation)',
    labelNames: ['protocol', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly roundSeconds = new Histogram({
    name: 'tessera_round_duration_seconds',
    help: 'Server time to process one step (a round of envelopes) by protocol',
    labelNames: ['protocol'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly activeSessions = new Gauge({
    name: 'tessera_active_sessions',
    help: 'Sessions currently active in the store',
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'tessera_rate_limited_total',
    help: 'Requests refused by a rate limit, by scope (ip, subject, websocket, connections, in-flight)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });
  readonly cheatAborts = new Counter({
    name: 'tessera_cheat_aborts_total',
    help: 'Sessions aborted because a check on the client party failed, by protocol and check',
    labelNames: ['protocol', 'check'] as const,
    registers: [this.registry],
  });
  readonly httpErrors = new Counter({
    name: 'tessera_http_errors_total',
    help: 'Error responses by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
  }
}

/** True when `authorization` is `Bearer <token>`, compared in constant time (null: no token needed). */
export function metricsAuthorized(
  authorization: string | undefined,
  token: string | null
): boolean {
  if (token === null) return true;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(authorization ?? ''), digest(`Bearer ${token}`));
}

/**
 * The listener of `metrics.port`: `GET /metrics` (with the token, if one is set) and nothing
 * else. `render` is the API's own metrics answer.
 */
export async function listenMetrics(
  config: ServerConfig,
  render: () => Promise<{ contentType: string; body: string }>
): Promise<{ server: Server; url: string }> {
  const { limits } = config;
  const server = createServer(
    { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs },
    (req, res) => {
      const send = (status: number, contentType: string, body: string) =>
        res
          .writeHead(status, { 'content-type': contentType, 'x-content-type-options': 'nosniff' })
          .end(body);
      const refuse = (e: ApiError) =>
        send(e.status, 'application/json', JSON.stringify(e.toBody()));
      if (req.method !== 'GET' || req.url !== '/metrics')
        return refuse(new ApiError('NOT_FOUND', 'route not found'));
      if (!metricsAuthorized(req.headers.authorization, config.metrics.token))
        return refuse(new ApiError('UNAUTHORIZED', 'the metrics token is missing or wrong'));
      render().then(
        (m) => send(200, m.contentType, m.body),
        () => refuse(new ApiError('UNAVAILABLE', 'metrics are unavailable'))
      );
    }
  );
  server.keepAliveTimeout = limits.keepAliveMs;
  server.setTimeout(limits.idleTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.port ?? 0, config.metrics.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.metrics.port;
  const host = config.metrics.host.includes(':') ? `[${config.metrics.host}]` : config.metrics.host;
  return { server, url: `http://${host}:${port}/metrics` };
}
