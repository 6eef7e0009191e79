/**
 * The web wallet's benchmark (`npm run bench`, section "wallet"; BENCH_ONLY=wallet runs it
 * alone): key generation and signing through the wallet's pages in Debian's Chromium (the
 * protocols in its Web Worker, shares in IndexedDB) against a co-signing server on loopback,
 * beside the same operations by the Node SDK against the same server: ECDSA (DKLs23) and Ed25519
 * (FROST), median and p90, timed from the click to the finished screen; signatures in one page
 * after a first one (a freshly loaded worker's first signature is also printed). Then the production
 * build's size, gzipped: what the page loads first, and the worker.
 *
 * BENCH_WALLET_KEYGENS (default 3 per scheme), BENCH_WALLET_SIGNS (default 10 per scheme).
 * @module
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MemoryShareStore, type Scheme, TesseraClient } from '@tessera/client';
import { devToken, loadConfig, startServer } from '@tessera/server';
import type { Page } from 'playwright-core';
import { median, percentile } from '../../core/bench/shared.ts';
import { ensureWalletBuilt } from '../build.ts';
import { launchChromium, screenTitle, skipBrowser } from '../test/fixtures/browser.ts';
import { chromiumKeygenBench } from './chromium.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'wallet') process.exit(0);
if (skipBrowser) {
  console.log(`\n## Web wallet: skipped (${skipBrowser})`);
  process.exit(0);
}

const KEYGENS = Number(process.env.BENCH_WALLET_KEYGENS ?? 3);
const SIGNS = Number(process.env.BENCH_WALLET_SIGNS ?? 10);
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

const dir = await ensureWalletBuilt();
const data = mkdtempSync(join(tmpdir(), 'tessera-wallet-bench-'));
const server = await startServer(
  loadConfig({ data, port: 0, dev: true, logLevel: 'silent', wallet: { dir } }, {})
);
const token = await devToken(data, 'bench');
const browser = await launchChromium();
await chromiumKeygenBench(browser);

interface Row {
  what: string;
  browser: number[];
  node: number[];
}
const rows: Row[] = [];

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function openAt(page: Page, hash: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${server.url}/wallet/${hash}`);
  await screenTitle(page).waitFor();
}

async function browserKeygen(page: Page, scheme: Scheme): Promise<{ ms: number; keyId: string }> {
  await openAt(page, '#/status');
  await page.getByTestId('start-keygen').waitFor();
  await page.getByLabel('Key type').selectOption(scheme);
  const ms = await timed(async () => {
    await page.getByTestId('start-keygen').click();
    await page.getByRole('heading', { name: 'Key generated' }).waitFor({ timeout: 300_000 });
  });
  const keyId = ((await page.getByTestId('key-id').textContent()) ?? '').trim();
  return { ms, keyId };
}

/** Within the open page (hash navigation): the worker, its store and its code stay warm. */
async function browserSign(page: Page, keyId: string, scheme: Scheme): Promise<number> {
  await page.evaluate('location.hash = "#/keys"');
  await screenTitle(page).filter({ hasText: 'Keys' }).waitFor();
  await page.evaluate(`location.hash = "#/sign?key=${keyId}"`);
  await screenTitle(page).filter({ hasText: 'Sign Transaction' }).waitFor();
  if (scheme === 'ecdsa') await page.getByLabel('What to sign').selectOption('message');
  return timed(async () => {
    await page.getByRole('button', { name: 'Sign' }).click();
    await screenTitle(page).filter({ hasText: 'Signature Ready' }).waitFor({ timeout: 60_000 });
  });
}

try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/wallet/#token=${token}`);
  await screenTitle(page).filter({ hasText: 'Server Status' }).waitFor();
  const client = new TesseraClient({ server: server.url, token, store: new MemoryShareStore() });
  const message = Buffer.from('Hello from Tessera').toString('hex');

  for (const scheme of ['ecdsa', 'ed25519'] as const) {
    const keygen: Row = { what: `${scheme} key generation`, browser: [], node: [] };
    let keyId = '';
    for (let i = 0; i < KEYGENS; i++) {
      const r = await browserKeygen(page, scheme);
      keygen.browser.push(r.ms);
      keyId = r.keyId;
      keygen.node.push(await timed(() => client.createKey({ scheme })));
    }
    const nodeKey = await client.createKey({ scheme });
    await openAt(page, '#/keys');
    const first: Row = { what: `${scheme} first signature`, browser: [], node: [] };
    first.browser.push(await browserSign(page, keyId, scheme));
    const sign: Row = { what: `${scheme} signature`, browser: [], node: [] };
    for (let i = 0; i < SIGNS; i++) {
      sign.browser.push(await browserSign(page, keyId, scheme));
      sign.node.push(
        await timed(() =>
          client.sign(nodeKey.keyId, scheme === 'ecdsa' ? { message, hash: 'sha256' } : { message })
        )
      );
    }
    rows.push(keygen, first, sign);
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(data, { recursive: true, force: true });
}

console.log(
  '\n## Web wallet in Chromium (worker, IndexedDB) vs the Node SDK, same server on loopback, HTTP\n'
);
console.log(
  `  ${'operation'.padEnd(26)} ${'Chromium median'.padStart(16)} ${'p90'.padStart(9)} ${'Node median'.padStart(12)} ${'p90'.padStart(9)}  runs`
);
for (const r of rows) {
  const b = [...r.browser].sort((x, y) => x - y);
  const n = [...r.node].sort((x, y) => x - y);
  const ms = (xs: number[], p: 50 | 90) =>
    xs.length ? `${(p === 50 ? median(xs) : percentile(xs, p)).toFixed(0)} ms` : '—';
  console.log(
    `  ${r.what.padEnd(26)} ${ms(b, 50).padStart(16)} ${ms(b, 90).padStart(9)} ${ms(n, 50).padStart(12)} ${ms(n, 90).padStart(9)}  ${b.length}`
  );
}

// The build's JavaScript, gzipped: the page's entry chunk, the worker, and what loads lazily.
const assets = join(dir, 'assets');
const html = readFileSync(join(dir, 'index.html'), 'utf8');
let entry = 0;
let worker = 0;
let lazy = 0;
for (const f of readdirSync(assets)) {
  if (!f.endsWith('.js') && !f.endsWith('.css')) continue;
  const gz = gzipSync(readFileSync(join(assets, f))).length;
  if (html.includes(`assets/${f}`)) entry += gz;
  else if (f.startsWith('worker-')) worker += gz;
  else lazy += gz;
}
console.log(
  `\n  bundle (gzip): page ${kib(entry)} at load, worker ${kib(worker)}, lazily loaded ${kib(lazy)}`
);
