/**
 * The public surface of `@tessera/wallet` from Node: where its built files are. A change shows as
 * a diff of this list.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

test('@tessera/wallet exports', async () => {
  assert.deepEqual(Object.keys(await import('@tessera/wallet')).sort(), [
    'WALLET_ASSETS_DIR',
    'walletAssets',
  ]);
});
