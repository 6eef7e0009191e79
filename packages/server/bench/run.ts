/**
 * `npm run bench` (server part, BENCH_ONLY=server): the co-signing server in its own process on
 * loopback, driven by client SDK instances in this process.
 *
 * - key generation latency (ECDSA, Ed25519);
 * - 2-of-2 ECDSA sign latency over HTTP start/step and over WebSocket, median and p99, beside the
 *   in-process `simulate.sign` median measured now (target: loopback p50 ≤ 1.5× in-process);
 * - throughput with 1, 8 and 32 concurrent clients for BENCH_SERVER_SECONDS (default 10) each,
 *   with errors, latency, and the server process's CPU (% of one core) and RSS (target: ≥ 30
 *   signatures/s at 32 clients, 0 errors). One signing session per key is allowed at a time, so
 *   each concurrent client has its own key; ECDSA keys cost a key generation each, so ECDSA runs
 *   with at most BENCH_SERVER_ECDSA_KEYS (default 32) clients;
 * - server memory and stored bytes per active session (500 sessions opened and left waiting).
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import { simulate } from '@tessera/core';
import { devToken } from '@tessera/server';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'server') process.exit(0);

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 10);
const ECDSA_KEYS = Number(process.env.BENCH_SERVER_ECDSA_KEYS ?? 32);
const fixture = join(import.meta.dirname, '..', 'test', 'fixtures', 'server-process.ts');
const DIGEST = 'ab'.repeat(32);
const MESSAGE = Buffer.from('tessera server bench').toString('hex');

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s.length
    ? (s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number)
    : Number.NaN;
};
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');

/** utime+stime (clock ticks) and RSS (KiB) of a process, from /proc. */
function procStats(pid: number): { ticks: number; rssKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { ticks, rssKiB: Number(rss?.[1] ?? 0) };
}
const TICKS_PER_SECOND = 100;

async function startServer(data: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, DATA: data, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
}

const data = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
const { child, url } = await startServer(data);
const pid = child.pid as number;
const client = async (sub: string, transport: 'http' | 'ws' = 'http') =>
  new TesseraClient({
    server: url,
    token: await devToken(data, sub),
    store: new MemoryShareStore(),
    transport,
    webSocket: nodeWebSocket,
  });

async function timeIt(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

try {
  console.log(
    `\nCo-signing server over loopback (server in its own process; ${RUNS} runs per latency case)\n`
  );
  // In-process reference: both parties in one process, no I/O.
  const local = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
  const inProcess = await timeIt(RUNS, () =>
    simulate.sign('ecdsa', local, new Uint8Array(32).fill(0xab))
  );

  const c = await client('bench');
  const keygenEcdsa = await timeIt(Math.max(1, Math.min(3, RUNS)), () =>
    c.createKey({ scheme: 'ecdsa' })
  );
  const keygenEd = await timeIt(RUNS, () => c.createKey({ scheme: 'ed25519' }));
  const ecdsaKey = await c.createKey({ scheme: 'ecdsa' });
  const httpSign = await timeIt(RUNS, () => c.sign(ecdsaKey.keyId, { digest: DIGEST }));
  const wsSign = await timeIt(RUNS, () =>
    c.sign(ecdsaKey.keyId, { digest: DIGEST }, { transport: 'ws' })
  );
  const edKey = await c.createKey({ scheme: 'ed25519' });
  const edSign = await timeIt(RUNS, () => c.sign(edKey.keyId, { message: MESSAGE }));
  const ref = pct(inProcess, 50);
  const rows: [string, number[], string][] = [
    ['in-process simulate.sign ecdsa 2-of-2 (reference)', inProcess, ''],
    [
      'sign ecdsa 2-of-2, HTTP start/step',
      httpSign,
      `${f(pct(httpSign, 50) / ref, 2)}× in-process (target ≤ 1.5×)`,
    ],
    [
      'sign ecdsa 2-of-2, WebSocket',
      wsSign,
      `${f(pct(wsSign, 50) / ref, 2)}× in-process (target ≤ 1.5×)`,
    ],
    ['sign ed25519 2-of-2, HTTP', edSign, ''],
    ['keygen ecdsa 2-of-2', keygenEcdsa, ''],
    ['keygen ed25519 2-of-2', keygenEd, ''],
  ];
  console.log('| case | runs | p50 ms | p99 ms | note |\n|---|---|---|---|---|');
  for (const [label, xs, note] of rows)
    console.log(`| ${label} | ${xs.length} | ${f(pct(xs, 50))} | ${f(pct(xs, 99))} | ${note} |`);

  // Throughput: each client signs in a loop with its own key for SECONDS.
  console.log(
    `\nThroughput: each client signs back to back for ${SECONDS} s (server CPU in % of one core)\n`
  );
  console.log(
    '| scheme | clients | signatures | errors | sig/s | p50 ms | p99 ms | server CPU | server RSS MiB |\n|---|---|---|---|---|---|---|---|---|'
  );
  const keysFor = async (scheme: 'ecdsa' | 'ed25519', n: number) => {
    const out: { c: TesseraClient; keyId: string }[] = [];
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const cl = await client(`tp-${scheme}-${i}`, i % 2 ? 'ws' : 'http');
        out.push({ c: cl, keyId: (await cl.createKey({ scheme })).keyId });
      })
    );
    return out;
  };
  const ecdsaClients = await keysFor('ecdsa', ECDSA_KEYS);
  const edClients = await keysFor('ed25519', 32);
  for (const [scheme, pool] of [
    ['ecdsa', ecdsaClients],
    ['ed25519', edClients],
  ] as const) {
    for (const n of [1, 8, 32]) {
      if (n > pool.length) {
        console.log(
          `| ${scheme} | ${n} | — | — | — | — | — | — | — (needs ${n} keys; BENCH_SERVER_ECDSA_KEYS=${pool.length}) |`
        );
        continue;
      }
      const lat: number[] = [];
      let errors = 0;
      const s0 = procStats(pid);
      const t0 = performance.now();
      const end = t0 + SECONDS * 1000;
      await Promise.all(
        pool.slice(0, n).map(async ({ c: cl, keyId }) => {
          while (performance.now() < end) {
            const a = performance.now();
            try {
              await cl.sign(keyId, scheme === 'ecdsa' ? { digest: DIGEST } : { message: MESSAGE });
              lat.push(performance.now() - a);
            } catch {
              errors++;
            }
          }
        })
      );
      const secs = (performance.now() - t0) / 1000;
      const s1 = procStats(pid);
      const cpu = ((s1.ticks - s0.ticks) / TICKS_PER_SECOND / secs) * 100;
      console.log(
        `| ${scheme} | ${n} | ${lat.length} | ${errors} | ${f(lat.length / secs)} | ${f(pct(lat, 50))} | ${f(pct(lat, 99))} | ${f(cpu, 0)}% | ${f(s1.rssKiB / 1024)} |`
      );
    }
  }

  // Memory and storage per active session: 500 key generations opened and left waiting.
  const before = procStats(pid).rssKiB;
  const token = await devToken(data, 'idle');
  const N = 500;
  for (let i = 0; i < N; i++) {
    const r = await fetch(`${url}/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        scheme: 'ecdsa',
        nonce: i.toString(16).padStart(32, '0'),
        timestamp: Date.now(),
      }),
    });
    if (r.status !== 201) throw new Error(`session ${i}: ${r.status}`);
  }
  const afterRss = procStats(pid).rssKiB;
  const dbBytes =
    statSync(join(data, 'tessera.db')).size +
    (statSync(join(data, 'tessera.db-wal'), { throwIfNoEntry: false })?.size ?? 0);
  console.log(
    `\n${N} idle ECDSA key-generation sessions: server RSS +${f((afterRss - before) / N, 2)} KiB per session (state lives in the store, sealed); store now ${f(dbBytes / 1024 / 1024)} MiB in all`
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(data, { recursive: true, force: true });
}
