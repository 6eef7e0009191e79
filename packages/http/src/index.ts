/**
 * @tessera/http — what every Tessera HTTP service (the co-signing server, the gateway) shares:
 * the Fastify instance with its timeouts and refusals, the docs page, the logger.
 * @module
 */
export { DOCS_HEADERS, type DocsOptions, registerDocs } from './docs.ts';
export { createServiceLogger, type ServiceLoggerOptions } from './log.ts';
export {
  createService,
  type LowLevelFault,
  type Refusal,
  type ServiceApp,
  type ServiceOptions,
} from './service.ts';
