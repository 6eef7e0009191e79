/**
 * `npm run bench`, attestation section (BENCH_ONLY=attestation runs it alone): the time to verify
 * a real AWS Nitro document (the release document of test/fixtures/nitro, at its own time) with a
 * cold chain (every certificate parsed and its signature checked) and with the chain cached (the
 * dates still checked), and a client's whole attestation round trip against a server on loopback
 * (fetch `GET /v1/attestation`, verify, then the signed start reply) beside the same key
 * generation without it. `BENCH_ATTEST_RUNS` (default 200) verifications per case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryShareStore, TesseraClient, verifyAttestation } from '@tessera/client';
import { devToken, loadConfig, startServer } from '@tessera/server';
import { median, percentile, table } from '../../core/bench/shared.ts';
import {
  makeDocument,
  makePki,
  PCR0,
  RELEASE_AT,
  RELEASE_DOC,
  T0,
} from '../test/fixtures/nitro.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'attestation') process.exit(0);
const runs = Number(process.env.BENCH_ATTEST_RUNS ?? 200);

async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(10, n); i++) await f();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const ms = (v: number) => v.toFixed(2);
const row = (name: string, s: number[]) => [
  name,
  ms(median(s)),
  ms(percentile(s, 90)),
  String(s.length),
];

const cold = await timed(runs, () =>
  verifyAttestation(RELEASE_DOC, { now: RELEASE_AT, cache: false })
);
const cached = await timed(runs, () => verifyAttestation(RELEASE_DOC, { now: RELEASE_AT }));

// The client's round trip: a server whose provider signs synthetic documents (no NSM here).
const pki = makePki();
const data = mkdtempSync(join(tmpdir(), 'tessera-bench-attest-'));
const server = await startServer(loadConfig({ data, port: 0, dev: true, logLevel: 'warn' }, {}), {
  logDestination: { write: () => {} },
  attestationProvider: {
    description: 'synthetic',
    document: async (nonce, userData) => makeDocument(pki, { nonce, user_data: userData }),
  },
});
const token = await devToken(data, 'bench');
const client = (attested: boolean) =>
  new TesseraClient({
    server: server.url,
    token,
    store: new MemoryShareStore(),
    ...(attested
      ? {
          attestation: {
            pcrs: { 0: Buffer.from(PCR0).toString('hex') },
            root: pki.root,
            now: () => T0,
          },
        }
      : {}),
  });
const keygens = Math.max(5, Math.round(runs / 10));
const plain = await timed(keygens, () => client(false).createKey({ scheme: 'ed25519' }));
const attested = await timed(keygens, () => client(true).createKey({ scheme: 'ed25519' }));
await server.close();
rmSync(data, { recursive: true, force: true });

console.log('\n## Nitro attestation verification (node:crypto WebCrypto, this machine)\n');
console.log(
  table(
    ['case', 'median ms', 'p90 ms', 'runs'],
    [
      row('real AWS document, cold chain (5 certificates)', cold),
      row('real AWS document, cached chain', cached),
      row('Ed25519 key generation, no attestation', plain),
      row('Ed25519 key generation, attested (fetch + verify + signed replies)', attested),
    ],
    [false, true, true, true]
  )
);
console.log(
  `\n  attestation adds ${ms(median(attested) - median(plain))} ms to a key generation on loopback (median difference)`
);
