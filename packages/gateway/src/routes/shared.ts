/**
 * What every route module shares: the app's dependencies, the typed Fastify instance, the error
 * replies of the OpenAPI schemas, and the API-key check.
 * @module
 */
import { ErrorResponse } from '@tessera/api';
import type { ServiceApp } from '@tessera/http';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ApiKeys } from '../auth.ts';
import type { GatewayConfig } from '../config.ts';
import type { Nodes } from '../nodes.ts';
import type { Kdf } from '../secret.ts';

export interface GatewayDeps {
  config: GatewayConfig;
  log: Logger;
  apiKeys: ApiKeys;
  /** Argon2id, off the event loop (`KdfPool.derive`). */
  kdf: Kdf;
  nodes: Nodes;
}

export type App = ServiceApp;

/** The error replies a wallet route documents. */
export const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  410: ErrorResponse,
  413: ErrorResponse,
  423: ErrorResponse,
  429: ErrorResponse,
  502: ErrorResponse,
  503: ErrorResponse,
};

/** The OpenAPI security requirement of a wallet route. */
export const secured = { security: [{ apiKey: [] }] };

/** An `onRequest` hook (it runs before the body is read): the API key, or 401. */
export const requireApiKey = (keys: ApiKeys) => async (req: FastifyRequest) => {
  keys.check(req.headers['x-api-key']);
};
