/**
 * Routes for operators: health, and the API's documentation (the OpenAPI document and its docs
 * page, served from the package itself: nothing is fetched from a network). None needs an API
 * key.
 * @module
 */
import { registerDocs as registerServiceDocs } from '@tessera/http';
import { HealthReply } from '../schemas.ts';
import type { App } from './shared.ts';

export const VERSION = '0.1.0';

/** The OpenAPI document and docs page; registered before the routes it lists. */
export function registerDocs(app: App): Promise<void> {
  return registerServiceDocs(app, {
    title: 'Tessera gateway',
    version: VERSION,
    description:
      "The client's part of 2-of-3 keys for users without an SDK: stateless; every request carries the sealed share and runs its protocol with the nodes.",
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
  });
}

export function registerOpsRoutes(app: App): void {
  // Liveness only: the gateway keeps no state whose health it could report.
  app.get('/health', { schema: { response: { 200: HealthReply } } }, async () => ({
    ok: true as const,
  }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
