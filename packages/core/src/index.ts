/**
 * @tessera/core — Tessera's threshold-signature protocols as pure, I/O-free state machines.
 *
 * Every protocol exports `start(params)` → `{ session, out }` and `receive(session, envelope)` →
 * `{ session, out, result? }`. Sessions are plain data (`encodeSession`/`decodeSession`); a failed
 * check throws `ProtocolAbort` naming the culprit. `local` runs all parties in memory
 * (`simulate`, with a tamper hook for tests, is in `@tessera/core/testing`).
 * @module
 */
export {
  BACKUP_KDF_FLOOR,
  BACKUP_PASSPHRASE_MIN,
  type BackupInfo,
  type BackupKdfParams,
  type ExportShareOptions,
  exportShare,
  type ImportShareOptions,
  importShare,
  inspectBackup,
  validatePassphrase,
  validateShare,
} from './backup.ts';
export { ctEqual } from './bytes.ts';
export {
  CHECKS,
  type CheckInfo,
  type CheckName,
  CORE_ERROR_CODES,
  type CoreErrorCode,
  type CulpritKind,
} from './checks.ts';
export { type DkgParams, type DkgSession, dkg } from './dkg/protocol.ts';
export {
  oldKeyOf,
  type ReshareOldKey,
  type ReshareParams,
  type ReshareResult,
  type ReshareSession,
  reshare,
} from './dkg/reshare.ts';
export {
  type EcdsaCallContext,
  type EcdsaCompleteOptions,
  type EcdsaReceiveOptions,
  type EcdsaSignature,
  type EcdsaSignParams,
  type EcdsaSignSession,
  type EcdsaStartOptions,
  ecdsaSign,
  pairGuardKey,
} from './ecdsa/sign.ts';
export {
  type CoreErrorOptions,
  DecodeError,
  type ErrorData,
  type ErrorShape,
  errorData,
  errorFromData,
  InputError,
  InternalError,
  MessageMissing,
  MessageRejected,
  NonceReuse,
  type PartyId,
  ProtocolAbort,
  SessionClosed,
  TesseraError,
  type TesseraErrorOptions,
} from './errors.ts';
export {
  type FrostReceiveOptions,
  type FrostSignParams,
  type FrostSignSession,
  type FrostStartOptions,
  frostSign,
} from './frost/sign.ts';
export { taprootTweak } from './frost/taproot.ts';
export { type DerivedKey, deriveChild, derivePublic, parsePath } from './hd.ts';
export { KeyShare, SCHEMES, type Scheme } from './keyshare.ts';
export {
  type LocalKeygenOptions,
  type LocalReshareOptions,
  type LocalSignOptions,
  local,
} from './local.ts';
export {
  nobleSecp256k1,
  type Secp256k1Backend,
  secp256k1Backend,
  useSecp256k1Backend,
} from './math/secp256k1-backend.ts';
export {
  PAIR_CODE_DIGITS,
  PAIR_INITIATOR,
  PAIR_MAX_NAME,
  PAIR_RESPONDER,
  PairingLockout,
  type PairingLockoutState,
  type PairingParams,
  type PairingResult,
  type PairingSession,
  type PairingStatus,
  type PairingStep,
  pairing,
} from './pairing.ts';
export { type CoreJob, type CoreWorkers, runCoreJob, useCoreWorkers } from './parallel.ts';
export {
  decodeBackupKey,
  encodeBackupKey,
  type PveBackupKey,
  type PveDecryptionKey,
  type PveKem,
  type PveKeyPair,
  pveKeygen,
} from './pve/kem.ts';
export {
  PVE_MAX_BATCH,
  PVE_REPETITIONS,
  type PveHeader,
  type PveLabelItem,
  pveDecrypt,
  pveEncrypt,
  pveInspect,
  pveLabel,
  pveLabelOf,
  pveRestoreShare,
  pveSealShare,
  pveVerify,
} from './pve/pve.ts';
export {
  checkPartyPublic,
  fingerprint,
  newPartyIdentity,
  type OpenedRelayEnvelope,
  type OpenRelayOptions,
  openRelayEnvelope,
  type PartyIdentity,
  type PartyPublic,
  RELAY_MAX_BODY,
  RELAY_MAX_RECIPIENTS,
  RELAY_MAX_SID,
  type SealRelayOptions,
  sealRelayEnvelope,
} from './relay-envelope.ts';
export { assertRngHealthy, type Rng, systemRng } from './rng.ts';
export {
  discardSession,
  type NonceLedger,
  noGuardedCheck,
  type PairGuard,
  type PairGuardState,
  type ReceiveOptions,
  type Session,
  type SessionStatus,
  StagedLedger,
} from './session/driver.ts';
export {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type Step,
} from './session/envelope.ts';
export { BoundedCache, type BoundedCacheOptions } from './util/bounded-cache.ts';
export { type Secp256k1Point, secp256k1KeyTable } from './verifying-key.ts';
