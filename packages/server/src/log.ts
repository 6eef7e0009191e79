/**
 * The server's structured logger (pino). Requests are logged as method, path (query strings
 * dropped: a WebSocket ticket travels there) and remote address; authorization and cookie
 * headers are redacted; bodies are never logged.
 * @module
 */
import pino, { type Logger } from 'pino';

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tessera-server' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'headers.authorization',
          '*.token',
          '*.ticket',
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
        err: pino.stdSerializers.err,
      },
    },
    destination
  );
}
