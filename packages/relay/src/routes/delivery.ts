/**
 * Delivery: the room's events over Server-Sent Events (`/subscribe`) or a WebSocket (`/ws`).
 * Each subscriber first gets what is stored for it (after `Last-Event-ID`, or after its ack),
 * then every new message addressed to it, each once, in sequence order. The store's events are
 * subscribed before the backlog is read, so nothing accepted meanwhile (by any instance) is
 * missed; sequence numbers drop what arrives twice.
 * @module
 */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import type { WebSocket } from 'ws';
import { RelayError, toRelayError } from '../errors.ts';
import { Base64, ClientSeq, Hex32, RoomParams, Seq } from '../schemas.ts';
import { addressedTo, type RelayMessage, type RoomRecord } from '../store.ts';
import { type App, errors, type RelayDeps, roomIdOf, secured } from './shared.ts';

/** The subprotocol a WebSocket client offers (and the server selects). */
export const WS_PROTOCOL = 'tessera-relay.v1';
/** A second subprotocol value carrying the bearer token: `tessera-relay.bearer.TOKEN`. */
export const WS_BEARER_PREFIX = 'tessera-relay.bearer.';

const event = (m: RelayMessage) =>
  JSON.stringify({
    seq: m.seq,
    from: m.from,
    to: m.to,
    envelope: m.envelope,
    clientSeq: m.clientSeq,
  });

/**
 * Feeds `send` the member's backlog after `after` and then its live messages, in order, each
 * once. Returns the unsubscribe function.
 */
async function follow(
  d: RelayDeps,
  room: RoomRecord,
  who: string,
  after: number | null,
  send: (m: RelayMessage) => void
): Promise<() => void> {
  let last = after ?? 0;
  let buffered: RelayMessage[] | null = [];
  const deliver = (m: RelayMessage) => {
    if (m.seq <= last || !addressedTo(m, who)) return;
    last = m.seq;
    send(m);
  };
  const unsubscribe = await d.rooms.subscribe(room.roomId, (m) => {
    if (buffered) buffered.push(m);
    else deliver(m);
  });
  try {
    for (const m of await d.rooms.readAfter(room.roomId, who, after)) deliver(m);
  } catch (e) {
    unsubscribe();
    throw e;
  }
  const pending = buffered.sort((a, b) => a.seq - b.seq);
  buffered = null;
  for (const m of pending) deliver(m);
  return unsubscribe;
}

/** A decimal sequence number from a header or query, or null when absent. */
function seqOf(v: unknown, what: string): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new RelayError('SCHEMA', `${what} must be a decimal sequence number`);
  return Number(v);
}

export function registerDeliveryRoutes(app: App, d: RelayDeps): void {
  const { limits } = d.config;
  // Open SSE streams are hijacked responses: closing the app ends them, or it would wait forever.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  app.get(
    '/rooms/:id/subscribe',
    {
      schema: {
        ...secured,
        description:
          'Server-Sent Events: `id: <seq>`, `data: {seq, from, to, envelope, clientSeq}`. `Last-Event-ID` resumes after that sequence number and acknowledges everything up to it.',
        params: RoomParams,
        response: errors,
      },
      onRequest: async (req) => {
        const id = roomIdOf(req);
        req.relayWho = await d.auth.verifyHeader(req.headers.authorization);
        req.relayRoom = await d.rooms.member(id, req.relayWho);
      },
    },
    async (req, reply) => {
      const room = req.relayRoom;
      const who = req.relayWho;
      const after = seqOf(req.headers['last-event-id'], 'Last-Event-ID');
      if (after !== null) await d.rooms.ack(room.roomId, who, after);
      const raw = reply.raw;
      let closed = false;
      let unsubscribe = () => {};
      const timers: NodeJS.Timeout[] = [];
      const end = () => {
        if (closed) return;
        closed = true;
        streams.delete(end);
        for (const t of timers) clearInterval(t);
        unsubscribe();
        d.metrics.streams.dec({ transport: 'sse' });
        raw.end();
      };
      // Subscribed before the headers go out: a refusal is still an ordinary error reply.
      const queue: string[] = [];
      let started = false;
      const write = (s: string) => {
        if (started) raw.write(s);
        else queue.push(s);
      };
      unsubscribe = await follow(d, room, who, after, (m) => {
        write(`id: ${m.seq}\ndata: ${event(m)}\n\n`);
      });
      reply.hijack();
      streams.add(end);
      d.metrics.streams.inc({ transport: 'sse' });
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(': tessera relay\n\n');
      started = true;
      for (const s of queue) raw.write(s);
      req.raw.on('close', end);
      raw.on('error', end);
      timers.push(
        setInterval(() => {
          raw.write(': ping\n\n');
          d.rooms.isOpen(room.roomId).then(
            (open) => {
              if (!open) {
                raw.write('event: closed\ndata: {}\n\n');
                end();
              }
            },
            () => {}
          );
        }, limits.sseHeartbeatMs)
      );
      const untilExpiry = room.expiresAt - d.now();
      if (untilExpiry < 2 ** 31 - 1)
        timers.push(
          setTimeout(
            () => {
              if (!closed) raw.write('event: closed\ndata: {}\n\n');
              end();
            },
            Math.max(0, untilExpiry)
          )
        );
    }
  );

  app.get(
    '/rooms/:id/ws',
    {
      websocket: true,
      schema: {
        ...secured,
        description: `WebSocket: offer subprotocols "${WS_PROTOCOL}" and "${WS_BEARER_PREFIX}TOKEN", or "${WS_PROTOCOL}" with ?ticket= from /rooms/{id}/ticket. Events are the SSE data objects as text frames; send {"type":"message"|"broadcast"|"ack",...}.`,
        params: RoomParams,
        querystring: Type.Object(
          {
            ticket: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
            after: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })),
          },
          { additionalProperties: false }
        ),
      },
      onRequest: async (req) => {
        if (/[?&](token|access_token|authorization)=/i.test(req.url))
          throw new RelayError(
            'SCHEMA',
            'tokens are not accepted in URLs: use a ticket or the Sec-WebSocket-Protocol bearer'
          );
        const id = roomIdOf(req);
        req.relayWho = await wsIdentity(d, req, id);
        req.relayRoom = await d.rooms.member(id, req.relayWho);
      },
    },
    (socket, req) => {
      const after = seqOf(req.query.after, 'after');
      serveSocket(socket, d, req.relayRoom, req.relayWho, after);
    }
  );
}

async function wsIdentity(d: RelayDeps, req: FastifyRequest, roomId: string): Promise<string> {
  const ticket = (req.query as { ticket?: unknown }).ticket;
  if (typeof ticket === 'string') return d.auth.redeemTicket(ticket, roomId);
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((s) => s.trim());
  const bearer = offered.find((p) => p.startsWith(WS_BEARER_PREFIX));
  if (bearer) return d.auth.verifyToken(bearer.slice(WS_BEARER_PREFIX.length));
  return d.auth.verifyHeader(req.headers.authorization);
}

const closedObject = { additionalProperties: false } as const;
const WsFrame = Type.Union([
  Type.Object(
    { type: Type.Literal('message'), to: Hex32, clientSeq: ClientSeq, envelope: Base64 },
    closedObject
  ),
  Type.Object(
    { type: Type.Literal('broadcast'), clientSeq: ClientSeq, envelope: Base64 },
    closedObject
  ),
  Type.Object({ type: Type.Literal('ack'), upTo: Seq }, closedObject),
]);

function serveSocket(
  socket: WebSocket,
  d: RelayDeps,
  room: RoomRecord,
  who: string,
  after: number | null
): void {
  let alive = true;
  let unsubscribe = () => {};
  let closed = false;
  d.metrics.streams.inc({ transport: 'ws' });
  const ping = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, d.config.limits.wsPingMs);
  const expiry = setTimeout(
    () => socket.close(1000, 'room expired'),
    Math.min(2 ** 31 - 1, Math.max(0, room.expiresAt - d.now()))
  );
  socket.on('pong', () => {
    alive = true;
  });
  socket.on('close', () => {
    closed = true;
    clearInterval(ping);
    clearTimeout(expiry);
    unsubscribe();
    d.metrics.streams.dec({ transport: 'ws' });
  });
  const reply = (o: object) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(o));
  };
  // Frames are handled one at a time, in order.
  let queue = Promise.resolve();
  socket.on('message', (data, isBinary) => {
    queue = queue.then(async () => {
      let clientSeq: number | undefined;
      try {
        if (isBinary) throw new RelayError('SCHEMA', 'frames must be JSON text');
        let frame: unknown;
        try {
          frame = JSON.parse(data.toString());
        } catch {
          throw new RelayError('SCHEMA', 'a frame is not JSON');
        }
        if (!Value.Check(WsFrame, frame))
          throw new RelayError('SCHEMA', 'a frame does not match message, broadcast or ack');
        if ('clientSeq' in frame) clientSeq = frame.clientSeq;
        // Each frame is a room call: the room may have closed since the socket opened.
        const current = await d.rooms.member(room.roomId, who);
        if (frame.type === 'ack') {
          await d.rooms.ack(room.roomId, who, frame.upTo);
          reply({ type: 'acked', upTo: frame.upTo });
        } else {
          const to = frame.type === 'message' ? frame.to : null;
          const r = await d.rooms.send(current, who, {
            to,
            clientSeq: frame.clientSeq,
            envelope: frame.envelope,
          });
          reply({ type: 'accepted', clientSeq: frame.clientSeq, seq: r.seq });
        }
      } catch (err) {
        const e = toRelayError(err);
        d.metrics.errors.inc({ code: e.code });
        reply({ type: 'error', ...(clientSeq === undefined ? {} : { clientSeq }), ...e.toBody() });
        if (e.code === 'ROOM_NOT_FOUND' || e.code === 'NOT_A_MEMBER') socket.close(1000, e.code);
      }
    });
  });
  (async () => {
    if (after !== null) await d.rooms.ack(room.roomId, who, after);
    const off = await follow(d, room, who, after, (m) => {
      if (socket.readyState === socket.OPEN) socket.send(event(m));
    });
    if (closed) off();
    else unsubscribe = off;
  })().catch(() => socket.close(1011, 'internal error'));
}
