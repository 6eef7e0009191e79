/**
 * What every route module shares: the app's dependencies, the error replies of the OpenAPI
 * schemas, and the hooks that authenticate a caller and check room membership before the body is
 * read.
 * @module
 */
import type { ServiceApp } from '@tessera/http';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RelayAuth } from '../auth.ts';
import type { RelayConfig } from '../config.ts';
import { RelayError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Rooms } from '../rooms.ts';
import { ErrorResponse } from '../schemas.ts';
import type { RoomRecord, RoomStore } from '../store.ts';

export interface RelayDeps {
  config: RelayConfig;
  log: Logger;
  store: RoomStore;
  auth: RelayAuth;
  rooms: Rooms;
  metrics: Metrics;
  now: () => number;
  /** The origin logins are bound to (config `publicUrl`, else the listening URL's). */
  origin: () => string;
}

export type App = ServiceApp;

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's Ed25519 public key (hex), once authenticated. */
    relayWho: string;
    /** The room of a room route, once the caller is known to be a member. */
    relayRoom: RoomRecord;
  }
}

export const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  413: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
};

export const secured = { security: [{ bearer: [] }] };

const ROOM_ID = /^[0-9a-f]{32}$/;

/** The room id of the path, checked before anything uses it (hooks run before the schemas). */
export function roomIdOf(req: FastifyRequest): string {
  const id = (req.params as { id?: unknown }).id;
  if (typeof id !== 'string' || !ROOM_ID.test(id))
    throw new RelayError('SCHEMA', 'a room id is 32 lowercase hex digits');
  return id;
}

/** `onRequest`: the bearer token (before the body is read). */
export const authenticate = (d: RelayDeps) => async (req: FastifyRequest) => {
  req.relayWho = await d.auth.verifyHeader(req.headers.authorization);
};

/** `onRequest`: the bearer token, then membership of the path's room (before the body). */
export const member = (d: RelayDeps) => async (req: FastifyRequest) => {
  const id = roomIdOf(req);
  req.relayWho = await d.auth.verifyHeader(req.headers.authorization);
  req.relayRoom = await d.rooms.member(id, req.relayWho);
};
