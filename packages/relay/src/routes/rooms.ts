/**
 * Room routes: creation from a signed manifest, the manifest for members, party indexes,
 * sending (direct and broadcast), acknowledging, and WebSocket tickets. Every room call
 * authenticates and checks membership in `onRequest`, before its body is read; the message
 * routes' body limit is sized to the envelope cap.
 * @module
 */
import {
  Accepted,
  AckBody,
  BroadcastBody,
  CreatedRoom,
  CreateRoomBody,
  Index,
  Invitations,
  InvitationsQuery,
  MessageBody,
  RoomInfo,
  RoomParams,
  Ticket,
} from '../schemas.ts';
import { type App, authenticate, errors, member, type RelayDeps, secured } from './shared.ts';

/** The JSON body of one message: base64 of the cap plus room for the other fields. */
/** The routes whose body is an envelope: over their body limit is MESSAGE_TOO_LARGE. */
export const MESSAGE_ROUTES: ReadonlySet<string> = new Set([
  '/rooms/:id/broadcast',
  '/rooms/:id/messages',
]);

export const messageBodyLimit = (messageBytes: number) => Math.ceil(messageBytes / 3) * 4 + 1024;

export function registerRoomRoutes(app: App, d: RelayDeps): void {
  const { rooms, auth } = d;
  const bodyLimit = messageBodyLimit(d.config.limits.messageBytes);

  app.post(
    '/rooms',
    {
      schema: {
        ...secured,
        description:
          "Creates a room from its manifest, signed by the logged-in creator (a member). The same manifest again is answered alike; another manifest for the room's id is refused.",
        body: CreateRoomBody,
        response: { 200: CreatedRoom, ...errors },
      },
      bodyLimit: 64 * 1024,
      onRequest: authenticate(d),
    },
    async (req) => rooms.create(req.relayWho, req.body)
  );

  app.get(
    '/rooms',
    {
      schema: {
        ...secured,
        description:
          'The open rooms that the given identities created with the caller as a member, newest first (at most 16 per creator).',
        querystring: InvitationsQuery,
        response: { 200: Invitations, ...errors },
      },
      onRequest: authenticate(d),
    },
    async (req) => ({
      rooms: (await rooms.invitations(req.relayWho, req.query.from.split(','))).map((r) => ({
        roomId: r.roomId,
        creator: r.creator,
        manifest: r.manifest,
        signature: r.signature,
        manifestHash: r.manifestHash,
        expiresAt: r.expiresAt,
      })),
    })
  );

  app.get(
    '/rooms/:id',
    {
      schema: { ...secured, params: RoomParams, response: { 200: RoomInfo, ...errors } },
      onRequest: member(d),
    },
    async (req) => {
      const r = req.relayRoom;
      return {
        manifest: r.manifest,
        signature: r.signature,
        manifestHash: r.manifestHash,
        expiresAt: r.expiresAt,
      };
    }
  );

  app.post(
    '/rooms/:id/issue_unique_idx',
    {
      schema: {
        ...secured,
        description: "The caller's party index, 1..n in order of first request (idempotent).",
        params: RoomParams,
        response: { 200: Index, ...errors },
      },
      bodyLimit: 1024,
      onRequest: member(d),
    },
    async (req) => ({ index: await rooms.issueIndex(req.relayRoom.roomId, req.relayWho) })
  );

  app.post(
    '/rooms/:id/broadcast',
    {
      schema: {
        ...secured,
        description: 'An envelope for every other member; idempotent by clientSeq.',
        params: RoomParams,
        body: BroadcastBody,
        response: { 200: Accepted, ...errors },
      },
      bodyLimit,
      onRequest: member(d),
    },
    async (req) => rooms.send(req.relayRoom, req.relayWho, { to: null, ...req.body })
  );

  app.post(
    '/rooms/:id/messages',
    {
      schema: {
        ...secured,
        description: 'An envelope for one member; idempotent by clientSeq.',
        params: RoomParams,
        body: MessageBody,
        response: { 200: Accepted, ...errors },
      },
      bodyLimit,
      onRequest: member(d),
    },
    async (req) => rooms.send(req.relayRoom, req.relayWho, req.body)
  );

  app.post(
    '/rooms/:id/ack',
    {
      schema: {
        ...secured,
        description: 'Acknowledges every message addressed to the caller up to upTo.',
        params: RoomParams,
        body: AckBody,
        response: { 200: AckBody, ...errors },
      },
      bodyLimit: 1024,
      onRequest: member(d),
    },
    async (req) => {
      await rooms.ack(req.relayRoom.roomId, req.relayWho, req.body.upTo);
      return { upTo: req.body.upTo };
    }
  );

  app.post(
    '/rooms/:id/ticket',
    {
      schema: {
        ...secured,
        description: 'A one-time WebSocket ticket for this room (30 s).',
        params: RoomParams,
        response: { 200: Ticket, ...errors },
      },
      bodyLimit: 1024,
      onRequest: member(d),
    },
    async (req) => auth.issueTicket(req.relayWho, req.relayRoom.roomId)
  );
}
