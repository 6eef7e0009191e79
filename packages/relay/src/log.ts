/**
 * The relay's structured logger (pino, through `@tessera/http`): method, path, status and the
 * refusal codes only. Bodies are never logged, and the fields that could carry an envelope, a
 * manifest, a token or a ticket are redacted wherever pino's paths reach (invariant 8).
 * @module
 */
import { createServiceLogger } from '@tessera/http';
import type pino from 'pino';
import type { Logger } from 'pino';

/** Field names whose values are censored at any depth pino's paths reach. */
export const REDACTED_FIELDS = [
  'envelope',
  'manifest',
  'signature',
  'token',
  'ticket',
  'challenge',
] as const;

export function createRelayLogger(level: string, destination?: pino.DestinationStream): Logger {
  return createServiceLogger(
    { service: 'tessera-relay', level, secretFields: REDACTED_FIELDS, errors: 'type' },
    destination
  );
}
