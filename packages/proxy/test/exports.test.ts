/**
 * The public surface of `@tessera/proxy`: the sorted names its entry point exports, kept here as
 * an inline snapshot. A change to the surface shows as a diff of this file; update the list when
 * the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/proxy exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/proxy'), [
    'DEFAULT_LIMITS',
    'PROXY_ERROR_STATUS',
    'ProxyConfigError',
    'ProxyError',
    'loadProxyConfig',
    'startProxy',
  ]);
});
