/**
 * Device-to-device in two browsers (two Chromium contexts: two devices with their own storage),
 * with the wallet opened from a real `tessera relay start --dev` process: both name their device,
 * pair through the relay with an invite, read the 6-digit code on both screens and compare it,
 * generate an ECDSA key (the other device approves) and sign (the other device sees the hash,
 * purpose and requester, and approves); OpenSSL verifies the signature here. A refused code
 * shows CODE_MISMATCH.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureWalletBuilt } from '../build.ts';
import {
  launchChromium,
  opensslEcdsa,
  screenTitle,
  seriousViolations,
  shot,
  skipBrowser,
  startCli,
  textOf,
} from './fixtures/browser.ts';

describe('two devices in two browsers, through the relay', {
  skip: skipBrowser,
  timeout: 10 * 60_000,
}, () => {
  let relay: { child: ChildProcess; url: string };
  let browser: Browser;
  let alice: Page;
  let bob: Page;

  const device = async (name: string) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${relay.url}/wallet/`);
    await screenTitle(page).filter({ hasText: 'Find Peers' }).waitFor();
    await page.getByLabel("This device's name").fill(name);
    await page.getByRole('button', { name: 'Create device' }).click();
    await page.getByTestId('device-name').filter({ hasText: name }).waitFor();
    return page;
  };

  /** `from` invites, `to` joins; both show the code. */
  const codes = async (from: Page, to: Page): Promise<[string, string]> => {
    await from.getByRole('button', { name: 'Invite a device' }).click();
    const invite = await from.getByTestId('invite-code').inputValue();
    assert.match(invite, /^[A-Za-z0-9_-]+$/);
    await to.getByLabel('Invite from the other device').fill(invite);
    await to.getByRole('button', { name: 'Join' }).click();
    for (const p of [from, to]) await screenTitle(p).filter({ hasText: 'Verify Peer' }).waitFor();
    return [await textOf(from, 'pairing-code'), await textOf(to, 'pairing-code')];
  };

  before(async () => {
    await ensureWalletBuilt();
    relay = await startCli(['relay', 'start', '--dev', '--port', '0']);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    relay?.child.kill('SIGTERM');
  });

  test('Find Peers, Verify Peer: both screens show the same 6-digit code; both confirm', async () => {
    alice = await device("Alice's browser");
    bob = await device("Bob's browser");
    await shot(alice, 'find-peers');
    assert.deepEqual(await seriousViolations(alice), [], 'Find Peers');
    const [a, b] = await codes(alice, bob);
    assert.match(a, /^\d( \d){5}$/);
    assert.equal(a, b, 'the same code on both devices');
    await shot(alice, 'verify-peer');
    assert.deepEqual(await seriousViolations(alice), [], 'Verify Peer');
    for (const p of [alice, bob]) await p.getByRole('button', { name: 'Verify' }).click();
    await alice.getByTestId('peer').filter({ hasText: "Bob's browser" }).waitFor();
    await bob.getByTestId('peer').filter({ hasText: "Alice's browser" }).waitFor();
    await shot(alice, 'find-peers-paired');
  });

  let publicKey = '';

  test('KeyGen in Progress → Key Generated on both devices, after the other approves', async () => {
    await alice.getByLabel('Key type').selectOption('ecdsa');
    await alice.getByRole('button', { name: "KeyGen with Bob's browser" }).click();
    await screenTitle(bob).filter({ hasText: 'KeyGen Request' }).waitFor();
    assert.equal(await textOf(bob, 'request-from'), "Alice's browser");
    await shot(bob, 'keygen-request');
    await bob.getByRole('button', { name: 'Approve' }).click();
    await screenTitle(alice)
      .filter({ hasText: /KeyGen in Progress|Key Generated/ })
      .waitFor();
    await shot(alice, 'keygen-in-progress');
    for (const p of [alice, bob])
      await screenTitle(p).filter({ hasText: 'Key Generated' }).waitFor({ timeout: 180_000 });
    await shot(alice, 'key-generated');
    publicKey = await textOf(alice, 'public-key');
    assert.match(publicKey, /^0[23][0-9a-f]{64}$/);
    assert.equal(await textOf(bob, 'public-key'), publicKey, 'both devices hold the same key');
  });

  test('Sign Request on the other device (hash, purpose, requester) → Signature Ready, OpenSSL verifies', async () => {
    await alice.getByRole('link', { name: 'Sign' }).click();
    await screenTitle(alice).filter({ hasText: 'Sign Message' }).waitFor();
    const message = 'send 0.1 BTC to carol';
    await alice.getByLabel('Message', { exact: true }).fill(message);
    await alice.getByLabel('Purpose (shown to the other device)').fill('Approve transaction');
    await alice.getByRole('button', { name: 'Sign' }).click();
    await screenTitle(bob).filter({ hasText: 'Sign Request' }).waitFor();
    assert.equal(
      await textOf(bob, 'request-hash'),
      createHash('sha256').update(message).digest('hex'),
      'the approving device sees the hash it co-signs'
    );
    assert.equal(await textOf(bob, 'request-purpose'), 'Approve transaction');
    assert.equal(await textOf(bob, 'request-from'), "Alice's browser");
    await shot(bob, 'sign-request');
    assert.deepEqual(await seriousViolations(bob), [], 'Sign Request');
    await bob.getByRole('button', { name: 'Sign' }).click();
    await screenTitle(alice).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
    await shot(alice, 'device-signature-ready');
    assert.equal(await textOf(alice, 'verification'), 'Valid for secp256k1');
    const sig = await textOf(alice, 'signature-raw');
    assert.ok(opensslEcdsa(publicKey, Buffer.from(message), sig), 'OpenSSL verifies');
    await screenTitle(bob).filter({ hasText: 'Signed' }).waitFor();
  });

  test('a code refused on one device: CODE_MISMATCH in words, and no peer pinned', async () => {
    const carol = await device("Carol's browser");
    await alice.getByRole('link', { name: 'Find Peers' }).click();
    await screenTitle(alice).filter({ hasText: 'Find Peers' }).waitFor();
    await codes(alice, carol);
    await alice.getByRole('button', { name: 'The codes differ' }).click();
    const error = alice.getByTestId('error');
    await error.waitFor({ timeout: 60_000 });
    assert.equal(await error.getAttribute('data-code'), 'CODE_MISMATCH');
    assert.match((await error.textContent()) ?? '', /codes do not match/);
    await shot(alice, 'code-mismatch');
    assert.equal(await alice.getByTestId('peer').filter({ hasText: "Carol's browser" }).count(), 0);
  });
});
