/**
 * Routes for operators: health, Prometheus metrics, and the API's documentation (the OpenAPI
 * document and its docs page, served from the package). None needs a login; `/metrics` needs
 * `TESSERA_RELAY_METRICS_TOKEN` as a bearer token when one is set.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { registerDocs as registerServiceDocs } from '@tessera/http';
import { RelayError } from '../errors.ts';
import { Health } from '../schemas.ts';
import type { App, RelayDeps } from './shared.ts';

export const VERSION = '0.1.0';

export function registerDocs(app: App): Promise<void> {
  return registerServiceDocs(app, {
    title: 'Tessera relay',
    version: VERSION,
    description:
      'Moves opaque sealed envelopes between the authenticated members of a room. The relay stamps who sent each envelope and learns nothing of what it says.',
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
  });
}

export function registerOpsRoutes(app: App, d: RelayDeps, metricsToken: string | null): void {
  app.get(
    '/v1/health',
    { schema: { response: { 200: Health, 503: Health } } },
    async (_req, reply) => {
      const ok = await d.store.ping().catch(() => false);
      return reply.status(ok ? 200 : 503).send({ ok, store: d.config.redis ? 'redis' : 'memory' });
    }
  );
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (metricsToken !== null) {
      const digest = (s: string) => createHash('sha256').update(s).digest();
      if (
        !timingSafeEqual(digest(req.headers.authorization ?? ''), digest(`Bearer ${metricsToken}`))
      )
        throw new RelayError('UNAUTHORIZED', 'the metrics token is required');
    }
    return reply
      .header('content-type', d.metrics.registry.contentType)
      .send(await d.metrics.registry.metrics());
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
