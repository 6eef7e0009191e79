/**
 * The wallet bench's Chromium section: ECDSA (DKLs23) key generation and signing with every party
 * in one Web Worker (test/fixtures/ecdsa-page), as Silence Labs' browser figures are measured,
 * with libsecp256k1 in WebAssembly (what the wallet's worker installs) and with noble.
 *
 * BENCH_CHROMIUM_KEYGENS (default 7 per case; 0 skips), BENCH_CHROMIUM_SIGNS (default 20).
 * @module
 */
import type { Browser } from 'playwright-core';
import { median, percentile, type Row, table } from '../../core/bench/shared.ts';
import { runEcdsaPage } from '../test/fixtures/ecdsa-page.ts';

/**
 * Silence Labs' DKLs23 in Chromium (`@silencelaboratories/dkls-wasm-ll-web` 1.1.2, all parties
 * in one Web Worker of Debian's Chromium 156), in ms: the median of three runs' medians (7 key
 * generations, 20 signatures each), alternated with runs of this page on an idle 2-core machine
 * of this class on 2026-12-05 (the day before, a slower stretch of the same machine gave
 * 778 / 2,374 / 46 ms). Not a dependency (non-commercial licence): it was timed from a scratch
 * folder outside the repository.
 */
const SILENCE_LABS_CHROMIUM: Record<string, number> = {
  'key generation 2-of-2': 586,
  'key generation 2-of-3': 1746,
  'signature 2-of-2': 37.5,
};

/** One case as the page's worker reports it (test/fixtures/ecdsa-page/worker.ts). */
interface ChromiumCase {
  label: string;
  backend: string;
  ms: number[];
}

/** Runs the cases in a page of `browser` and prints them; returns nothing when skipped. */
export async function chromiumKeygenBench(browser: Browser): Promise<void> {
  const keygens = Number(process.env.BENCH_CHROMIUM_KEYGENS ?? 7);
  const signs = Number(process.env.BENCH_CHROMIUM_SIGNS ?? 20);
  if (keygens === 0) return;
  const result = (await runEcdsaPage(browser, { mode: 'bench', keygens, signs })) as {
    cases?: ChromiumCase[];
    userAgent?: string;
    error?: string;
  };
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
      ref === undefined ? '' : (med / ref).toFixed(2),
    ];
  });
  console.log(
    '\n## ECDSA in Chromium: every party in one Web Worker, as Silence Labs measures its own\n'
  );
  console.log(
    table(['case', 'backend', 'runs', 'median ms', 'p90 ms', 'SL Chromium ms', '× SL'], rows, [
      false,
      false,
      true,
      true,
      true,
      true,
      true,
    ])
  );
  console.log(
    `\n  ${result.userAgent}\n  SL: @silencelaboratories/dkls-wasm-ll-web 1.1.2, all parties in one worker of this\n  Chromium, timed alternately with this page on an idle machine of this class (not a\n  dependency). The target of the work that added libsecp256k1 in WebAssembly: key generation\n  at most SL's time in the browser.`
  );
}
