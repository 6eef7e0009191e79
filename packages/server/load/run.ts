/**
 * `npm run load`: N concurrent clients doing full key generation + signing flows against two
 * server instances that share PostgreSQL and Redis, on loopback, for a bounded time. Requests
 * alternate between the instances (no session affinity). Prints completed signatures, errors,
 * latency percentiles, throughput, PostgreSQL connections and memory per instance.
 *
 *   npm run load -- --clients 32 --seconds 60 [--scheme ed25519|ecdsa|bip340] [--signs-per-key 1]
 *   npm run load -- --rate 2 --seconds 300     (soak: a steady number of flows per second)
 *
 * Needs PostgreSQL (TESSERA_LOAD_PG_URL, default postgres://postgres@127.0.0.1:5432/test) and
 * Redis (TESSERA_LOAD_REDIS_URL, default redis://127.0.0.1:6379). Uses a fresh schema, dropped at
 * the end. Not a test: it prints figures for a person to read.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryShareStore, type Scheme, TesseraClient } from '@tessera/client';
import { devToken } from '@tessera/server';
import pg from 'pg';
import { spawnServer, stopServer } from '../test/fixtures/spawn.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '60' },
    scheme: { type: 'string', default: 'ed25519' },
    'signs-per-key': { type: 'string', default: '1' },
    rate: { type: 'string' },
    instances: { type: 'string', default: '2' },
  },
});
const CLIENTS = Number(args.clients);
const SECONDS = Number(args.seconds);
const SCHEME = args.scheme as Scheme;
const SIGNS_PER_KEY = Number(args['signs-per-key']);
const RATE = args.rate ? Number(args.rate) : null;
const INSTANCES = Number(args.instances);
if (![CLIENTS, SECONDS, SIGNS_PER_KEY, INSTANCES].every((n) => Number.isInteger(n) && n > 0))
  throw new Error('--clients, --seconds, --signs-per-key and --instances take positive integers');
if (!['ed25519', 'ecdsa', 'bip340'].includes(SCHEME))
  throw new Error('--scheme: ed25519, ecdsa or bip340');

const PG_URL = process.env.TESSERA_LOAD_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TESSERA_LOAD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = `load_${randomBytes(4).toString('hex')}`;
const storeUrl = `${PG_URL}?schema=${schema}`;
const data = mkdtempSync(join(tmpdir(), 'tessera-load-'));

const rssMiB = (pid: number | undefined) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const children: ChildProcess[] = [];
const admin = new pg.Client({ connectionString: PG_URL });
try {
  await admin.connect();
  const first = await spawnServer(data, { store: storeUrl, redis: REDIS_URL });
  children.push(first.child);
  const rest = await Promise.all(
    Array.from({ length: INSTANCES - 1 }, () =>
      spawnServer(data, { store: storeUrl, redis: REDIS_URL })
    )
  );
  children.push(...rest.map((r) => r.child));
  const bases = [first.url, ...rest.map((r) => r.url)];
  let turn = 0;
  const balanced: typeof fetch = (input, init) => {
    const u = new URL(String(input));
    return fetch(`${bases[turn++ % bases.length]}${u.pathname}${u.search}`, init);
  };

  const signLatency: number[] = [];
  const keygenLatency: number[] = [];
  const errors = new Map<string, number>();
  let signatures = 0;
  let keygens = 0;
  const deadline = Date.now() + SECONDS * 1000;
  let pgMax = 0;
  const memory: { at: number; rss: number[] }[] = [];
  const sampler = setInterval(async () => {
    const r = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'tessera-server'"
    );
    pgMax = Math.max(pgMax, Number(r.rows[0]?.n ?? 0));
    memory.push({ at: Date.now(), rss: children.map((c) => rssMiB(c.pid)) });
  }, 5_000);

  async function flow(n: number): Promise<void> {
    const c = new TesseraClient({
      server: 'http://balancer.invalid',
      token: await devToken(data, `load-${n % 1000}`),
      store: new MemoryShareStore(),
      fetch: balanced,
    });
    try {
      let t = performance.now();
      const key = await c.createKey({ scheme: SCHEME });
      keygenLatency.push(performance.now() - t);
      keygens++;
      for (let i = 0; i < SIGNS_PER_KEY && Date.now() < deadline; i++) {
        const msg = randomBytes(32).toString('hex');
        t = performance.now();
        await c.sign(
          key.keyId,
          SCHEME === 'ecdsa' ? { message: msg, hash: 'sha256' } : { message: msg }
        );
        signLatency.push(performance.now() - t);
        signatures++;
      }
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as Error).name;
      errors.set(code, (errors.get(code) ?? 0) + 1);
    }
  }

  const started = performance.now();
  const startedAt = Date.now();
  let launched = 0;
  if (RATE === null) {
    // Closed loop: each client starts its next flow when the last one ends.
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (Date.now() < deadline) await flow(launched++);
      })
    );
  } else {
    // Open loop at a steady rate, at most CLIENTS flows in flight.
    const inFlight = new Set<Promise<void>>();
    while (Date.now() < deadline) {
      if (inFlight.size < CLIENTS) {
        const p = flow(launched++).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await new Promise((r) => setTimeout(r, 1000 / RATE));
    }
    await Promise.all(inFlight);
  }
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  memory.push({ at: Date.now(), rss: children.map((c) => rssMiB(c.pid)) });

  signLatency.sort((a, b) => a - b);
  keygenLatency.sort((a, b) => a - b);
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const mode =
    RATE === null
      ? `${CLIENTS} concurrent clients`
      : `${RATE} flows/s steady (≤ ${CLIENTS} in flight)`;
  console.log(
    `\nload: ${SCHEME} keygen + ${SIGNS_PER_KEY} sign per flow, ${mode}, ${INSTANCES} instances, ${elapsed.toFixed(0)} s`
  );
  console.log(`  completed signatures ${signatures}, key generations ${keygens}`);
  console.log(
    `  errors               ${errorCount}${errorCount ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ''}`
  );
  console.log(
    `  sign latency         p50 ${ms(percentile(signLatency, 50))}  p95 ${ms(percentile(signLatency, 95))}  p99 ${ms(percentile(signLatency, 99))}`
  );
  console.log(
    `  keygen latency       p50 ${ms(percentile(keygenLatency, 50))}  p95 ${ms(percentile(keygenLatency, 95))}  p99 ${ms(percentile(keygenLatency, 99))}`
  );
  console.log(
    `  throughput           ${(signatures / elapsed).toFixed(1)} signatures/s, ${(keygens / elapsed).toFixed(1)} keygens/s`
  );
  console.log(`  postgres connections max ${pgMax} (pool of 10 per instance)`);
  const firstSample = memory.find((m) => m.at - startedAt > 30_000) ?? memory[0];
  if (SECONDS >= 120)
    for (const m of memory.filter((_, i) => i % 12 === 0))
      console.log(
        `  RSS at ${((m.at - startedAt) / 60_000).toFixed(1).padStart(4)} min  ${m.rss.map((r) => `${r.toFixed(0)} MiB`).join(', ')}`
      );
  const last = memory[memory.length - 1];
  for (let i = 0; i < children.length; i++)
    console.log(
      `  instance ${i + 1} RSS      ${last?.rss[i]?.toFixed(0)} MiB at the end` +
        (firstSample && firstSample !== last
          ? ` (${firstSample.rss[i]?.toFixed(0)} MiB after warm-up: ${((last?.rss[i] ?? 0) - (firstSample.rss[i] ?? 0)).toFixed(0)} MiB change)`
          : '')
    );
  process.exitCode = errorCount === 0 ? 0 : 1;
} finally {
  await Promise.all(children.map(stopServer));
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  await admin.end();
  rmSync(data, { recursive: true, force: true });
}
