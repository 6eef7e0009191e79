/**
 * @tessera/gateway — the client node: a stateless REST service that plays the client's part of
 * 2-of-3 keys for users without an SDK (docs/gateway.md).
 * @module
 */
export { buildGatewayApp } from './app.ts';
export { ApiKeys } from './auth.ts';
export { BanBook, RequestStore } from './bans.ts';
export {
  type GatewayConfig,
  GatewayConfigError,
  type GatewayFlags,
  loadGatewayConfig,
  MAX_TOKEN_TTL_S,
  type NodeRef,
  type NodeSet,
} from './config.ts';
export {
  GATEWAY_ERROR_STATUS,
  GatewayError,
  type GatewayErrorCode,
  toGatewayError,
} from './errors.ts';
export { KdfPool } from './kdf-pool.ts';
export { initGatewayKey, JWKS_FILE, KEY_FILE, loadGatewayKey, type SigningKey } from './keyfile.ts';
export { createGatewayLogger, REDACTED_FIELDS } from './log.ts';
export { VERSION } from './routes/ops.ts';
export type { GatewayDeps } from './routes/shared.ts';
export {
  DEFAULT_KDF_PARAMS,
  KDF_CEILING,
  KDF_FLOOR,
  type Kdf,
  type KdfParams,
  openShare,
  type PlainShare,
  parseEncryptedShare,
  parseSecretStore,
  sealShare,
  unwrapDataKey,
  wrapDataKey,
} from './secret.ts';
export { type RunningGateway, startGateway } from './server.ts';
export { TokenMinter } from './token.ts';
