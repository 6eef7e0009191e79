/**
 * Request and response schemas (TypeBox): Fastify validates requests with them (no coercion, no
 * defaults, unknown fields refused) and the OpenAPI document is made from them.
 * @module
 */
import { Type } from 'typebox';

export const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: '32 bytes, hex' });
export const Hex64 = Type.String({ pattern: '^[0-9a-f]{128}$', description: '64 bytes, hex' });
export const RoomId = Type.String({ pattern: '^[0-9a-f]{32}$', description: '16 bytes, hex' });
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const ClientSeq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** Standard padded base64; the decoded size is checked apart. */
export const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' });

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const Challenge = Type.Object({ challenge: Hex32, expiresAt: Type.Integer() });
export const LoginBody = Type.Object(
  { publicKey: Hex32, challenge: Hex32, signature: Hex64 },
  { additionalProperties: false }
);
export const Token = Type.Object({ token: Type.String(), expiresAt: Type.Integer() });

export const RoomParams = Type.Object({ id: RoomId }, { additionalProperties: false });
export const CreateRoomBody = Type.Object(
  { manifest: Base64, signature: Hex64 },
  { additionalProperties: false }
);
export const CreatedRoom = Type.Object({
  roomId: RoomId,
  manifestHash: Hex32,
  expiresAt: Type.Integer(),
});
export const RoomInfo = Type.Object({
  manifest: Type.String(),
  signature: Hex64,
  manifestHash: Hex32,
  expiresAt: Type.Integer(),
});
export const InvitationsQuery = Type.Object(
  {
    from: Type.String({
      pattern: '^[0-9a-f]{64}(,[0-9a-f]{64}){0,15}$',
      description: 'The creators asked about: 1..16 Ed25519 keys, hex, comma-separated.',
    }),
  },
  { additionalProperties: false }
);
export const Invitations = Type.Object({
  rooms: Type.Array(
    Type.Object({
      roomId: RoomId,
      creator: Hex32,
      manifest: Type.String(),
      signature: Hex64,
      manifestHash: Hex32,
      expiresAt: Type.Integer(),
    })
  ),
});
export const BroadcastBody = Type.Object(
  { clientSeq: ClientSeq, envelope: Base64 },
  { additionalProperties: false }
);
export const MessageBody = Type.Object(
  { to: Hex32, clientSeq: ClientSeq, envelope: Base64 },
  { additionalProperties: false }
);
export const Accepted = Type.Object({ seq: Seq });
export const AckBody = Type.Object({ upTo: Seq }, { additionalProperties: false });
export const Index = Type.Object({ index: Type.Integer() });
export const Ticket = Type.Object({ ticket: Hex32 });
export const Health = Type.Object({
  ok: Type.Boolean(),
  store: Type.Union([Type.Literal('memory'), Type.Literal('redis')]),
});
