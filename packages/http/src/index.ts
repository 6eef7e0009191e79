/**
 * @tessera/http — what every Tessera HTTP service (the co-signing server, the gateway) shares:
 * the Fastify instance with its timeouts and refusals, error handling, the docs page, the
 * logger, and reading integers from the environment.
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
