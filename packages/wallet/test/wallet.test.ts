/**
 * The web wallet in Debian's Chromium (playwright-core, `/usr/bin/chromium`; nothing downloads a
 * browser), against a real `tessera server start --dev` process from the sources: key generation
 * and signing through the pages for ECDSA and Ed25519 with the signatures verified here by
 * OpenSSL (node:crypto) and viem; a reload keeps the key; the stored wrapping key refuses export;
 * two tabs contend for a key's lock; a wrong backup passphrase changes nothing; a policy that
 * refuses WebAssembly leaves the worker on noble, said on Server Status; a getRandomValues that
 * repeats itself stops the worker (INSECURE_RNG on every screen); axe-core finds no serious
 * violation. Every screen is captured to test-results/screens/.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { devToken } from '@tessera/server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type Hex, recoverTransactionAddress } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { ensureWalletBuilt } from '../build.ts';
import {
  shot as capture,
  launchChromium,
  opensslEcdsa,
  screenTitle,
  seriousViolations,
  skipBrowser,
  startCli,
  textOf,
} from './fixtures/browser.ts';

const b64url = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

function opensslEd25519(publicKey: string, message: Buffer, signature: string): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) },
    format: 'jwk',
  });
  return verify(null, message, key, Buffer.from(signature, 'hex'));
}

describe('the web wallet in Chromium', { skip: skipBrowser, timeout: 10 * 60_000 }, () => {
  let data: string;
  let server: { child: ChildProcess; url: string };
  let token: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const shots = new Set<string>();

  const shot = async (p: Page, name: string) => {
    await capture(p, name);
    shots.add(name);
  };
  const title = screenTitle;
  const text = textOf;
  // From a blank page: a URL differing only in its hash would not load the screen again.
  const open = async (p: Page, hash = '#/status') => {
    await p.goto('about:blank');
    await p.goto(`${server.url}/wallet/${hash}`);
  };

  before(async () => {
    await ensureWalletBuilt();
    data = mkdtempSync(join(tmpdir(), 'tessera-wallet-'));
    server = await startCli(['server', 'start', '--dev', '--port', '0', '--data', data]);
    token = await devToken(data, 'wallet-user');
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    server?.child.kill('SIGTERM');
    if (data) rmSync(data, { recursive: true, force: true });
  });

  test('/wallet opens on Server Status: connected, its latency, the server version, libsecp256k1 in WebAssembly', async () => {
    const res = await fetch(`${server.url}/wallet`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const index = await fetch(`${server.url}/wallet/`);
    assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal((await fetch(`${server.url}/wallet/%2e%2e/package.json`)).status, 404);
    assert.equal((await fetch(`${server.url}/wallet/nope.js`)).status, 404);

    await page.goto(`${server.url}/wallet/#token=${token}`);
    await title(page).filter({ hasText: 'Server Status' }).waitFor();
    assert.ok(!page.url().includes(token), 'the token leaves the address bar');
    await page
      .getByTestId('connection')
      .filter({ hasText: /Connected/ })
      .waitFor();
    assert.match(await text(page, 'connection'), /^● Connected \(latency: \d+ms\)$/);
    assert.equal(await text(page, 'server-version'), '0.1.0');
    // The worker's ECDSA arithmetic: libsecp256k1 compiled to WebAssembly, installed after core's
    // check against noble passed in this browser (the signatures below are made on it).
    assert.equal(await text(page, 'arithmetic'), 'libsecp256k1 (WebAssembly)');
    await shot(page, 'server-status');
  });

  test('a page whose policy refuses WebAssembly: the worker runs noble, and Server Status says so', async () => {
    // The server's own policy allows WebAssembly; this browser context strips that from every
    // response of the wallet, as a stricter proxy in front of it might.
    const strict = await browser.newContext();
    try {
      await strict.route(`${server.url}/wallet/**`, async (route) => {
        const response = await route.fetch();
        const headers = response.headers();
        headers['content-security-policy'] = (headers['content-security-policy'] ?? '').replace(
          " 'wasm-unsafe-eval'",
          ''
        );
        assert.doesNotMatch(headers['content-security-policy'] ?? '', /wasm/);
        await route.fulfill({ response, headers });
      });
      const p = await strict.newPage();
      await p.goto(`${server.url}/wallet/#token=${token}`);
      await title(p).filter({ hasText: 'Server Status' }).waitFor();
      const arithmetic = p.getByTestId('arithmetic');
      assert.equal(await text(p, 'arithmetic'), 'noble (slower: WebAssembly did not load)');
      assert.match(
        (await arithmetic.getAttribute('title')) ?? '',
        /libsecp256k1 \(WebAssembly\) did not load: .*@noble\/curves, several times slower/
      );
    } finally {
      await strict.close();
    }
  });

  test('a browser whose getRandomValues repeats itself: the worker refuses every call and each screen says why', async () => {
    // The worker's script, as this context receives it, starts by replacing getRandomValues with
    // one that hands back zeros: a stubbed or broken source, as core's start-up check meets it.
    const broken = await browser.newContext();
    try {
      let stubbed = false;
      await broken.route(`${server.url}/wallet/**`, async (route) => {
        const response = await route.fetch();
        if (!/\/assets\/worker-[^/]*\.js$/.test(route.request().url()))
          return route.fulfill({ response });
        stubbed = true;
        const body =
          'Object.defineProperty(self.crypto, "getRandomValues", { value: (a) => a.fill(0) });\n' +
          (await response.text());
        await route.fulfill({ response, body });
      });
      const p = await broken.newPage();
      await p.goto(`${server.url}/wallet/#token=${token}`);
      const banner = p.getByTestId('error');
      await banner.waitFor();
      assert.ok(stubbed, 'the worker script was served through the stub');
      assert.equal(await banner.getAttribute('data-code'), 'INSECURE_RNG');
      assert.match(await banner.innerText(), /random number generator failed its check/);
      // Nothing was stored: the worker did not even open its database (which makes a key).
      assert.equal(
        await p.evaluate(
          async () =>
            (
              await (
                globalThis as unknown as { indexedDB: { databases(): Promise<unknown[]> } }
              ).indexedDB.databases()
            ).length
        ),
        0
      );
      // Every route asks the worker first, so no screen gets past the banner.
      await p.goto(`${server.url}/wallet/#/keys`);
      await p.reload();
      await p.getByTestId('error').waitFor();
      assert.equal(await p.getByTestId('error').getAttribute('data-code'), 'INSECURE_RNG');
    } finally {
      await broken.close();
    }
  });

  const keygen = async (scheme: 'ecdsa' | 'ed25519') => {
    await open(page);
    await page.getByLabel('Key type').selectOption(scheme);
    await page.getByTestId('start-keygen').click();
    await title(page).filter({ hasText: 'Remote KeyGen' }).waitFor();
    await page
      .getByTestId('step')
      .filter({ hasText: /step \d+ of \d+/ })
      .waitFor();
    await shot(page, `remote-keygen-${scheme}`);
    await page.getByRole('heading', { name: 'Key generated' }).waitFor({ timeout: 120_000 });
    await shot(page, `key-generated-${scheme}`);
    const publicKey = await text(page, 'public-key');
    const keyId = await text(page, 'key-id');
    assert.match(publicKey, scheme === 'ecdsa' ? /^0[23][0-9a-f]{64}$/ : /^[0-9a-f]{64}$/);
    // The server holds the other share of the same key.
    const info = await (
      await fetch(`${server.url}/v1/keys/${keyId}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json();
    assert.equal((info as { publicKey: string }).publicKey, publicKey);
    return { publicKey, keyId };
  };

  const signCurrent = async (name: string) => {
    await page.getByRole('button', { name: 'Sign' }).click();
    await title(page)
      .filter({ hasText: /Signing in Progress|Signature Ready/ })
      .waitFor();
    await shot(page, `signing-in-progress-${name}`);
    await title(page).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
    await shot(page, `signature-ready-${name}`);
    return text(page, 'signature-raw');
  };

  test('ECDSA: key generation, an EIP-1559 transaction and a message signed through the pages', async () => {
    const { publicKey, keyId } = await keygen('ecdsa');
    await page.locator('a.button', { hasText: 'Sign Transaction' }).click();
    await title(page).filter({ hasText: 'Sign Transaction' }).waitFor();
    await page.getByLabel('Amount (ETH)').fill('1.5');
    assert.match(await text(page, 'amount'), /^1\.5 ETH to 0x1234/);
    assert.match(await text(page, 'hash'), /^[0-9a-f]{64}$/);
    await shot(page, 'sign-transaction');
    await signCurrent('ecdsa-tx');
    assert.equal(await text(page, 'verification'), 'Valid for secp256k1');
    assert.match(await text(page, 'signature-der'), /^30 /);
    // viem, a chain library, recovers the key's address from the signed transaction.
    const signedTx = (await text(page, 'signed-tx')) as Hex;
    const address = publicKeyToAddress(
      `0x${Buffer.from(secp256k1.Point.fromHex(publicKey).toBytes(false)).toString('hex')}`
    );
    assert.equal(
      await recoverTransactionAddress({ serializedTransaction: signedTx as never }),
      address
    );

    await open(page, `#/sign?key=${keyId}`);
    await page.getByLabel('What to sign').selectOption('message');
    const message = 'pay 1.5 ETH to bob';
    await page.getByLabel('Message', { exact: true }).fill(message);
    const sig = await signCurrent('ecdsa-message');
    assert.ok(
      opensslEcdsa(publicKey, Buffer.from(message), sig),
      'OpenSSL verifies the ECDSA signature'
    );
  });

  test('Ed25519: key generation and a message signed through the pages', async () => {
    const { publicKey, keyId } = await keygen('ed25519');
    await open(page, `#/sign?key=${keyId}`);
    await title(page).filter({ hasText: 'Sign Transaction' }).waitFor();
    const message = 'Ed25519 from a browser';
    await page.getByLabel('Message', { exact: true }).fill(message);
    const sig = await signCurrent('ed25519');
    assert.equal(await text(page, 'verification'), 'Valid for Ed25519');
    assert.ok(
      opensslEd25519(publicKey, Buffer.from(message), sig),
      'OpenSSL verifies the Ed25519 signature'
    );
  });

  test('a reload keeps the keys; the stored wrapping key cannot be exported; no localStorage', async () => {
    await page.reload();
    await open(page, '#/keys');
    await title(page).filter({ hasText: 'Keys' }).waitFor();
    assert.equal(await page.getByTestId('key').count(), 2);
    await shot(page, 'keys');
    // In the page, as a script there could: read the stored key and ask for its bytes.
    const probe = await page.evaluate(`(async () => {
      const db = await new Promise((res, rej) => {
        const r = indexedDB.open('tessera-wallet');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const key = await new Promise((res, rej) => {
        const r = db.transaction('meta').objectStore('meta').get('wrapping-key');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      let exported = 'exported';
      try {
        await crypto.subtle.exportKey('raw', key);
      } catch (e) {
        exported = e.name;
      }
      db.close();
      return { extractable: key.extractable, exported, localStorage: localStorage.length };
    })()`);
    assert.deepEqual(probe, {
      extractable: false,
      exported: 'InvalidAccessError',
      localStorage: 0,
    });
  });

  test('two tabs contend for one key: the second waits until the first lets go, then signs', async () => {
    await open(page, '#/keys');
    const keyId = (await page.getByTestId('key').first().getAttribute('data-key-id')) as string;
    // The first tab holds the key's lock as a signing would.
    await page.evaluate(`new Promise((held) => {
      navigator.locks.request('tessera-wallet:key:${keyId}', () => {
        held();
        return new Promise((release) => { globalThis.release = release; });
      });
    })`);
    const second = await context.newPage();
    await open(second, `#/sign?key=${keyId}`);
    await title(second).filter({ hasText: 'Sign Transaction' }).waitFor();
    await second.getByRole('button', { name: 'Sign' }).click();
    await second.getByTestId('waiting').filter({ hasText: 'another tab' }).waitFor();
    await shot(second, 'signing-waits-for-other-tab');
    await page.evaluate('globalThis.release()');
    await title(second).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
    await second.close();
  });

  test('refresh: a new epoch replaces the old one, and the key still signs', async () => {
    await open(page, '#/keys');
    const card = page.getByTestId('key').filter({ hasText: 'ed25519' });
    const keyId = (await card.getAttribute('data-key-id')) as string;
    await card.getByRole('button', { name: 'Refresh' }).click();
    await card.getByTestId('refreshed').waitFor({ timeout: 60_000 });
    const info = (await (
      await fetch(`${server.url}/v1/keys/${keyId}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { epoch: string };
    assert.match(await text(page, 'refreshed'), new RegExp(`epoch ${info.epoch.slice(0, 10)}`));
    await open(page, `#/sign?key=${keyId}`);
    await page.getByRole('button', { name: 'Sign' }).click();
    await title(page).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
    assert.equal(await text(page, 'verification'), 'Valid for Ed25519');
  });

  test('a backup exports; a wrong passphrase on import shows an error and changes nothing', async () => {
    await open(page, '#/keys');
    await page.getByLabel('Backup passphrase').first().fill('violet-Quarry-91-lantern-Oboe');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page
        .getByRole('button', { name: 'Export backup' })
        .first()
        .click()
        .then(() => page.getByTestId('backup-download').click()),
    ]);
    const file = join(data, 'wallet.backup');
    await download.saveAs(file);
    assert.ok(readFileSync(file).length > 100);
    const before = await page.getByTestId('key').count();
    await page.getByLabel('Backup file').setInputFiles(file);
    await page.getByLabel('Passphrase', { exact: true }).fill('not the passphrase at all');
    await page.getByRole('button', { name: 'Import' }).click();
    const error = page.getByTestId('error');
    await error.waitFor({ timeout: 60_000 });
    assert.equal(await error.getAttribute('data-code'), 'WRONG_PASSPHRASE');
    assert.match((await error.textContent()) ?? '', /Wrong passphrase/);
    await shot(page, 'backup-wrong-passphrase');
    await open(page, '#/keys');
    await title(page).filter({ hasText: 'Keys' }).waitFor();
    assert.equal(await page.getByTestId('key').count(), before);
  });

  test('an unreachable server is said in words, with its code', async () => {
    const other = await context.newPage();
    await open(other, '#/status');
    await title(other).filter({ hasText: 'Server Status' }).waitFor();
    await other.getByText('Server and access token').click();
    await other.getByLabel('Server address').fill('http://127.0.0.1:9');
    await other.getByRole('button', { name: 'Save' }).click();
    const error = other.getByTestId('error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'TRANSPORT');
    assert.match((await error.textContent()) ?? '', /Server unreachable/);
    await shot(other, 'server-unreachable');
    // Back to this server for what follows.
    await other.getByText('Server and access token').click();
    await other.getByLabel('Server address').fill(server.url);
    await other.getByRole('button', { name: 'Save' }).click();
    await other
      .getByTestId('connection')
      .filter({ hasText: /Connected/ })
      .waitFor();
    await other.close();
  });

  test('accessibility: every control labelled, no serious axe-core violation on each screen', async () => {
    for (const hash of ['#/status', '#/keys', '#/sign']) {
      await open(page, hash);
      await title(page).waitFor();
      assert.deepEqual(await seriousViolations(page), [], hash);
    }
    assert.ok(shots.size >= 10, `screens captured: ${[...shots].join(', ')}`);
  });

  test('a token the server no longer accepts: "Session expired" in words, with its code', async () => {
    // The server answers an expired token and a forged one alike (UNAUTHORIZED); a forged one
    // needs no wait past the server's clock tolerance.
    const [head, body] = token.split('.');
    const stale = `${head}.${body}.${Buffer.alloc(64).toString('base64url')}`;
    const other = await (await browser.newContext()).newPage();
    await other.goto(`${server.url}/wallet/#token=${stale}`);
    await title(other).filter({ hasText: 'Server Status' }).waitFor();
    await other.getByTestId('start-keygen').click();
    const error = other.getByTestId('error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'UNAUTHORIZED');
    assert.match((await error.textContent()) ?? '', /Session expired/);
    await shot(other, 'session-expired');
    await other.context().close();
  });

  test('the wallet passphrase: shares re-encrypted, the wallet opens locked, a wrong passphrase is refused', async () => {
    await open(page, '#/keys');
    await title(page).filter({ hasText: 'Keys' }).waitFor();
    const keyId = (await page.getByTestId('key').first().getAttribute('data-key-id')) as string;
    const passphrase = 'Quarry-lantern-Oboe-77';
    await page.getByLabel('Wallet passphrase', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Set passphrase' }).click();
    await page
      .getByText('The shares are now under the passphrase as well.')
      .waitFor({ timeout: 60_000 });
    await open(page, '#/keys');
    await title(page).filter({ hasText: 'Unlock Wallet' }).waitFor();
    await shot(page, 'unlock-wallet');
    await page.getByLabel('Wallet passphrase', { exact: true }).fill('not the passphrase');
    await page.getByRole('button', { name: 'Unlock' }).click();
    const error = page.getByTestId('error');
    await error.waitFor({ timeout: 60_000 });
    assert.equal(await error.getAttribute('data-code'), 'WRONG_PASSPHRASE');
    await page.getByLabel('Wallet passphrase', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await title(page).filter({ hasText: 'Keys' }).waitFor({ timeout: 60_000 });
    // The re-encrypted share still signs.
    await open(page, `#/sign?key=${keyId}`);
    await page.getByLabel('Wallet passphrase', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await title(page).filter({ hasText: 'Sign Transaction' }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Sign' }).click();
    await title(page).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
    assert.match(await text(page, 'verification'), /^Valid for /);
  });
});
