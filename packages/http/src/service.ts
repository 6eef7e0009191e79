/**
 * A Fastify instance as every Tessera service runs one: request, header, keep-alive and idle
 * timeouts (Node times nothing out by itself, so a stalled client would hold its buffers
 * forever); schemas that neither coerce, fill defaults nor strip unknown fields; and what Node's
 * HTTP parser or Fastify's router refuse before a route sees the request answered in the
 * service's own error shape, echoing nothing of the request.
 * @module
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';

/** The Fastify instance a service's routes are added to, with TypeBox schemas typing requests. */
export type ServiceApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger,
  TypeBoxTypeProvider
>;

/** A refusal as a service answers it. */
export interface Refusal {
  readonly status: number;
  readonly code: string;
  /** Seconds to wait before retrying (429, 503). */
  readonly retryAfter?: number | undefined;
  toBody(): unknown;
}

/** What is refused below the routes, for the service to name in its own codes. */
export type LowLevelFault =
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'MALFORMED_REQUEST'
  | 'URI_TOO_LONG'
  | 'MALFORMED_URL';

export interface ServiceOptions {
  log: Logger;
  /** The largest body any route takes; a route may set a smaller one. */
  bodyLimit: number;
  trustProxy?: boolean;
  timeouts: {
    requestMs: number;
    headersMs: number;
    keepAliveMs: number;
    idleMs: number;
  };
  /** The service's refusal for a fault below its routes. */
  refusal(fault: LowLevelFault): Refusal;
  /** Called with each such refusal (metrics). */
  onRefused?(refusal: Refusal): void;
}

export function createService(o: ServiceOptions): ServiceApp {
  const refuse = (fault: LowLevelFault): Refusal => {
    const r = o.refusal(fault);
    o.onRefused?.(r);
    return r;
  };
  return Fastify({
    loggerInstance: o.log,
    bodyLimit: o.bodyLimit,
    trustProxy: o.trustProxy ?? false,
    requestTimeout: o.timeouts.requestMs,
    keepAliveTimeout: o.timeouts.keepAliveMs,
    connectionTimeout: o.timeouts.idleMs,
    http: {
      headersTimeout: o.timeouts.headersMs,
      // How often Node looks for requests past their timeouts (its default is 30 s).
      connectionsCheckingInterval: Math.min(1000, o.timeouts.headersMs / 4),
    },
    clientErrorHandler: (err, socket) => answerClientError(err, socket, refuse),
    frameworkErrors: (err, _req, reply) => {
      const r = refuse(err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URI_TOO_LONG' : 'MALFORMED_URL');
      const body = JSON.stringify(r.toBody());
      reply.raw
        .writeHead(r.status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
          'x-content-type-options': 'nosniff',
        })
        .end(body);
    },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
}

function answerClientError(
  err: Error & { code?: string },
  socket: Socket,
  refuse: (fault: LowLevelFault) => Refusal
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const r = refuse(
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'MALFORMED_REQUEST'
  );
  // Node's own handler makes the same check: a reply already begun cannot take another.
  const replying = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
  if (socket.writable && !replying?.headersSent) {
    const body = JSON.stringify(r.toBody());
    socket.write(
      `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n` +
        `Connection: close\r\n\r\n${body}`
    );
  }
  socket.destroy();
}
