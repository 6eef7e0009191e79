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
 * - server memory and stored bytes per active session (500 sessions opened and left waiting);
 * - server memory per idle session with its WebSocket open (BENCH_IDLE_SOCKETS, default 10,000);
 * - then, on a server of its own with the production limits, the hostile clients of `hostile.ts`
 *   (BENCH_ONLY=hostile runs them alone, BENCH_HOSTILE=0 skips them).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocketLike } from '@tessera/client';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import { simulate } from '@tessera/core/testing';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';
import { devToken } from '@tessera/server';
import {
  addToBenchJson,
  f,
  pct,
  procStats,
  sorted,
  startServer,
  stopServer,
  TICKS_PER_SECOND,
} from './common.ts';
import { hostileBench } from './hostile.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'server' && only !== 'hostile') process.exit(0);
const hostile = async () => {
  if (process.env.BENCH_HOSTILE !== '0') addToBenchJson('hostile', await hostileBench());
};
if (only === 'hostile') {
  await hostile();
  process.exit(0);
}

// The clients of this process do their half of each ECDSA key generation on the arithmetic the
// server uses (libsecp256k1 when it was built): with 32 clients on noble, this process's event
// loop falls far enough behind that requests miss the server's 30 s request timeout.
const secp256k1 = installSecp256k1Backend();
console.log(`secp256k1 arithmetic of the clients: ${secp256k1.backend}`);

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 10);
const ECDSA_KEYS = Number(process.env.BENCH_SERVER_ECDSA_KEYS ?? 32);
const DIGEST = 'ab'.repeat(32);
const MESSAGE = Buffer.from('tessera server bench').toString('hex');

/**
 * Two-sample Kolmogorov–Smirnov test: the statistic D and its asymptotic p-value (Stephens'
 * small-sample correction of the Kolmogorov distribution).
 */
function ksTest(a: number[], b: number[]): { d: number; p: number } {
  const x = sorted(a);
  const y = sorted(b);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i] as number, y[j] as number);
    while (i < x.length && (x[i] as number) <= v) i++;
    while (j < y.length && (y[j] as number) <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  const ne = Math.sqrt((x.length * y.length) / (x.length + y.length));
  const lambda = (ne + 0.12 + 0.11 / ne) * d;
  // Below 0.3 the alternating series does not converge in 100 terms; Q_KS(0.3) > 1 − 10⁻⁸.
  if (lambda < 0.3) return { d, p: 1 };
  let p = 0;
  for (let k = 1; k <= 100; k++) p += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lambda * lambda);
  return { d, p: Math.min(1, Math.max(0, p)) };
}

/**
 * The timing oracle of docs/security.md ("Not covered by a test"): latency of requests about a
 * missing key and about another subject's key (both 404), of requests with a forged token about an existing and a missing key (both
 * 401), and of a step to a missing session and to another subject's session (both 404, before
 * any body is read), BENCH_ORACLE_SAMPLES each (default 10,000), sent one at a time in a
 * shuffled order. Each pair must answer with the same status and indistinguishable latencies
 * (KS p > 0.01).
 */
async function timingOracle(url: string, data: string, othersKey: string): Promise<void> {
  const N = Number(process.env.BENCH_ORACLE_SAMPLES ?? 10_000);
  if (N === 0) return;
  const token = await devToken(data, 'oracle');
  // Another subject's session, kept open (a key generation waiting for its first step).
  const owner = await devToken(data, 'oracle-owner');
  const othersSession = (
    (await (
      await fetch(`${url}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          scheme: 'ed25519',
          nonce: randomBytes(16).toString('hex'),
          timestamp: Date.now(),
        }),
      })
    ).json()) as { sessionId: string }
  ).sessionId;
  const missingSession = randomBytes(16).toString('hex');
  const step = (sid: string) =>
    fetch(`${url}/v1/sessions/${sid}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: ['AA=='] }),
    });
  const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  // One fixed id each, so that the two cases differ in nothing but whether the key exists.
  const missingKey = randomBytes(32).toString('hex');
  let n = 0;
  const sign = (keyId: string, tok: string) =>
    fetch(`${url}/v1/keys/${keyId}/sign`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        payload: { kind: 'digest', digest: DIGEST },
        nonce: `0e${(n++).toString(16).padStart(30, '0')}`,
        timestamp: Date.now(),
      }),
    });
  const get = (keyId: string, tok: string) =>
    fetch(`${url}/v1/keys/${keyId}`, { headers: { authorization: `Bearer ${tok}` } });
  const GET = 'GET /v1/keys/:id';
  const SIGN = 'POST /v1/keys/:id/sign';
  const STEP = 'POST /v1/sessions/:sid/messages';
  const cases = (
    [
      [GET, 'missing key', 404, () => get(missingKey, token)],
      [GET, "another subject's key", 404, () => get(othersKey, token)],
      [GET, 'forged token, existing key', 401, () => get(othersKey, forged)],
      [GET, 'forged token, missing key', 401, () => get(missingKey, forged)],
      [SIGN, 'missing key', 404, () => sign(missingKey, token)],
      [SIGN, "another subject's key", 404, () => sign(othersKey, token)],
      [STEP, 'missing session', 404, () => step(missingSession)],
      [STEP, "another subject's session", 404, () => step(othersSession)],
    ] as const
  ).map(([route, what, status, send]) => ({ route, what, status, send }));
  const order = cases.flatMap((_, k) => Array.from({ length: N }, () => k));
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32LE() % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  for (let w = 0; w < 200; w++) await (cases[w % cases.length] as (typeof cases)[0]).send();
  const times: number[][] = cases.map(() => []);
  const statuses = cases.map(() => new Set<number>());
  for (const k of order) {
    const c = cases[k] as (typeof cases)[0];
    const t0 = performance.now();
    const r = await c.send();
    await r.arrayBuffer();
    (times[k] as number[]).push(performance.now() - t0);
    statuses[k]?.add(r.status);
  }
  console.log(
    `\nTiming oracle (missing key against another subject's): ${N} requests per case, one at a time, shuffled; pairs compared with a two-sample KS test (target p > 0.01)\n`
  );
  console.log(
    '| route | case | status | p50 ms | p90 ms | KS D | KS p |\n|---|---|---|---|---|---|---|'
  );
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k] as (typeof cases)[0];
    const t = times[k] as number[];
    const pair = k % 2 === 1 ? ksTest(times[k - 1] as number[], t) : null;
    const status = [...(statuses[k] as Set<number>)].join(',');
    console.log(
      `| ${c.route} | ${c.what} | ${status}${status === String(c.status) ? '' : ` ✘ expected ${c.status}`} | ${f(pct(t, 50), 3)} | ${f(pct(t, 90), 3)} | ${pair ? f(pair.d, 4) : ''} | ${pair ? `${f(pair.p, 3)} ${pair.p > 0.01 ? '✔' : '✘'}` : ''} |`
    );
  }
}

/**
 * Memory per idle session: IDLE_SOCKETS sessions (default 10,000, the load target), each
 * with its WebSocket open and silent. Prints the server's RSS per session beside the target
 * budget of about 1 KB of protocol state. An idle socket closes after the 5-minute session idle
 * time (resume.test.ts checks the expiry itself).
 */
async function idleWebSockets(url: string, data: string, pid: number): Promise<void> {
  const N = Number(process.env.BENCH_IDLE_SOCKETS ?? 10_000);
  if (N === 0) return;
  const PER_SUBJECT = 5_000; // under the dev limit of 10,000 key generations per subject and hour
  const tokens: string[] = [];
  for (let i = 0; i * PER_SUBJECT < N; i++) tokens.push(await devToken(data, `idle-ws-${i}`));
  const post = async (path: string, token: string, body: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (r.status !== 200 && r.status !== 201)
      throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Record<string, unknown>;
  };
  const sockets: WebSocketLike[] = [];
  let closedEarly = 0;
  const before = procStats(pid).rssKiB;
  const t0 = performance.now();
  let next = 0;
  const open = async () => {
    for (let i = next++; i < N; i = next++) {
      const token = tokens[Math.floor(i / PER_SUBJECT)] as string;
      const { sessionId } = await post('/v1/keys', token, {
        scheme: 'ed25519',
        nonce: `1d${i.toString(16).padStart(30, '0')}`,
        timestamp: Date.now(),
      });
      const { ticket } = await post(`/v1/sessions/${sessionId}/ticket`, token, {});
      const ws = nodeWebSocket(
        `${url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/ws?ticket=${ticket}`
      );
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = (e) => reject(new Error(`socket ${i}: ${String(e)}`));
      });
      ws.onclose = () => closedEarly++;
      sockets.push(ws);
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, open));
    const opening = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2_000));
    const after = procStats(pid).rssKiB;
    console.log(
      `${N} idle sessions, each with its WebSocket open: server RSS +${f((after - before) / N, 2)} KiB per session (target: about 1 KB of protocol state per session; the state itself is in the store); ${f(N / opening, 0)} opened/s; ${sockets.length - closedEarly} of ${N} still open after 2 s`
    );
  } finally {
    for (const ws of sockets) ws.close();
  }
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
  const keygens0 = performance.now();
  const ecdsaClients = await keysFor('ecdsa', ECDSA_KEYS);
  const keygensS = (performance.now() - keygens0) / 1000;
  const edClients = await keysFor('ed25519', 32);
  console.log(
    `\n${ECDSA_KEYS} ECDSA key generations at once (the keys of the throughput clients): ${f(keygensS)} s`
  );
  // Throughput: each client signs in a loop with its own key for SECONDS.
  console.log(
    `\nThroughput: each client signs back to back for ${SECONDS} s (server CPU in % of one core)\n`
  );
  console.log(
    '| scheme | clients | signatures | errors | sig/s | p50 ms | p99 ms | server CPU | server RSS MiB |\n|---|---|---|---|---|---|---|---|---|'
  );
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

  await timingOracle(url, data, edKey.keyId);

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
  await idleWebSockets(url, data, pid);
} finally {
  await stopServer(child);
  rmSync(data, { recursive: true, force: true });
}
await hostile();
