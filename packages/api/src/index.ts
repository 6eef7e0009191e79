/**
 * @tessera/api — the co-signing server's wire contract, shared by server and client: schemas,
 * error codes, and what a signing payload signs.
 * @module
 */
export {
  type AttestedReplyKind,
  attestedReplyMessage,
  canonicalJson,
} from './attested-reply.ts';
export { ERROR_STATUS, type ErrorBody, type ErrorCode, isErrorCode } from './errors.ts';
export {
  checkPayloadBounds,
  describeInput,
  PayloadError,
  PayloadTooComplex,
  type SchemeName,
  type SigningInput,
  signingInput,
} from './payload.ts';
export * from './schemas.ts';
export {
  identityDigest,
  openSessionMessage,
  type SealedSession,
  sealSessionMessage,
} from './sealed-session.ts';
export { checkedSignature, type EcdsaSignatureParts } from './signature.ts';
export {
  hasStandardDomainType,
  standardDomainType,
  TYPED_DATA_LIMITS,
  type TypedDataInput,
  type TypedDataLimit,
} from './typed-data.ts';
