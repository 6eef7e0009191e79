/**
 * Request and response schemas of the co-signing server (JSON Schema via TypeBox). The server
 * validates with them and publishes them in `/openapi.json`; their `Static` types are the wire
 * types both sides compile against. Every object refuses unknown fields.
 * @module
 */
import { type Static, type TSchema, Type } from 'typebox';

const strict = { additionalProperties: false } as const;

/** Lower-case hex of any even length up to `maxBytes`. */
export const Hex = (maxBytes: number, description?: string) =>
  Type.String({
    pattern: '^(?:[0-9a-f]{2})*$',
    maxLength: 2 * maxBytes,
    ...(description ? { description } : {}),
  });
/** Lower-case hex of exactly `bytes` bytes. */
export const HexN = (bytes: number, description?: string) =>
  Type.String({
    pattern: `^[0-9a-f]{${2 * bytes}}$`,
    ...(description ? { description } : {}),
  });

/** Limits shared by both sides. */
export const LIMITS = {
  /** Largest signing message (bytes) for Ed25519/BIP-340 and hashed ECDSA messages. */
  messageBytes: 64 * 1024,
  /** Largest unsigned transaction (bytes). */
  transactionBytes: 128 * 1024,
  /** Largest protocol envelope (bytes): ECDSA key generation's pairwise setup is the biggest. */
  envelopeBytes: 1024 * 1024,
  /** Envelopes per step request. */
  envelopesPerStep: 16,
} as const;

export const SchemeSchema = Type.Union(
  [Type.Literal('ecdsa'), Type.Literal('ed25519'), Type.Literal('bip340')],
  { description: 'ecdsa: DKLs23 on secp256k1; ed25519: FROST(Ed25519); bip340: FROST with BIP-340' }
);

/** A party's public keys for sealed sessions with an attested server (docs/attestation.md). */
export const SealedIdentity = Type.Object(
  {
    publicKey: HexN(32, 'Ed25519: verifies what the party signs'),
    x25519: HexN(32, 'X25519: what the other side seals to'),
  },
  strict
);

/**
 * Replay protection of every start request (a fresh client nonce and the client's clock), and the
 * client's identity for a sealed session.
 */
const StartGuard = {
  nonce: HexN(16, 'fresh random 16 bytes, never reused'),
  timestamp: Type.Integer({ minimum: 0, description: 'client time, ms since the Unix epoch' }),
  sealed: Type.Optional(SealedIdentity),
};

/** A node's public identity in the 2-of-3 topology (`GET /v1/node/identity`). */
export const NodeIdentitySchema = Type.Object(
  {
    nodeId: Type.Union([Type.Literal('node1'), Type.Literal('node2')]),
    ed25519: HexN(32, 'Ed25519 public key: verifies what the node signs'),
    x25519: HexN(32, 'X25519 public key: what the other node seals to'),
    fingerprint: HexN(
      32,
      'SHA-256("tessera/node-identity/v1" ‖ nodeId ‖ ed25519 ‖ x25519): what clients pin'
    ),
  },
  strict
);

/**
 * The 2-of-3 topology of a session start: both nodes' identities as the client pinned them, and
 * the coordinator nonce the client chose for all three parties.
 */
export const TopologyFields = {
  topology: Type.Optional(Type.Literal('2-of-3')),
  nodes: Type.Optional(
    Type.Object({ node1: NodeIdentitySchema, node2: NodeIdentitySchema }, strict)
  ),
  sid0: Type.Optional(HexN(32, '2-of-3: the coordinator nonce the client sends both nodes')),
};

export const CreateKeyBody = Type.Object(
  {
    scheme: Type.String({ maxLength: 32, description: 'ecdsa, ed25519 or bip340' }),
    label: Type.Optional(Type.String({ maxLength: 128 })),
    ...TopologyFields,
    ...StartGuard,
  },
  strict
);

export const SignPayloadSchema = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('digest'),
      digest: HexN(32, 'raw 32-byte digest (ECDSA only; needs a blind-signing policy)'),
    },
    strict
  ),
  Type.Object(
    {
      kind: Type.Literal('message'),
      message: Hex(LIMITS.messageBytes),
      hash: Type.Optional(Type.Union([Type.Literal('sha256'), Type.Literal('keccak256')])),
    },
    strict
  ),
  Type.Object({ kind: Type.Literal('eip191'), message: Hex(LIMITS.messageBytes) }, strict),
  Type.Object(
    {
      kind: Type.Literal('taproot'),
      sighash: HexN(32, 'BIP-341 sighash of a key-path spend (bip340 keys)'),
      merkleRoot: Type.Optional(
        HexN(32, 'script tree root; absent: key path only (BIP-86), the usual case')
      ),
    },
    strict
  ),
  Type.Object(
    {
      kind: Type.Literal('eip712'),
      typedData: Type.Object(
        {
          domain: Type.Record(Type.String(), Type.Unknown()),
          types: Type.Record(Type.String(), Type.Unknown()),
          primaryType: Type.String({ maxLength: 256 }),
          message: Type.Record(Type.String(), Type.Unknown()),
        },
        strict
      ),
    },
    strict
  ),
  Type.Object(
    {
      kind: Type.Literal('eip1559'),
      transaction: Hex(LIMITS.transactionBytes, 'unsigned serialised EIP-1559 transaction'),
    },
    strict
  ),
  Type.Object(
    {
      kind: Type.Literal('eip2930'),
      transaction: Hex(LIMITS.transactionBytes, 'unsigned serialised EIP-2930 transaction'),
    },
    strict
  ),
  Type.Object(
    {
      kind: Type.Literal('legacy'),
      transaction: Hex(
        LIMITS.transactionBytes,
        'unsigned serialised legacy transaction with its EIP-155 chain id'
      ),
    },
    strict
  ),
]);

export const SignBody = Type.Object(
  {
    payload: SignPayloadSchema,
    epoch: Type.Optional(HexN(32, 'the epoch of the client share (defaults to the current one)')),
    ...StartGuard,
  },
  strict
);

export const RefreshBody = Type.Object(
  {
    epoch: HexN(32, 'the epoch of the client share being refreshed'),
    ...TopologyFields,
    ...StartGuard,
  },
  strict
);

/** A recovery's start (2-of-3): the client that lost its share joins as a new holder. */
export const RecoveryRunBody = Type.Object(
  {
    sid0: HexN(32, 'the coordinator nonce the client sends both nodes'),
    nodes: Type.Object({ node1: NodeIdentitySchema, node2: NodeIdentitySchema }, strict),
    ...StartGuard,
  },
  strict
);

export const RecoveryStatus = Type.Object(
  {
    keyId: HexN(32),
    state: Type.Union([
      Type.Literal('pending'),
      Type.Literal('ready'),
      Type.Literal('cancelled'),
      Type.Literal('done'),
    ]),
    requestedAt: Type.Optional(Type.Integer()),
    readyAt: Type.Optional(Type.Integer({ description: 'ms since the Unix epoch' })),
    /** Once done: the key id the recovery issued. */
    successor: Type.Optional(HexN(32)),
  },
  strict
);

export const KeyIdParams = Type.Object({ keyId: HexN(32) }, strict);
export const SessionParams = Type.Object({ sid: HexN(16) }, strict);

export const ProtocolName = Type.Union([
  Type.Literal('dkg'),
  Type.Literal('ecdsa.sign'),
  Type.Literal('frost.sign'),
  Type.Literal('reshare'),
]);

const Envelopes = Type.Array(
  Type.String({
    pattern: '^[A-Za-z0-9+/]*={0,2}$',
    maxLength: Math.ceil(LIMITS.envelopeBytes / 3) * 4,
    description: 'base64 of a core envelope (encodeEnvelope)',
  }),
  { maxItems: LIMITS.envelopesPerStep }
);

/** The other node's envelopes the client relays in a 2-of-3 session (opaque to the client). */
const Relayed = Type.Array(
  Type.String({
    pattern: '^[A-Za-z0-9+/]*={0,2}$',
    maxLength: Math.ceil((LIMITS.envelopeBytes + 1024) / 3) * 4,
    description: 'base64 of a node envelope: signed by the sending node, sealed to the recipient',
  }),
  { maxItems: LIMITS.envelopesPerStep }
);

export const StepBody = Type.Object({ messages: Envelopes, relay: Type.Optional(Relayed) }, strict);

/** A protocol as core names it in envelopes: key generation and reshare of ECDSA keys differ. */
export type CoreProtocolName =
  | 'dkg'
  | 'dkg.ecdsa'
  | 'reshare'
  | 'reshare.ecdsa'
  | 'ecdsa.sign'
  | 'frost.sign';

/** The core protocol of a server session: `dkg` and `reshare` of `ecdsa` keys add `.ecdsa`. */
export const coreProtocolName = (
  protocol: ProtocolNameValue,
  scheme: Static<typeof SchemeSchema>
): CoreProtocolName =>
  (protocol === 'dkg' || protocol === 'reshare') && scheme === 'ecdsa'
    ? `${protocol}.ecdsa`
    : protocol;

/**
 * KiB of the client's envelopes to the server (its broadcast and its p2p message to party 2) in
 * each round of each core protocol, index 0 being round 1: measured with 2 and 3 parties (3-of-3
 * is the largest) and rounded up. The server's test `steplimits.test.ts` measures them again.
 */
export const CLIENT_ROUND_KIB: Record<CoreProtocolName, readonly number[]> = {
  dkg: [1, 3, 1, 3],
  'dkg.ecdsa': [1, 20, 33, 3],
  reshare: [1, 1, 1, 3],
  'reshare.ecdsa': [1, 17, 33, 3],
  'ecdsa.sign': [10, 49, 1],
  'frost.sign': [1, 1],
};

/**
 * The largest step body (bytes) a session of `protocol` collecting `round` can legitimately get:
 * a new step carries this round's envelopes and perhaps later rounds' (the client sends all it
 * has); a resend carries the rounds the last step answered. Base64 in JSON, twice that as a
 * safety margin, plus 4 KiB of framing.
 */
export function stepBodyLimit(protocol: CoreProtocolName, round: number): number {
  const kib = CLIENT_ROUND_KIB[protocol];
  const at = Math.min(Math.max(round, 1), kib.length) - 1;
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const raw = 1024 * Math.max(sum(kib.slice(at)), sum(kib.slice(0, at)));
  return 2 * Math.ceil(raw / 3) * 4 + 4096;
}

/** The largest step body of any protocol and round (WebSocket frames, the route's outer limit). */
export const MAX_STEP_BODY_BYTES = Math.max(
  ...(Object.keys(CLIENT_ROUND_KIB) as CoreProtocolName[]).map((p) => stepBodyLimit(p, 1))
);

/** What the client's core session must be started with (the server's choices). */
export const SessionParamsInfo = Type.Object(
  {
    scheme: SchemeSchema,
    threshold: Type.Integer(),
    parties: Type.Array(Type.Integer()),
    /** The core session id: every envelope of the session carries it (the client checks it). */
    sid: HexN(32),
    /** Key generation and refresh: the shared 32-byte coordinator nonce. */
    sid0: Type.Optional(HexN(32)),
    label: Type.Optional(Type.String()),
    keyId: Type.Optional(HexN(32)),
    epoch: Type.Optional(HexN(32)),
    /** Signing: the request id and the signed bytes (digest for ECDSA, message otherwise). */
    rid: Type.Optional(HexN(32)),
    digest: Type.Optional(HexN(32)),
    message: Type.Optional(Hex(LIMITS.messageBytes)),
    /** Taproot signing: the x-only output key both parties' tweaked shares sign for. */
    outputKey: Type.Optional(HexN(32)),
    /** 2-of-3: this node's party id, and the other node (whose envelopes the client relays). */
    me: Type.Optional(Type.Integer()),
    peer: Type.Optional(
      Type.Object({ party: Type.Integer(), ...NodeIdentitySchema.properties }, strict)
    ),
    /** A sealed session: the client's identity for it, as the start request gave it. */
    sealed: Type.Optional(SealedIdentity),
    /** 2-of-3 recovery: the dealers (the nodes), and the public data of the epoch they deal. */
    dealers: Type.Optional(Type.Array(Type.Integer())),
    reissue: Type.Optional(Type.Boolean()),
    old: Type.Optional(
      Type.Object(
        {
          generation: Type.Integer({ minimum: 0 }),
          groupKey: Hex(33),
          chainCode: HexN(32),
          verificationShares: Type.Array(Hex(33), { maxItems: 255 }),
        },
        strict
      )
    ),
  },
  strict
);

export const SessionStatusSchema = Type.Union([
  Type.Literal('active'),
  Type.Literal('done'),
  Type.Literal('aborted'),
  Type.Literal('expired'),
]);

export const KeygenResult = Type.Object(
  { keyId: HexN(32), scheme: SchemeSchema, publicKey: Hex(33), epoch: HexN(32) },
  strict
);
export const SignResult = Type.Object(
  {
    signature: Hex(64, '64 bytes: r‖s for ECDSA, the Schnorr/EdDSA signature otherwise'),
    r: Type.Optional(HexN(32)),
    s: Type.Optional(HexN(32)),
    recovery: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)])),
    der: Type.Optional(Hex(72)),
  },
  strict
);
export const RefreshResult = Type.Object({ keyId: HexN(32), epoch: HexN(32) }, strict);

export const SessionStarted = Type.Object(
  {
    sessionId: HexN(16),
    protocol: ProtocolName,
    /** The client's party id and the server's. */
    party: Type.Integer(),
    serverParty: Type.Integer(),
    totalRounds: Type.Integer(),
    params: SessionParamsInfo,
    /** The server's first-round envelopes (base64). */
    messages: Envelopes,
    /** 2-of-3: the first-round envelopes for the other node, which the client relays. */
    relay: Type.Optional(Relayed),
    expiresAt: Type.Integer({ description: 'ms since the Unix epoch' }),
    /** With an attestation provider: Ed25519 signature by the attested identity key (attestedReplyMessage). */
    serverSignature: Type.Optional(HexN(64)),
  },
  strict
);

export const StepReply = Type.Object(
  {
    sessionId: HexN(16),
    status: SessionStatusSchema,
    /** The round the server is collecting next (or the last round when done). */
    round: Type.Integer(),
    messages: Envelopes,
    /** 2-of-3: envelopes for the other node, which the client relays unchanged. */
    relay: Type.Optional(Relayed),
    result: Type.Optional(Type.Union([KeygenResult, SignResult, RefreshResult])),
    /** With an attestation provider: Ed25519 signature by the attested identity key (attestedReplyMessage). */
    serverSignature: Type.Optional(HexN(64)),
  },
  strict
);

/** The client gave up on its session: its error code or failed check, kept in the audit log. */
export const AbortBody = Type.Object(
  { code: Type.String({ pattern: '^[A-Za-z_]{1,64}$', description: "the client's error code" }) },
  strict
);
export const AbortReply = Type.Object(
  { sessionId: HexN(16), status: Type.Literal('aborted') },
  strict
);

export const PolicySchema = Type.Object(
  {
    blindSigning: Type.Boolean({ description: 'raw digests and unprefixed ECDSA messages' }),
    maxValueWei: Type.Optional(Type.String({ pattern: '^[0-9]{1,78}$' })),
    allowedChainIds: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
    allowedDestinations: Type.Optional(Type.Array(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$' }))),
    dailyLimit: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict
);

/** Addresses registered for a key, by chain name (public facts, bounded). */
export const KeyAddresses = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  Type.String({ maxLength: 128 }),
  { maxProperties: 16 }
);

export const KeyInfo = Type.Object(
  {
    keyId: HexN(32),
    scheme: SchemeSchema,
    label: Type.String(),
    publicKey: Hex(33),
    threshold: Type.Integer(),
    parties: Type.Array(Type.Integer()),
    party: Type.Integer({ description: "the client's party id" }),
    epoch: HexN(32),
    /** An epoch being confirmed after a refresh (both epochs sign until the client uses the new one). */
    pendingEpoch: Type.Optional(HexN(32)),
    policy: PolicySchema,
    createdAt: Type.Integer(),
    /** 2-of-3 keys: the topology, this node's id in it, and the other node. */
    topology: Type.Optional(Type.Literal('2-of-3')),
    node: Type.Optional(Type.Union([Type.Literal('node1'), Type.Literal('node2')])),
    peer: Type.Optional(NodeIdentitySchema),
    /** A recovery requested and not done (the key does not sign meanwhile). */
    recovery: Type.Optional(RecoveryStatus),
    /** The key id a recovery issued for this public key: this key id no longer signs. */
    retiredBy: Type.Optional(HexN(32)),
    /** Addresses the owner registered for the key (`PATCH /v1/keys/:keyId`). */
    addresses: Type.Optional(KeyAddresses),
  },
  strict
);

/**
 * The token scope (in the JWT's space-separated `scope` claim) that lets its holder read any
 * key's public facts without owning the key: a gateway looking a key up by its id alone.
 */
export const KEYS_PUBLIC_SCOPE = 'tessera:keys.public';

/**
 * A key's public facts (`GET /v1/keys/:keyId/public`): what anyone who may see the key's public
 * key may see, for its owner or a token with the `tessera:keys.public` scope.
 */
export const KeyPublicInfo = Type.Object(
  {
    keyId: HexN(32),
    scheme: SchemeSchema,
    publicKey: Hex(33),
    topology: Type.Optional(Type.Literal('2-of-3')),
    retiredBy: Type.Optional(HexN(32)),
    addresses: Type.Optional(KeyAddresses),
  },
  strict
);

/** What the owner may change of a key's record: its label and the addresses it registered. */
export const KeyMetaBody = Type.Object(
  {
    label: Type.Optional(Type.String({ maxLength: 128 })),
    addresses: Type.Optional(KeyAddresses),
  },
  strict
);

export const KeyList = Type.Object({ keys: Type.Array(KeyInfo) }, strict);

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  strict
);

/**
 * Liveness for load balancers: `ok`; `degraded` while Redis (shared rate limits, session events)
 * is unreachable but signing goes on; `down` (HTTP 503) while the store is unreachable.
 */
export const Health = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
    store: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
    redis: Type.Union([Type.Literal('ok'), Type.Literal('down'), Type.Literal('off')]),
  },
  strict
);
export const Status = Type.Object(
  {
    version: Type.String(),
    uptimeSeconds: Type.Number(),
    build: Type.Object(
      { store: Type.String({ description: 'the kind of store: sqlite or postgres' }) },
      strict
    ),
    activeSessions: Type.Integer(),
  },
  strict
);

export const WsTicket = Type.Object(
  { ticket: HexN(32), expiresAt: Type.Integer() },
  { additionalProperties: false }
);

/** The server's identity in relay rooms (docs/relay-participant.md). */
export const RelayIdentityInfo = Type.Object(
  {
    /** The relay the server takes part through. */
    relay: Type.String(),
    /** Ed25519 key, hex. */
    publicKey: HexN(32),
    /** X25519 key, hex. */
    x25519: HexN(32),
    fingerprint: HexN(32),
  },
  { additionalProperties: false }
);

/** Attaches a session to a relay room the client created with the server as a member. */
export const AttachRelayBody = Type.Object(
  {
    roomId: HexN(16),
    manifestHash: HexN(32),
    /** The client's identity in the room (one for this session). */
    client: Type.Object({ publicKey: HexN(32), x25519: HexN(32) }, strict),
  },
  strict
);

export const AttachRelayReply = Type.Object(
  { sessionId: HexN(16), roomId: HexN(16), status: Type.Literal('attached') },
  { additionalProperties: false }
);

/** `GET /v1/attestation?nonce=`: the enclave's attestation document for the caller's nonce. */
export const AttestationQuery = Type.Object(
  { nonce: Type.String({ pattern: '^([0-9a-f]{2}){16,64}$', description: '16 to 64 bytes, hex' }) },
  strict
);
export const AttestationInfo = Type.Object(
  {
    /** The Nitro attestation document (COSE_Sign1), base64. */
    document: Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', maxLength: 28 * 1024 }),
    /** The server's identity: user_data is SHA-256(publicKey ‖ x25519). */
    identity: SealedIdentity,
  },
  { additionalProperties: false }
);

/**
 * Verifiable (PVE) backups of a client share (docs/pve-backup.md): the sizes the server accepts
 * and keeps. One share's PVE ciphertext is 14,426 bytes with an X25519 backup key and 14,554
 * with P-256; the sealed share is the share's encoding plus 48 bytes, at most ~129 KiB (a 2-of-3
 * ECDSA share).
 */
export const PVE_BACKUP_LIMITS = {
  /** The largest `POST /v1/keys/:keyId/backups` body. */
  bodyBytes: 256 * 1024,
  pveBytes: 16 * 1024,
  sealedShareBytes: 176 * 1024,
  /** Backups a key keeps (backups of an epoch a refresh replaced are deleted with the next one). */
  perKey: 16,
} as const;

const Base64 = (maxBytes: number, description: string) =>
  Type.String({
    pattern: '^[A-Za-z0-9+/]*={0,2}$',
    minLength: 4,
    maxLength: Math.ceil(maxBytes / 3) * 4,
    description,
  });

/** A backup public key as `encodeBackupKey` writes it. */
export const BackupKeySchema = Type.String({
  pattern: '^(?:x25519:[0-9a-f]{64}|p256:0[23][0-9a-f]{64})$',
  description:
    'the backup public key: "x25519:" and 32 bytes, or "p256:" and 33 bytes (compressed), hex',
});

export const CreateBackupBody = Type.Object(
  {
    backupKey: BackupKeySchema,
    epoch: HexN(32, "the epoch of the share backed up: the key's current epoch"),
    pve: Base64(
      PVE_BACKUP_LIMITS.pveBytes,
      "base64 of the PVE ciphertext of the client's secret share (pveEncrypt), with its proof"
    ),
    sealedShare: Base64(
      PVE_BACKUP_LIMITS.sealedShareBytes,
      'base64 of the whole client share sealed to the backup key (pveSealShare)'
    ),
  },
  strict
);

const BackupFacts = {
  backupId: HexN(16),
  keyId: HexN(32),
  epoch: HexN(32),
  backupKey: BackupKeySchema,
  createdAt: Type.Integer({ description: 'ms since the Unix epoch' }),
};

export const BackupCreated = Type.Object(
  {
    ...BackupFacts,
    bytes: Type.Integer({ description: 'bytes kept: the PVE ciphertext and the sealed share' }),
  },
  strict
);

export const BackupInfo = Type.Object(
  {
    ...BackupFacts,
    pve: Type.String({ description: 'base64' }),
    sealedShare: Type.String({ description: 'base64' }),
  },
  strict
);

/** A key's verifiable backups, newest first. */
export const BackupList = Type.Object({ backups: Type.Array(BackupInfo) }, strict);

export type AttestationResponse = Static<typeof AttestationInfo>;
export type RelayIdentityResponse = Static<typeof RelayIdentityInfo>;
export type AttachRelayRequest = Static<typeof AttachRelayBody>;
export type CreateKeyRequest = Static<typeof CreateKeyBody>;
export type SignPayload = Static<typeof SignPayloadSchema>;
export type SignRequest = Static<typeof SignBody>;
export type RefreshRequest = Static<typeof RefreshBody>;
export type StepRequest = Static<typeof StepBody>;
export type AbortRequest = Static<typeof AbortBody>;
export type SessionStartedResponse = Static<typeof SessionStarted>;
export type StepReplyResponse = Static<typeof StepReply>;
export type KeyInfoResponse = Static<typeof KeyInfo>;
export type KeyPublicInfoResponse = Static<typeof KeyPublicInfo>;
export type NodeIdentityInfo = Static<typeof NodeIdentitySchema>;
export type RecoveryStatusResponse = Static<typeof RecoveryStatus>;
export type RecoveryRunRequest = Static<typeof RecoveryRunBody>;
export type KeyMetaRequest = Static<typeof KeyMetaBody>;
export type KeyListResponse = Static<typeof KeyList>;
export type Policy = Static<typeof PolicySchema>;
export type KeygenResultBody = Static<typeof KeygenResult>;
export type SignResultBody = Static<typeof SignResult>;
export type RefreshResultBody = Static<typeof RefreshResult>;
export type ProtocolNameValue = Static<typeof ProtocolName>;
export type SessionStatusValue = Static<typeof SessionStatusSchema>;
export type StatusResponse = Static<typeof Status>;
export type WsTicketResponse = Static<typeof WsTicket>;
export type CreateBackupRequest = Static<typeof CreateBackupBody>;
export type BackupCreatedResponse = Static<typeof BackupCreated>;
export type BackupInfoResponse = Static<typeof BackupInfo>;
export type BackupListResponse = Static<typeof BackupList>;
export type { TSchema };
