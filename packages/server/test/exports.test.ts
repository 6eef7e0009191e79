/**
 * The public surface of `@tessera/server`: the sorted names each entry point exports, kept here as
 * an inline snapshot (as viem does). A change to the surface shows as a diff of this file;
 * update the list when the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/server exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/server'), [
    'ApiError',
    'Authenticator',
    'CLIENT_PARTY',
    'ConfigError',
    'FileEpochAnchor',
    'HsmError',
    'IDENTITY_FILE',
    'LocalKek',
    'Metrics',
    'Pkcs11KeyWrapper',
    'PostgresStore',
    'SERVER_PARTY',
    'Sealer',
    'ServerConfigFile',
    'SessionEngine',
    'SqliteStore',
    'StoreUnavailable',
    'VERSION',
    'buildApp',
    'createLogger',
    'devKey',
    'devToken',
    'generatePkcs11BackupKey',
    'loadConfig',
    'nitroHelperProvider',
    'openPkcs11BackupKey',
    'openPostgresStore',
    'openSqliteStore',
    'openStore',
    'readNodeIdentity',
    'startServer',
  ]);
});
