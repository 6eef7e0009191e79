/**
 * The public surface of `@tessera/relay`: the sorted names its entry point exports, kept here as
 * an inline snapshot. A change to the surface shows as a diff of this file; update the list when
 * the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/relay exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/relay'), [
    'DEFAULT_LIMITS',
    'LOGIN_TAG',
    'MANIFEST_TAG',
    'MemoryRoomStore',
    'REDACTED_FIELDS',
    'RELAY_ERROR_STATUS',
    'RedisRoomStore',
    'RelayAuth',
    'RelayConfigError',
    'RelayError',
    'VERSION',
    'WS_BEARER_PREFIX',
    'WS_PROTOCOL',
    'buildRelayApp',
    'createRelayLogger',
    'loadRelayConfig',
    'loginMessage',
    'manifestHash',
    'manifestMessage',
    'parseManifest',
    'startRelay',
    'toRelayError',
  ]);
});
