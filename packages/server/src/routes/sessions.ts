/**
 * Session routes: a step over HTTP, a WebSocket ticket, the client's abort, and the WebSocket
 * that carries a session's steps. Each step goes to the session engine, whichever transport.
 * @module
 */
import {
  AbortBody,
  AbortReply,
  coreProtocolName,
  MAX_STEP_BODY_BYTES,
  type ProtocolNameValue,
  SessionParams,
  StepBody,
  StepReply,
  stepBodyLimit,
  WsTicket,
} from '@tessera/api';
import type { Scheme } from '@tessera/core';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import type { WebSocket } from 'ws';
import { ApiError, toApiError } from '../errors.ts';
import { InFlight, rateLimitKey } from '../ratelimit.ts';
import { type App, type AppDeps, authenticator, cappedBody, errors, secured } from './shared.ts';

export function registerSessionRoutes(app: App, d: AppDeps): void {
  const { config, engine, auth, metrics } = d;
  const { limits } = config;
  const authenticate = authenticator(auth);
  const steps = new InFlight();
  app.post(
    '/v1/sessions/:sid/messages',
    {
      bodyLimit: 2 * MAX_STEP_BODY_BYTES,
      schema: {
        ...secured,
        params: SessionParams,
        body: StepBody,
        response: { 200: StepReply, ...errors },
      },
      onRequest: authenticate,
      // Before a byte of the body is read: few enough of the caller's steps are in flight, the
      // session is the caller's (404 otherwise, as for a missing one), and the body fits what
      // the session's protocol round can need.
      preParsing: async (req, reply, payload) => {
        if (!Value.Check(SessionParams, req.params))
          throw new ApiError('SCHEMA', 'invalid request: params/sid must be 32 hex digits');
        const release = steps.acquire([
          { key: `sub:${req.subject}`, max: limits.stepsInFlightPerSubject },
          { key: `ip:${rateLimitKey(req.ip)}`, max: limits.stepsInFlightPerIp },
        ]);
        if (!release) {
          metrics.rateLimited.inc({ scope: 'in-flight' });
          throw new ApiError('RATE_LIMITED', 'too many step requests in flight; retry shortly', {
            retryAfter: 1,
          });
        }
        // Held until the reply is sent or the connection closes: a stalled upload counts.
        reply.raw.once('close', release);
        const rec = await engine.ownedSession(req.subject, req.params.sid);
        // A 2-of-3 session's step also carries the other node's envelopes, as large as the
        // client's.
        const senders = rec.params.includes('"peer"') ? 2 : 1;
        const limit =
          senders *
          stepBodyLimit(
            coreProtocolName(rec.protocol as ProtocolNameValue, rec.scheme as Scheme),
            rec.round
          );
        if (Number(req.headers['content-length']) > limit) throw tooLarge(limit);
        return cappedBody(payload, limit, () => tooLarge(limit));
      },
    },
    async (req, reply) => {
      const text = await engine.step(
        req.subject,
        req.params.sid,
        req.body.messages,
        req.body.relay ?? []
      );
      // The stored reply text itself: a resend gets byte-identical bytes.
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .serializer((x) => x as string)
        .send(text as never);
    }
  );
  app.post(
    '/v1/sessions/:sid/ticket',
    {
      schema: { ...secured, params: SessionParams, response: { 200: WsTicket, ...errors } },
      onRequest: authenticate,
    },
    async (req) => {
      await engine.assertSessionOwner(req.subject, req.params.sid);
      return auth.issueTicket(req.subject, req.params.sid, engine.now());
    }
  );

  app.post(
    '/v1/sessions/:sid/abort',
    {
      schema: {
        ...secured,
        description:
          'The client gives up on its session: its state is destroyed and the key is free at once.',
        params: SessionParams,
        body: AbortBody,
        response: { 200: AbortReply, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => {
      await engine.abortByClient(req.subject, req.params.sid, req.body.code);
      return { sessionId: req.params.sid, status: 'aborted' as const };
    }
  );

  app.get(
    '/v1/sessions/:sid/ws',
    {
      websocket: true,
      schema: {
        ...secured,
        params: SessionParams,
        querystring: Type.Object(
          { ticket: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })) },
          { additionalProperties: false }
        ),
      },
      preValidation: async (req) => {
        if (/[?&](token|access_token|jwt)=/.test(req.url))
          throw new ApiError(
            'SCHEMA',
            'tokens are not accepted in URLs: use a ticket or the Authorization header'
          );
        const origin = req.headers.origin;
        if (origin !== undefined && !config.allowedOrigins.includes(origin))
          throw new ApiError('FORBIDDEN', `origin ${origin} is not allowed`);
      },
      // After the schemas: the ticket and session id are well-formed before anything uses them.
      preHandler: async (req) => {
        const { sid } = req.params;
        const { ticket } = req.query;
        req.subject = ticket
          ? await auth.redeemTicket(ticket, sid, engine.now())
          : await auth.verify(req.headers.authorization);
        await engine.assertSessionOwner(req.subject, sid);
      },
    },
    (socket, req) => serveSocket(socket, req.subject, req.params.sid, d)
  );
}

/**
 * One session over a WebSocket: each text frame is a step request; the reply is the step's JSON.
 */
function serveSocket(socket: WebSocket, subject: string, sessionId: string, d: AppDeps): void {
  const { engine, config, metrics } = d;
  let queue = Promise.resolve();
  let inFlight = 0;
  // A session aborted through another connection (another instance, or HTTP): tell this client
  // now rather than at its next frame. This socket's own requests report their own outcome.
  const unsubscribe = d.events.subscribe((e) => {
    if (e.sessionId !== sessionId || e.status !== 'aborted' || inFlight > 0) return;
    socket.send(
      JSON.stringify(
        new ApiError(
          'SESSION_CLOSED',
          'the session was aborted by a request on another connection'
        ).toBody()
      )
    );
    socket.close(1000, 'SESSION_CLOSED');
  });
  let windowStart = Date.now();
  let count = 0;
  let idle = setTimeout(() => socket.close(1000, 'idle'), config.sessions.idleMs);
  socket.on('message', (data, isBinary) => {
    clearTimeout(idle);
    idle = setTimeout(() => socket.close(1000, 'idle'), config.sessions.idleMs);
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      count = 0;
    }
    if (++count > config.limits.wsMessagesPerMinute) {
      metrics.rateLimited.inc({ scope: 'websocket' });
      socket.close(1008, 'message budget exceeded');
      return;
    }
    inFlight++;
    queue = queue.then(async () => {
      try {
        if (isBinary) throw new ApiError('SCHEMA', 'frames must be JSON text');
        let body: unknown;
        try {
          body = JSON.parse(data.toString());
        } catch {
          throw new ApiError('SCHEMA', 'frame is not JSON');
        }
        if (!Value.Check(StepBody, body))
          throw new ApiError('SCHEMA', 'frame does not match the step schema');
        socket.send(await engine.step(subject, sessionId, body.messages, body.relay ?? []));
      } catch (err) {
        const e = toApiError(err);
        metrics.httpErrors.inc({ code: e.code });
        socket.send(JSON.stringify(e.toBody()));
        if (
          [
            'PROTOCOL_ABORT',
            'PROTOCOL_VIOLATION',
            'SESSION_EXPIRED',
            'SESSION_CLOSED',
            'NOT_FOUND',
          ].includes(e.code)
        )
          socket.close(1000, e.code);
      } finally {
        inFlight--;
      }
    });
  });
  socket.on('close', () => {
    clearTimeout(idle);
    unsubscribe();
  });
}

const tooLarge = (limit: number) =>
  new ApiError(
    'PAYLOAD_TOO_LARGE',
    `the body is over this session round's limit of ${limit} bytes`
  );
