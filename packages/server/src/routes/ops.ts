/**
 * Routes for operators: health, status, metrics, and the API's documentation (the OpenAPI
 * document and its docs page). None needs a bearer token.
 * @module
 */
import { Health, Status } from '@tessera/api';
import { registerDocs as registerServiceDocs } from '@tessera/http';
import { ApiError } from '../errors.ts';
import { metricsAuthorized } from '../metrics.ts';
import type { App, AppDeps } from './shared.ts';

export const VERSION = '0.1.0';

/** Routes for probes and scrapers: never refused for a Redis outage (still rate limited per IP). */
export const OPEN_ROUTES: ReadonlySet<string> = new Set([
  '/v1/health',
  '/v1/status',
  '/metrics',
  '/v1/node/identity',
]);

/** The OpenAPI document and the docs page; registered before any route it lists. */
export function registerDocs(app: App): Promise<void> {
  return registerServiceDocs(app, {
    title: 'Tessera co-signing server',
    version: VERSION,
    description:
      'Threshold-signature co-signer: key generation, signing and refresh as a 2-of-2 party.',
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
  });
}

export function registerOpsRoutes(app: App, d: AppDeps): void {
  const { config, store, redis } = d;
  const started = Date.now();
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
}

/** The metrics exposition, wherever it is served. */
export async function renderMetrics(
  d: Pick<AppDeps, 'metrics' | 'store'>
): Promise<{ contentType: string; body: string }> {
  d.metrics.activeSessions.set(await d.store.countActiveSessions());
  return { contentType: d.metrics.registry.contentType, body: await d.metrics.registry.metrics() };
}
