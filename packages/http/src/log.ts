/**
 * A service's structured logger (pino). Requests are logged as method, path (query strings
 * dropped: tickets and user ids travel there) and remote address; bodies are never logged; the
 * authorization, cookie and API-key headers and every field the service names as secret are
 * redacted wherever pino's paths reach.
 * @module
 */
import pino, { type Logger } from 'pino';

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

export interface ServiceLoggerOptions {
  /** The `service` field of every line. */
  service: string;
  level: string;
  /** Field names censored at the top level and two levels down. */
  secretFields?: readonly string[];
  /**
   * What an error logs: `full` (type, message, stack: the service's own faults) or `type` (its
   * name and code: where an SDK's message may quote what it was given).
   */
  errors?: 'full' | 'type';
}

export function createServiceLogger(
  o: ServiceLoggerOptions,
  destination?: pino.DestinationStream
): Logger {
  const fields = o.secretFields ?? [];
  return pino(
    {
      level: o.level,
      base: { service: o.service },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          'headers.authorization',
          'headers["x-api-key"]',
          ...fields,
          ...fields.map((f) => `*.${f}`),
          ...fields.map((f) => `*.*.${f}`),
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (r: LoggedRequest) => ({
          method: r.method,
          path: (r.url ?? '').split('?')[0],
          remoteAddress: r.ip ?? r.socket?.remoteAddress,
        }),
        res: (r: { statusCode?: number }) => ({ statusCode: r.statusCode }),
        err:
          o.errors === 'type'
            ? (e: Error & { code?: unknown }) => ({ type: e.name, code: e.code })
            : pino.stdSerializers.err,
      },
    },
    destination
  );
}
