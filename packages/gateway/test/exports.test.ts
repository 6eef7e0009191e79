/**
 * The public surface of `@tessera/gateway`: the sorted names its entry point exports, kept here
 * as an inline snapshot (as viem does). A change to the surface shows as a diff of this file;
 * update the list when the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/gateway exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/gateway'), [
    'ApiKeys',
    'BanBook',
    'DEFAULT_KDF_PARAMS',
    'GATEWAY_ERROR_STATUS',
    'GatewayConfigError',
    'GatewayError',
    'JWKS_FILE',
    'KDF_CEILING',
    'KDF_FLOOR',
    'KEY_FILE',
    'KdfPool',
    'MAX_TOKEN_TTL_S',
    'REDACTED_FIELDS',
    'RequestStore',
    'TokenMinter',
    'VERSION',
    'buildGatewayApp',
    'createGatewayLogger',
    'initGatewayKey',
    'loadGatewayConfig',
    'loadGatewayKey',
    'openShare',
    'parseEncryptedShare',
    'parseSecretStore',
    'sealShare',
    'startGateway',
    'toGatewayError',
    'unwrapDataKey',
    'wrapDataKey',
  ]);
});
