/**
 * The gateway's request and response schemas (TypeBox): Fastify validates with them and
 * publishes them in `/openapi.json`. Every object refuses unknown fields; every byte string is
 * lower-case hex, and the sealed blobs are opaque `v1.` strings.
 * @module
 */
import { Hex, HexN, KeyInfo, SignPayloadSchema } from '@tessera/api';
import { type Static, Type } from 'typebox';

const strict = { additionalProperties: false } as const;

export const Curve = Type.Union([Type.Literal('secp256k1'), Type.Literal('ed25519')], {
  description:
    'secp256k1: ECDSA (DKLs23), signed at /v3/wallet/sign/mta; ed25519: EdDSA (FROST), at /v3/wallet/sign',
});
const userIdOf = (description: string) =>
  Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', description });
const UserId = userIdOf(
  "the user the request acts for: the subject of the gateway's token to the nodes"
);
/** New passwords: long enough that the `secretStore` is not the weak link. */
const NewPassword = Type.String({ minLength: 8, maxLength: 1024 });
/** Existing passwords: any, so a password set under older rules still opens its store. */
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const EncryptedShare = Type.String({
  maxLength: 256 * 1024,
  pattern: '^v1\\.[A-Za-z0-9_-]+$',
  description: "the client's share, sealed (opaque; store it as it is)",
});
const SecretStore = Type.String({
  maxLength: 512,
  pattern: '^v1\\.[A-Za-z0-9_-]+$',
  description: "the share's data key, wrapped under the password with Argon2id (opaque)",
});
const KeyId = HexN(32, 'the key id (changes with a recovery)');
const PublicKey = Hex(33, 'compressed SEC1 (33 bytes) for secp256k1, 32 bytes for ed25519');

export const GenerateBody = Type.Object(
  {
    curve: Curve,
    password: NewPassword,
    userId: UserId,
    label: Type.Optional(Type.String({ maxLength: 128 })),
  },
  strict
);
export const Wallet = Type.Object(
  {
    keyId: KeyId,
    encryptedShare: EncryptedShare,
    secretStore: SecretStore,
    curve: Curve,
    publicKey: PublicKey,
  },
  strict
);

export const PasswordBody = Type.Object(
  { secretStore: SecretStore, password: Password, newPassword: NewPassword },
  strict
);
export const SecretStoreReply = Type.Object({ secretStore: SecretStore }, strict);

/** One of `digest`, `message` (with `hash`), or a typed `payload`. */
export const SignBody = Type.Object(
  {
    keyId: KeyId,
    userId: Type.Optional(UserId),
    encryptedShare: EncryptedShare,
    secretStore: SecretStore,
    password: Password,
    digest: Type.Optional(
      HexN(32, 'a 32-byte digest (ECDSA; the key policy must allow blind signing)')
    ),
    message: Type.Optional(Hex(64 * 1024, 'the message bytes')),
    hash: Type.Optional(Type.Union([Type.Literal('sha256'), Type.Literal('keccak256')])),
    payload: Type.Optional(SignPayloadSchema),
  },
  strict
);
export const EddsaSignature = Type.Object({ signature: HexN(64) }, strict);
export const EcdsaSignature = Type.Object(
  {
    signature: HexN(64, 'r ‖ s'),
    r: HexN(32),
    s: HexN(32),
    v: Type.Union([Type.Literal(0), Type.Literal(1)], { description: 'the recovery id' }),
  },
  strict
);

export const RecoverBody = Type.Object(
  {
    userId: UserId,
    password: NewPassword,
    keyId: Type.Optional(KeyId),
    publicKey: Type.Optional(PublicKey),
  },
  strict
);
export const Recovered = Type.Object(
  { keyId: KeyId, encryptedShare: EncryptedShare, secretStore: SecretStore, publicKey: PublicKey },
  strict
);

export const PublicKeyBody = Type.Object(
  {
    keyId: KeyId,
    userId: Type.Optional(userIdOf("when given, the key must be this user's (404 otherwise)")),
  },
  strict
);
export const Addresses = Type.Record(
  Type.String({ maxLength: 64 }),
  Type.String({ maxLength: 128 }),
  {
    description: 'ethereum and bitcoinP2wpkh (secp256k1), solana (ed25519): what the key can spend',
  }
);
export const PublicKeyReply = Type.Object(
  { publicKey: PublicKey, curve: Curve, addresses: Addresses },
  strict
);

export const ValidatePasswordBody = Type.Object(
  { secretStore: SecretStore, password: Password },
  strict
);
export const ValidatePasswordReply = Type.Object({ valid: Type.Boolean() }, strict);
export const ValidateShareBody = Type.Object(
  { encryptedShare: EncryptedShare, secretStore: SecretStore, password: Password },
  strict
);
export const ValidateShareReply = Type.Object(
  {
    valid: Type.Boolean(),
    reason: Type.Optional(
      Type.String({ description: 'SHARE_CORRUPTED, SHARE_MISMATCH or SHARE_INVALID' })
    ),
  },
  strict
);

export const UserQuery = Type.Object({ userId: UserId }, strict);
export const KeyListReply = Type.Object({ keys: Type.Array(KeyInfo) }, strict);
export const KeyMetaBody = Type.Object(
  {
    userId: UserId,
    keyId: KeyId,
    label: Type.Optional(Type.String({ maxLength: 128 })),
    addresses: Type.Optional(Addresses),
  },
  strict
);
export const KeyMetaReply = Type.Object(
  { keyId: KeyId, label: Type.Optional(Type.String()), addresses: Type.Optional(Addresses) },
  strict
);

export const HealthReply = Type.Object({ ok: Type.Literal(true) }, strict);

export type SignRequest = Static<typeof SignBody>;
export type CurveName = Static<typeof Curve>;
