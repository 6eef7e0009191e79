/**
 * The server's structured logger (pino, through `@tessera/http`): method, path and remote address
 * of each request; authorization and cookie headers, tokens and WebSocket tickets redacted;
 * bodies never logged.
 * @module
 */
import { createServiceLogger } from '@tessera/http';
import type pino from 'pino';
import type { Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return createServiceLogger(
    { service: 'tessera-server', level, secretFields: ['token', 'ticket'] },
    destination
  );
}
