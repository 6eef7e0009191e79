/**
 * Routes for operators: health, and the API's documentation (the OpenAPI document and its docs
 * page, served from the package itself: nothing is fetched from a network). None needs an API
 * key.
 * @module
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { HealthReply } from '../schemas.ts';
import type { App } from './shared.ts';

export const VERSION = '0.1.0';

/** The docs page: swagger-ui's own scripts and styles only, never framed, no third parties. */
const DOCS_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The OpenAPI document and docs page; registered before the routes it lists. */
export async function registerDocs(app: App): Promise<void> {
  app.addHook('onSend', async (req, reply) => {
    const route = req.routeOptions.url ?? '';
    if (route === '/docs' || route.startsWith('/docs/')) void reply.headers(DOCS_HEADERS);
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tessera gateway',
        version: VERSION,
        description:
          "The client's part of 2-of-3 keys for users without an SDK: stateless; every request carries the sealed share and runs its protocol with the nodes.",
      },
      components: {
        securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
}

export function registerOpsRoutes(app: App): void {
  // Liveness only: the gateway keeps no state whose health it could report.
  app.get('/health', { schema: { response: { 200: HealthReply } } }, async () => ({
    ok: true as const,
  }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
