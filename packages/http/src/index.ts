/**
 * @tessera/http — what every Tessera HTTP service (the co-signing server, the gateway, the relay)
 * shares: the Fastify instance with its timeouts and refusals, error handling, the docs page, the
 * logger, reading integers from the environment, and serving a built app (the web wallet).
 * @module
 */
export { DOCS_HEADERS, type DocsOptions, registerDocs } from './docs.ts';
export { envInteger } from './env.ts';
export { type ErrorHandling, handleErrors } from './errors.ts';
export { createServiceLogger, type ServiceLoggerOptions } from './log.ts';
export {
  createService,
  type LowLevelFault,
  type Refusal,
  type ServiceApp,
  type ServiceOptions,
} from './service.ts';
export { registerStaticSite, StaticSiteError, type StaticSiteOptions } from './static-site.ts';
