/**
 * `npm run bench`, gateway section (BENCH_ONLY=gateway): the client node over loopback, with both
 * nodes and the gateway as their own `tessera` processes (dev mode, SQLite), beside the same
 * protocols in one process (`simulate`, measured now):
 *
 * - `generate` latency for secp256k1 (a 3-party DKLs23 key generation) and ed25519, beside the
 *   in-process 2-of-3 key generation;
 * - `sign/mta` (secp256k1) and `sign` (ed25519) latency, beside in-process 2-party signing with
 *   2 shares of a 2-of-3 key; every gateway signature also costs an Argon2id of the password
 *   (the `secretStore` unwrap), measured alone too;
 * - `sign/mta` throughput with 8 concurrent callers (each with its own key: a key signs one
 *   session at a time) for BENCH_GATEWAY_SECONDS (default 10), with errors and p50/p90.
 *
 * Runs: BENCH_GATEWAY_ECDSA_KEYGENS (default 3), BENCH_RUNS (default 20) for the rest.
 * @module
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { argon2id } from '@noble/hashes/argon2.js';
import { simulate } from '@tessera/core/testing';
import { DEFAULT_KDF_PARAMS } from '../src/index.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'gateway') process.exit(0);

const BIN = fileURLToPath(new URL('../../cli/bin/tessera.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const ECDSA_KEYGENS = Number(process.env.BENCH_GATEWAY_ECDSA_KEYGENS ?? 3);
const SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10);
const CALLERS = 8;
const API_KEY = 'bench-api-key';
const PASSWORD = 'correct horse battery staple';
const DIGEST = 'ab'.repeat(32);
const MESSAGE = Buffer.from('tessera gateway bench').toString('hex');

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s.length
    ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number)
    : Number.NaN;
};
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '—');

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-gw-bench-'));
const children: ReturnType<typeof spawn>[] = [];
const serve = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> => {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`${args.join(' ')} exited (${c})`)));
  });
};
const tessera = async (args: string[]) =>
  JSON.parse((await promisify(execFile)(process.execPath, [BIN, ...args, '--json'])).stdout) as {
    jwks: string;
    fingerprint: string;
  };

try {
  const dg = join(dir, 'dg');
  const { jwks } = await tessera(['gateway', 'init', '--data', dg]);
  const node = (id: string) =>
    serve([
      'server',
      'start',
      '--node-id',
      id,
      '--dev',
      '--data',
      join(dir, id),
      '--port',
      '0',
      '--trust-jwks',
      jwks,
    ]);
  const [url1, url2] = await Promise.all([node('node1'), node('node2')]);
  const fp = async (id: string) =>
    (await tessera(['node', 'identity', '--data', join(dir, id)])).fingerprint;
  const gateway = await serve(['gateway', 'start', '--data', dg, '--port', '0'], {
    TESSERA_GATEWAY_NODE1_URL: url1,
    TESSERA_GATEWAY_NODE2_URL: url2,
    TESSERA_GATEWAY_NODE1_FINGERPRINT: await fp('node1'),
    TESSERA_GATEWAY_NODE2_FINGERPRINT: await fp('node2'),
    TESSERA_GATEWAY_API_KEYS: API_KEY,
  });
  const post = async (path: string, body: unknown): Promise<Record<string, string>> => {
    const res = await fetch(`${gateway}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, string>;
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  let user = 0;
  const generate = (curve: 'secp256k1' | 'ed25519') =>
    post('/v3/wallet/generate', { curve, password: PASSWORD, userId: `bench-${user++}` });
  const signBody = (w: Record<string, string>, curve: string) => ({
    keyId: w.keyId,
    encryptedShare: w.encryptedShare,
    secretStore: w.secretStore,
    password: PASSWORD,
    ...(curve === 'secp256k1' ? { digest: DIGEST } : { message: MESSAGE }),
  });

  // In process first: its seconds of CPU on this thread would stall the HTTP connections' events
  // (a kept-alive socket the gateway closed meanwhile would be reused).
  const msg = Buffer.from(DIGEST, 'hex');
  const sEcdsaDkg = await timed(ECDSA_KEYGENS, () =>
    simulate.keygen('ecdsa', { threshold: 2, parties: 3 })
  );
  const sEdDkg = await timed(RUNS, () => simulate.keygen('ed25519', { threshold: 2, parties: 3 }));
  const k23e = await simulate.keygen('ecdsa', { threshold: 2, parties: 3 });
  const k23d = await simulate.keygen('ed25519', { threshold: 2, parties: 3 });
  const sMta = await timed(RUNS, () => simulate.sign('ecdsa', k23e.slice(0, 2), msg));
  const sEd = await timed(RUNS, () => simulate.sign('ed25519', k23d.slice(0, 2), msg));

  const gEcdsa = await timed(ECDSA_KEYGENS, () => generate('secp256k1'));
  const gEd = await timed(RUNS, () => generate('ed25519'));
  const wEcdsa = await generate('secp256k1');
  const wEd = await generate('ed25519');
  const mta = await timed(RUNS, () => post('/v3/wallet/sign/mta', signBody(wEcdsa, 'secp256k1')));
  const ed = await timed(RUNS, () => post('/v3/wallet/sign', signBody(wEd, 'ed25519')));
  const rows: [string, number[], number[]][] = [
    ['generate secp256k1 (DKLs23 2-of-3 DKG)', gEcdsa, sEcdsaDkg],
    ['generate ed25519 (FROST 2-of-3 DKG)', gEd, sEdDkg],
    ['sign/mta secp256k1 (DKLs23, parties 1+2)', mta, sMta],
    ['sign ed25519 (FROST, parties 1+2)', ed, sEd],
  ];
  const salt = new Uint8Array(16);
  const kdf = await timed(Math.min(RUNS, 10), async () =>
    argon2id(PASSWORD, salt, { ...DEFAULT_KDF_PARAMS, dkLen: 32 })
  );

  console.log('\n## Gateway over loopback (two nodes and the gateway as processes, dev mode)\n');
  console.log(
    `  ${'case'.padEnd(44)} ${'gateway p50'.padStart(12)} ${'p90'.padStart(10)}   ${'in-process p50'.padStart(15)} ${'p90'.padStart(10)}`
  );
  for (const [name, g, s] of rows)
    console.log(
      `  ${name.padEnd(44)} ${ms(pct(g, 50)).padStart(12)} ${ms(pct(g, 90)).padStart(10)}   ${ms(pct(s, 50)).padStart(15)} ${ms(pct(s, 90)).padStart(10)}`
    );
  console.log(
    `  Argon2id of the password (m=${DEFAULT_KDF_PARAMS.m} KiB, t=${DEFAULT_KDF_PARAMS.t}), part of every signature: p50 ${ms(pct(kdf, 50))}`
  );

  // Throughput: 8 callers, each with its own key.
  const wallets = [];
  for (let i = 0; i < CALLERS; i++) wallets.push(await generate('secp256k1'));
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    wallets.map(async (w) => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await post('/v3/wallet/sign/mta', signBody(w, 'secp256k1'));
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    })
  );
  console.log(
    `\n  sign/mta with ${CALLERS} concurrent callers for ${SECONDS} s: ${(latencies.length / SECONDS).toFixed(1)} signatures/s, p50 ${ms(pct(latencies, 50))}, p90 ${ms(pct(latencies, 90))}, ${errors} errors`
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
