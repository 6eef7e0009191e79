/**
 * The OpenAPI document and its docs page (swagger-ui), served from the package: its own scripts,
 * styles and images only, never framed, no third-party request (the validator badge is off).
 * Registered before any route: the document lists the routes added after it.
 * @module
 */
import fastifySwagger, { type FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { ServiceApp } from './service.ts';

export const DOCS_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

type SecuritySchemes = NonNullable<
  NonNullable<NonNullable<FastifyDynamicSwaggerOptions['openapi']>['components']>['securitySchemes']
>;

export interface DocsOptions {
  title: string;
  version: string;
  description: string;
  /** OpenAPI security schemes (`components.securitySchemes`). */
  securitySchemes: SecuritySchemes;
}

/** `/docs` (the page) and the document behind `app.swagger()`. */
export async function registerDocs(app: ServiceApp, o: DocsOptions): Promise<void> {
  app.addHook('onSend', async (req, reply) => {
    // By route, not URL: `/docs?x` is the docs page too.
    const route = req.routeOptions.url ?? '';
    if (route === '/docs' || route.startsWith('/docs/')) void reply.headers(DOCS_HEADERS);
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: o.title, version: o.version, description: o.description },
      components: { securitySchemes: o.securitySchemes },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
}
