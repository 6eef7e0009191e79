/**
 * @tessera/client — the client SDK (Node and browser). Node-only pieces (the encrypted file
 * store, the `ws` WebSocket) are in `@tessera/client/node`.
 * @module
 */
export {
  type CallOptions,
  type ClientOptions,
  type CreatedKey,
  type Phase,
  type Progress,
  type RefreshOptions,
  type Scheme,
  type Signature,
  type SignInput,
  TesseraClient,
  type TopologyOptions,
  type TransportKind,
} from './client.ts';
export { ClientError, type ClientErrorCode, ServerError } from './errors.ts';
export { checkPassphrase as checkBackupPassphrase } from './passphrase.ts';
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
