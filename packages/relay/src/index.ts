/**
 * @tessera/relay — the message relay: moves opaque sealed envelopes between the authenticated
 * members of a room over SSE or WebSocket, stamping the sender (docs/relay.md).
 * @module
 */
export { buildRelayApp } from './app.ts';
export { RelayAuth } from './auth.ts';
export {
  DEFAULT_LIMITS,
  loadRelayConfig,
  type RelayConfig,
  RelayConfigError,
  type RelayFlags,
  type RelayLimits,
} from './config.ts';
export {
  RELAY_ERROR_STATUS,
  RelayError,
  type RelayErrorBody,
  type RelayErrorCode,
  toRelayError,
} from './errors.ts';
export { createRelayLogger, REDACTED_FIELDS } from './log.ts';
export {
  LOGIN_TAG,
  loginMessage,
  MANIFEST_TAG,
  type Manifest,
  type ManifestMember,
  manifestHash,
  manifestMessage,
  parseManifest,
} from './manifest.ts';
export { RedisRoomStore } from './redis-store.ts';
export { WS_BEARER_PREFIX, WS_PROTOCOL } from './routes/delivery.ts';
export { VERSION } from './routes/ops.ts';
export type { RelayDeps } from './routes/shared.ts';
export { type RunningRelay, type StartRelayOptions, startRelay } from './server.ts';
export {
  type AppendInput,
  type AppendResult,
  type CreateResult,
  MemoryRoomStore,
  type RelayMessage,
  type RoomLimits,
  type RoomRecord,
  type RoomStore,
} from './store.ts';
