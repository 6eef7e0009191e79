/**
 * @tessera/server — the co-signing server: Fastify REST + WebSocket around core sessions.
 * @module
 */

export { type EpochAnchor, FileEpochAnchor } from './anchor.ts';
export { buildApp, VERSION } from './app.ts';
export { type AttestationProvider, nitroHelperProvider } from './attestation.ts';
export { Authenticator, devKey, devToken } from './auth.ts';
export {
  ConfigError,
  loadConfig,
  type ServerConfig,
  ServerConfigFile,
  type ServerConfigInput,
} from './config.ts';
export { type KeyWrapper, LocalKek, Sealer } from './custody.ts';
export { ApiError } from './errors.ts';
export { CLIENT_PARTY, SERVER_PARTY } from './keys/parties.ts';
export { createLogger } from './log.ts';
export { Metrics } from './metrics.ts';
export { IDENTITY_FILE, readNodeIdentity } from './node/identity.ts';
export {
  generatePkcs11BackupKey,
  HsmError,
  type HsmErrorCode,
  openPkcs11BackupKey,
  type Pkcs11BackupKey,
  type Pkcs11BackupKeyRef,
  Pkcs11KeyWrapper,
} from './pkcs11.ts';
export { openStore, type RunningServer, type StartOptions, startServer } from './server.ts';
export { SessionEngine } from './sessions/engine.ts';
export { openPostgresStore, PostgresStore } from './store/postgres.ts';
export { openSqliteStore, SqliteStore } from './store/sqlite.ts';
export type * from './store/store.ts';
export { StoreUnavailable } from './store/store.ts';
