/**
 * The public surface of `@tessera/http`: the sorted names it exports, kept as an inline
 * snapshot. A change to the surface shows as a diff of this file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

test('@tessera/http exports', async () => {
  assert.deepEqual(Object.keys(await import('@tessera/http')).sort(), [
    'DOCS_HEADERS',
    'StaticSiteError',
    'createService',
    'createServiceLogger',
    'envInteger',
    'handleErrors',
    'registerDocs',
    'registerStaticSite',
  ]);
});
