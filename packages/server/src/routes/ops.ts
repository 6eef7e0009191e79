/**
 * Routes for operators: health, status, metrics, and the API's documentation (the OpenAPI
 * document and its docs page). None needs a bearer token.
 * @module
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Health, Status } from '@tessera/api';
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

/**
 * The OpenAPI document and the docs page. Registered before any route: the document lists the
 * routes added after it.
 */
export async function registerDocs(app: App): Promise<void> {
  app.addHook('onSend', async (req, reply) => {
    // By route, not URL: `/docs?x` is the docs page too.
    const route = req.routeOptions.url ?? '';
    if (route === '/docs' || route.startsWith('/docs/')) void reply.headers(DOCS_HEADERS);
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
