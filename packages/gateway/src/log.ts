/**
 * The gateway's structured logger (pino, through `@tessera/http`). Requests are logged as method,
 * path and status only: bodies carry passwords, shares and secret stores and are never logged;
 * the API key, any bearer token and every field named like a secret are redacted wherever they
 * appear (docs/architecture.md, invariant 8). Errors log their name and code: an SDK's message
 * may quote what it was given.
 * @module
 */
import { createServiceLogger } from '@tessera/http';
import type pino from 'pino';
import type { Logger } from 'pino';

/** Field names whose values are censored at any depth pino's paths reach. */
export const REDACTED_FIELDS = [
  'password',
  'newPassword',
  'encryptedShare',
  'secretStore',
  'share',
  'token',
  'messages',
  'dataKey',
] as const;

export function createGatewayLogger(level: string, destination?: pino.DestinationStream): Logger {
  return createServiceLogger(
    { service: 'tessera-gateway', level, secretFields: REDACTED_FIELDS, errors: 'type' },
    destination
  );
}
