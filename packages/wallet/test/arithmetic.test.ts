/**
 * The browser build of each secp256k1 backend in Debian's Chromium: in a Web Worker, libsecp256k1
 * in WebAssembly gives noble's bytes on random inputs, and an ECDSA (DKLs23) 2-of-2 key
 * generation and signature run on it and on noble, every party in the worker. The signatures are
 * verified here by @noble/curves and by tiny-secp256k1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Browser } from 'playwright-core';
import * as ecc from 'tiny-secp256k1';
import { launchChromium, skipBrowser } from './fixtures/browser.ts';
import { runEcdsaPage } from './fixtures/ecdsa-page.ts';

interface BackendResult {
  backend: string;
  differs: string | null;
  publicKey: string;
  digest: string;
  signature: string;
}

describe('secp256k1 backends in Chromium', { skip: skipBrowser, timeout: 5 * 60_000 }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('libsecp256k1 (WebAssembly) matches noble; ECDSA keygen and signing on each backend verify', async () => {
    const r = await runEcdsaPage(browser, { mode: 'test', runs: 300 });
    assert.equal(r.error, undefined, String(r.error));
    const results = r.backends as BackendResult[];
    assert.deepEqual(
      results.map((b) => b.backend),
      ['libsecp256k1-wasm', 'noble']
    );
    for (const b of results) {
      assert.equal(b.differs, null, `${b.backend} differs from noble at ${b.differs}`);
      const pub = Buffer.from(b.publicKey, 'hex');
      const digest = Buffer.from(b.digest, 'hex');
      const sig = Buffer.from(b.signature, 'hex');
      assert.ok(
        secp256k1.verify(sig, digest, pub, { prehash: false, lowS: true }),
        `${b.backend}: @noble/curves verifies`
      );
      assert.ok(ecc.verify(digest, pub, sig, true), `${b.backend}: tiny-secp256k1 verifies`);
    }
  });
});
