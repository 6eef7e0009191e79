/**
 * @tessera/client — the client SDK (Node and browser): keys with a co-signing server, and
 * device-to-device keys and pairing over a relay. Node-only pieces (the encrypted file store, the
 * `ws` WebSocket, the device home folder, the LAN mode) are in `@tessera/client/node`.
 * @module
 */
export {
  AttestationError,
  type AttestationErrorCode,
  type AttestationPolicy,
  type AttestationResult,
  AWS_NITRO_ROOT_SHA256,
  PINNABLE_PCRS,
  verifyAttestation,
} from './attestation/index.ts';
export {
  type AttestationOptions,
  type CallOptions,
  type ClientOptions,
  type CreatedKey,
  type Phase,
  type Progress,
  type PveExport,
  type RefreshOptions,
  type Scheme,
  type Signature,
  type SignInput,
  TesseraClient,
  type TopologyOptions,
  type TransportKind,
} from './client.ts';
export {
  DEVICE_PROTOCOL,
  type DeviceKey,
  DeviceNode,
  type DeviceNodeEvents,
  type DeviceNodeOptions,
  type DeviceOperation,
  type DeviceProgress,
  type DeviceRequest,
  type DeviceSignature,
  type ServedRequest,
} from './device-node.ts';
export {
  decodeInvite,
  encodeInvite,
  type PairingInvite,
  type PairOptions,
  type PairOutcome,
  pairAsInitiator,
  pairAsResponder,
} from './device-pairing.ts';
export {
  assertPairingOpen,
  checkDeviceName,
  DEVICE_WIDE,
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  findPeerIn,
  type PeerRecord,
} from './device-types.ts';
export { ClientError, type ClientErrorCode, ServerError } from './errors.ts';
export { checkPassphrase as checkBackupPassphrase } from './passphrase.ts';
export { PVE_BACKUP_FORMAT, type PveBackupFile, parsePveBackupFile } from './pve-backup.ts';
export {
  MemoryShareStore,
  type PairMarkerState,
  type ShareStore,
  type StoredKey,
} from './store.ts';
export { identityFingerprint, type NodeRef, type NodeSet } from './topology.ts';
export {
  Http,
  HttpStepTransport,
  type StepTransport,
  type WebSocketFactory,
  type WebSocketLike,
  WsStepTransport,
} from './transport.ts';
