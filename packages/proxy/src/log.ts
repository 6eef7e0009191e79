/**
 * The proxy's structured logger (pino). One line per request: method, path, status, duration and
 * client address, plus the code of a refusal of the proxy's own. Never a body, never a query
 * string (a WebSocket ticket or a nonce may travel there), never a header: the proxy terminates
 * TLS and sees every byte in the clear, so its logs are where a leak would be easiest. The
 * header fields are redacted all the same, in case a later line ever carries them.
 * @module
 */
import pino, { type Logger } from 'pino';

export function createProxyLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tessera-proxy' },
      redact: {
        paths: [
          'headers.authorization',
          'headers.cookie',
          'req.headers.authorization',
          'req.headers.cookie',
        ],
        censor: '[redacted]',
      },
      serializers: { err: (e: Error & { code?: unknown }) => ({ type: e.name, code: e.code }) },
    },
    destination
  );
}

/** The path of a request target without its query string, cut to a length a log line can take. */
export function logPath(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  return path.length > 256 ? `${path.slice(0, 256)}…` : path;
}
