/**
 * What every route module shares: the app's dependencies, the typed Fastify instance, the error
 * responses of the OpenAPI schemas, and bearer authentication.
 * @module
 */

import { Transform } from 'node:stream';
import { ErrorResponse } from '@tessera/api';
import type { ServiceApp } from '@tessera/http';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Attestor } from '../attestation.ts';
import type { Authenticator } from '../auth.ts';
import type { ComputePool } from '../compute.ts';
import type { ServerConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { SubjectQuota } from '../quota.ts';
import type { RedisLink, SessionEvents } from '../redis.ts';
import type { RelayParticipant } from '../relay/participant.ts';
import type { SessionEngine } from '../sessions/engine.ts';
import type { Store } from '../store/store.ts';

declare module 'fastify' {
  interface FastifyRequest {
    subject: string;
    /** The bearer token's scopes (`Authenticator.verifyToken`). */
    scopes: ReadonlySet<string>;
  }
}

export interface AppDeps {
  config: ServerConfig;
  store: Store;
  engine: SessionEngine;
  auth: Authenticator;
  metrics: Metrics;
  log: Logger;
  /** Shared rate-limit counters across instances (null: counted in this process). */
  redis: RedisLink | null;
  events: SessionEvents;
  /** Sessions through a relay room (null: no `relay.url`). */
  relay: RelayParticipant | null;
  /** Attestation documents and signed session replies (null: not in an enclave). */
  attestation: Attestor | null;
  /** Where backups are checked (the server's compute pool; default: on the event loop). */
  compute?: Pick<ComputePool, 'checkBackup'>;
}

/** The Fastify instance routes are added to, with TypeBox schemas typing requests. */
export type App = ServiceApp;

/** The error replies an authenticated route documents. */
export const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  410: ErrorResponse,
  413: ErrorResponse,
  429: ErrorResponse,
};

/** The OpenAPI security requirement of an authenticated route. */
export const secured = { security: [{ bearer: [] }] };

/** An `onRequest` hook: the bearer token's subject, or 401. */
export const authenticator = (auth: Authenticator) => async (req: FastifyRequest) => {
  const token = await auth.verifyToken(req.headers.authorization);
  req.subject = token.subject;
  req.scopes = token.scopes;
};

/** The hourly per-subject quotas a route module charges (counted in Redis when there is one). */
export const subjectQuota = (d: AppDeps) =>
  new SubjectQuota({
    redis: d.redis,
    failOpen: d.config.rateLimitOnRedisDown === 'open',
    metrics: d.metrics,
    now: () => d.engine.now(),
  });

/**
 * The request body, failing with `tooLarge()` once more than `limit` bytes came (a chunked body
 * has no Content-Length to refuse up front).
 */
export function cappedBody(
  payload: NodeJS.ReadableStream,
  limit: number,
  tooLarge: () => Error
): Transform {
  let received = 0;
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      done(received > limit ? tooLarge() : null, chunk);
    },
  });
  // pipe, not pipeline: an error here must not destroy the request (and the socket) before the
  // 413 is written.
  payload.pipe(capped);
  return capped;
}
