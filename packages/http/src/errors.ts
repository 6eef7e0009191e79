/**
 * How a service answers what its routes throw: each error mapped to one of its refusals, logged
 * by code (a fault of the service's own by name and code only: an SDK's message may quote what it
 * was given), `Retry-After` when the refusal has one, the connection closed when the body was
 * refused before it was read. Unknown routes get the service's 404; every reply is `nosniff` and
 * `no-store`.
 * @module
 */
import type { FastifyRequest } from 'fastify';
import type { Refusal, ServiceApp } from './service.ts';

export interface ErrorHandling {
  /** The refusal for anything a route threw (an unknown fault: one with code `INTERNAL`). */
  toRefusal(err: unknown, req: FastifyRequest): Refusal;
  /** The refusal for a route that does not exist. */
  notFound: Refusal;
  /** Called with each refusal (metrics). */
  onRefused?(refusal: Refusal): void;
}

export function handleErrors(app: ServiceApp, o: ErrorHandling): void {
  app.setErrorHandler((err, req, reply) => {
    const e = o.toRefusal(err, req);
    o.onRefused?.(e);
    if (e.code === 'INTERNAL')
      req.log.error(
        { err: { type: (err as Error).name, code: (err as { code?: unknown }).code } },
        'internal error'
      );
    else req.log.info({ code: e.code, status: e.status }, 'refused');
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    // Refused before its body was read (or while reading it): close rather than read the rest.
    if (!req.raw.complete) void reply.header('connection', 'close');
    return reply.status(e.status).send(e.toBody());
  });
  app.setNotFoundHandler(async (_req, reply) => {
    o.onRefused?.(o.notFound);
    return reply.status(o.notFound.status).send(o.notFound.toBody());
  });
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('cache-control', 'no-store');
  });
}
