/**
 * The gateway's structured logger (pino). Requests are logged as method, path and status only:
 * bodies carry passwords, shares and secret stores and are never logged; the API key, any
 * bearer token and every field named like a secret are redacted wherever they appear
 * (docs/architecture.md, invariant 8).
 * @module
 */
import pino, { type Logger } from 'pino';

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

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

export function createGatewayLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tessera-gateway' },
      redact: {
        paths: [
          'req.headers["x-api-key"]',
          'req.headers.authorization',
          'req.headers.cookie',
          'headers["x-api-key"]',
          'headers.authorization',
          ...REDACTED_FIELDS,
          ...REDACTED_FIELDS.map((f) => `*.${f}`),
          ...REDACTED_FIELDS.map((f) => `*.*.${f}`),
        ],
        censor: '[redacted]',
      },
      serializers: {
        // Path only: a query string is the caller's (a userId is there).
        req: (r: LoggedRequest) => ({
          method: r.method,
          path: (r.url ?? '').split('?')[0],
          remoteAddress: r.ip ?? r.socket?.remoteAddress,
        }),
        res: (r: { statusCode?: number }) => ({ statusCode: r.statusCode }),
        err: (e: Error & { code?: unknown }) => ({ type: e.name, code: e.code }),
      },
    },
    destination
  );
}
