/**
 * The wallet bench's Chromium section: ECDSA (DKLs23) key generation and signing with every party
 * in one Web Worker (chromium/worker.ts), as Silence Labs' browser figures are measured, with
 * libsecp256k1 in WebAssembly (what the wallet's worker installs) and with noble. The page is
 * built with Vite from the sources and served from loopback.
 *
 * BENCH_CHROMIUM_KEYGENS (default 7 per case; 0 skips), BENCH_CHROMIUM_SIGNS (default 20).
 * @module
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';
import { build, defaultClientConditions } from 'vite';
import { median, percentile, type Row, table } from '../../core/bench/shared.ts';

/**
 * Silence Labs' DKLs23 in Chromium (`@silencelaboratories/dkls-wasm-ll-web` 1.1.2, all parties
 * in one Web Worker of Debian's Chromium), medians in ms, timed beside ours in one page on an
 * idle 2-core machine of this class on 2026-12-04. Not a dependency (non-commercial licence):
 * it was timed in a scratch folder outside the repository.
 */
const SILENCE_LABS_CHROMIUM: Record<string, number> = {
  'key generation 2-of-2': 821,
  'key generation 2-of-3': 2476,
};

/** One case as the page's worker reports it (chromium/worker.ts). */
interface ChromiumCase {
  label: string;
  backend: string;
  ms: number[];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
};

async function buildPage(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'tessera-chromium-bench-'));
  await build({
    configFile: false,
    root: join(import.meta.dirname, 'chromium'),
    base: './',
    logLevel: 'warn',
    resolve: { conditions: ['@tessera/source', ...defaultClientConditions] },
    worker: { format: 'es' },
    build: { outDir: out, emptyOutDir: true, target: 'es2022' },
  });
  return out;
}

/** Runs the cases in a page of `browser` and prints them; returns nothing when skipped. */
export async function chromiumKeygenBench(browser: Browser): Promise<void> {
  const keygens = Number(process.env.BENCH_CHROMIUM_KEYGENS ?? 7);
  const signs = Number(process.env.BENCH_CHROMIUM_SIGNS ?? 20);
  if (keygens === 0) return;
  const dir = await buildPage();
  const server = createServer((req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = join(dir, path === '' ? 'index.html' : path);
    if (!file.startsWith(dir) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let result: { cases?: ChromiumCase[]; userAgent?: string; error?: string };
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${port}/?keygens=${keygens}&signs=${signs}`);
    const handle = await page.waitForFunction(
      // Runs in the page.
      () => (globalThis as unknown as { benchResult?: unknown }).benchResult,
      null,
      { timeout: 900_000, polling: 500 }
    );
    result = (await handle.jsonValue()) as typeof result;
    await page.context().close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (result.error !== undefined || result.cases === undefined)
    throw new Error(`the Chromium bench page failed: ${result.error}`);
  const rows: Row[] = result.cases.map((c) => {
    const s = [...c.ms].sort((a, b) => a - b);
    const ref = SILENCE_LABS_CHROMIUM[c.label];
    const med = median(s);
    return [
      c.label,
      c.backend,
      String(s.length),
      med.toFixed(1),
      percentile(s, 90).toFixed(1),
      ref === undefined ? '' : String(ref),
      ref === undefined ? '' : `${(med / ref).toFixed(2)}${med <= ref ? ' ✔' : ' ✘'}`,
    ];
  });
  console.log(
    '\n## ECDSA in Chromium: every party in one Web Worker, as Silence Labs measures its own\n'
  );
  console.log(
    table(
      ['case', 'backend', 'runs', 'median ms', 'p90 ms', 'SL Chromium ms', '× SL (target ≤ 1)'],
      rows,
      [false, false, true, true, true, true, true]
    )
  );
  console.log(
    `\n  ${result.userAgent}\n  SL: @silencelaboratories/dkls-wasm-ll-web 1.1.2, all parties in one worker of this\n  Chromium, timed beside ours in one page on an idle machine of this class (not a dependency).`
  );
}
