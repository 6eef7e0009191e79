/**
 * `npm run bench`, hostile section (BENCH_ONLY=hostile alone; it follows the rest of the server
 * bench otherwise; BENCH_HOSTILE=0 skips it): the resource attacks of docs/security.md (A-71 to
 * A-74), sent to a server process of its own that runs with the production limits, over
 * loopback. For each case: what came back, how long the attacker waited,
 * the worst latency of `GET /v1/health` polled every 20 ms from another thread (the stall the
 * attack caused before the fixes), the server process's CPU time and RSS, and the figure measured
 * before the fixes (`probe`) beside them.
 *
 * The per-IP limits and the connection cap count per client address, and all of 127.0.0.0/8
 * reaches a server on 127.0.0.1: the health poller, each raw attacker and the SDK clients use
 * addresses of their own, so that no case spends another's budget.
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { LIMITS } from '@tessera/api';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { devToken, loadConfig } from '@tessera/server';
import { nestedChain, slowTypedData } from '../../api/test/fixtures/typed-data.ts';
import { f, pct, procStats, startServer, stopServer, TICKS_PER_SECOND } from './common.ts';

const num = (name: string, byDefault: number) => Number(process.env[name] ?? byDefault);
const SLOW_BODY_CONNECTIONS = num('BENCH_HOSTILE_CONNECTIONS', 50);
const BIG_STEPS = num('BENCH_HOSTILE_BIG_STEPS', 20);
const IDLE = num('BENCH_HOSTILE_IDLE', 300);
const SLOW_HEADERS = num('BENCH_HOSTILE_SLOW_HEADERS', 100);
const KEYGENS = num('BENCH_HOSTILE_KEYGENS', 3);
const SIGNS = num('BENCH_HOSTILE_SIGNS', 5);
/** How long the payloads at the hashing budget are sent back to back. */
const BUDGET_SECONDS = num('BENCH_HOSTILE_BUDGET_SECONDS', 10);
const DIGEST = 'cd'.repeat(32);
/** The slow bodies' Content-Length: as first measured, just under the old 24 MiB step limit. */
const SLOW_BODY_LENGTH = 25_165_808;
const repoRoot = join(import.meta.dirname, '..', '..', '..');

/** One address per role (see the module comment); the poller's are 127.0.1.x. */
const ADDR = { bigSteps: '127.0.2.2', h2: '127.0.2.3', idle: '127.0.2.4', slow: '127.0.2.5' };

interface Health {
  polls: number;
  worstMs: number;
  p50Ms: number;
  /** Polls answered otherwise than 200 (0: no answer). */
  other: Record<string, number>;
}

interface Case {
  id: string;
  sent: string;
  answer: string;
  /** The attacker's wait per request (ms). */
  attackerMs: number[];
  health: Health;
  /** Server process CPU (all its threads) during the case, ms. */
  serverCpuMs: number;
  rssMiB: { before: number; peak: number; after: number };
  probe: string;
}

/**
 * Polls `GET /v1/health` every 20 ms (start to start, one at a time, one kept-alive connection)
 * on a thread of its own, so that the bench's own work (an SDK refresh) cannot delay a poll.
 * A fresh source address every 500 polls keeps it under the per-IP limit of 600 a minute.
 */
const POLLER = `
const { parentPort, workerData: { port } } = require('node:worker_threads');
const http = require('node:http');
let running = false;
let address = 0;
const poll = (agent, localAddress) => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port, path: '/v1/health', agent, localAddress }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('error', () => resolve(0));
});
parentPort.on('message', async (m) => {
  if (m === 'stop') return void (running = false);
  running = true;
  parentPort.postMessage('started');
  const ms = [];
  const other = {};
  let agent;
  while (running) {
    if (ms.length % 500 === 0) {
      agent?.destroy();
      agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      address = (address % 250) + 1;
    }
    const t0 = performance.now();
    const status = await poll(agent, '127.0.1.' + address);
    ms.push(performance.now() - t0);
    if (status !== 200) other[status] = (other[status] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 20 - performance.now())));
  }
  agent.destroy();
  parentPort.postMessage({ ms, other });
});
`;

class HealthPoller {
  readonly #worker: Worker;
  constructor(port: number) {
    this.#worker = new Worker(POLLER, { eval: true, workerData: { port } });
  }
  /** Runs `attack` while polling; the polls go on 100 ms past its end, to catch a late stall. */
  async during<T>(attack: () => Promise<T>): Promise<[T, Health]> {
    this.#worker.postMessage('start');
    await once(this.#worker, 'message');
    let result: T;
    try {
      result = await attack();
      await sleep(100);
    } finally {
      this.#worker.postMessage('stop');
    }
    const [{ ms, other }] = (await once(this.#worker, 'message')) as [
      { ms: number[]; other: Record<string, number> },
    ];
    return [result, { polls: ms.length, worstMs: Math.max(...ms), p50Ms: pct(ms, 50), other }];
  }
  close = () => this.#worker.terminate();
}

/** A raw HTTP/1.1 connection: writes what it is given, and reads one answer if one comes. */
class RawConn {
  readonly socket: Socket;
  readonly opened = performance.now();
  readonly connected: Promise<void>;
  readonly closed: Promise<void>;
  sentAt = Number.NaN;
  answer: { status: number; code: string; at: number } | null = null;
  closedAt: number | null = null;
  closedByUs = false;
  /** The socket's error code (a reset shows here, then as the close). */
  error = '';
  written = 0;
  #in = Buffer.alloc(0);

  constructor(port: number, localAddress: string) {
    this.socket = connect({ host: '127.0.0.1', port, localAddress });
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error ||= e.code ?? e.message;
    });
    this.connected = once(this.socket, 'connect').then(
      () => {},
      () => {}
    );
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.closedAt = performance.now();
        resolve();
      })
    );
    this.socket.on('data', (d: Buffer) => this.#read(d));
  }

  #read(d: Buffer): void {
    if (this.answer) return;
    this.#in = Buffer.concat([this.#in, d]);
    const end = this.#in.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#in.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const body = this.#in.subarray(end + 4);
    if (body.length < length) return;
    let code = '';
    try {
      code = JSON.parse(body.subarray(0, length).toString()).error?.code ?? '';
    } catch {}
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    this.answer = { status, code, at: performance.now() };
  }

  get open(): boolean {
    return this.closedAt === null;
  }

  /** Writes `chunk`, waiting while the socket's buffer is full; false once answered or closed. */
  async write(chunk: Buffer | string): Promise<boolean> {
    if (!this.open || this.answer) return false;
    if (Number.isNaN(this.sentAt)) this.sentAt = performance.now();
    this.written += chunk.length;
    if (!this.socket.write(chunk))
      await Promise.race([once(this.socket, 'drain').catch(() => {}), this.closed]);
    return this.open && !this.answer;
  }

  close(): void {
    if (!this.open) return;
    this.closedByUs = true;
    this.socket.destroy();
  }

  /** `413 PAYLOAD_TOO_LARGE`, `closed unanswered`… */
  get outcome(): string {
    if (this.answer) return `${this.answer.status} ${this.answer.code}`.trim();
    if (this.open || this.closedByUs) return 'no answer';
    return `closed unanswered${this.error ? ` (${this.error})` : ''}`;
  }

  /** From the first byte sent (or the connection, if none was) to the answer or the close. */
  get waitedMs(): number {
    const end = this.answer?.at ?? this.closedAt ?? Number.NaN;
    return end - (Number.isNaN(this.sentAt) ? this.opened : this.sentAt);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (kib: number) => Math.round(kib / 1024);
const tally = (xs: string[]) => {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
};
const tallyText = (xs: string[]) =>
  Object.entries(tally(xs))
    .map(([k, n]) => `${n}× ${k}`)
    .join(', ');
const stepHead = (sid: string, token: string, length: number) =>
  `POST /v1/sessions/${sid}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${length}\r\n\r\n`;

/** Waits until every connection is closed, or until `deadline` (performance.now()). */
async function settle(conns: RawConn[], deadline: number): Promise<void> {
  await Promise.race([
    Promise.all(conns.map((c) => c.closed)),
    sleep(deadline - performance.now()),
  ]);
}

/** Milliseconds from each connection's opening to its close by the server (not by us). */
const closeTimes = (conns: RawConn[]) =>
  conns.flatMap((c) => (c.closedAt !== null && !c.closedByUs ? [c.closedAt - c.opened] : []));

/** The server closed it before anything was read or answered: the per-address connection cap. */
const refusedByCap = (c: RawConn) =>
  !c.answer && !c.closedByUs && c.closedAt !== null && c.closedAt - c.opened < 1_000;

/** Counters of the server's /metrics (it needs its token outside dev mode). */
async function counters(url: string, token: string): Promise<Map<string, number>> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(tessera_(?:rate_limited|http_errors)_total\{[^}]*\}) (\S+)$/gm))
    out.set(m[1] as string, Number(m[2]));
  return out;
}
/** What the counters grew by, as `20× NOT_FOUND, 200× rate limited (connections)`. */
const grown = (a: Map<string, number>, b: Map<string, number>) =>
  [...b]
    .filter(([k, v]) => v !== (a.get(k) ?? 0))
    .map(([k, v]) => {
      const [, metric, label] = /^tessera_(\w+)_total\{\w+="([^"]*)"\}$/.exec(k) ?? [];
      const what = metric === 'rate_limited' ? `rate limited (${label})` : label;
      return `${v - (a.get(k) ?? 0)}× ${what}`;
    })
    .join(', ');

/** Another tenant's key generations, in a process of its own as in the first measurement. */
const TENANT = `
const { MemoryShareStore, TesseraClient } = await import('@tessera/client');
const c = new TesseraClient({ server: process.env.URL, token: process.env.TOKEN, store: new MemoryShareStore() });
process.stdout.write('ready\\n');
const ms = await Promise.all(Array.from({ length: Number(process.env.N) }, async () => {
  const t0 = performance.now();
  await c.createKey({ scheme: 'ecdsa' });
  return performance.now() - t0;
}));
process.stdout.write(JSON.stringify(ms) + '\\n');
`;

export async function hostileBench(): Promise<Record<string, unknown>> {
  const started = performance.now();
  const loadBefore = loadavg();
  const data = mkdtempSync(join(tmpdir(), 'tessera-hostile-'));
  const cleanup: (() => unknown)[] = [];
  try {
    // Dev mode (the fixture's) brings the dev JWT key, but raises the limits: set every one back
    // to its production default, resolved as a production server resolves it.
    const production = loadConfig({ data, auth: { jwksFile: join(data, 'none.json') } }, {});
    const l = production.limits;
    const requestTimeoutS = num('BENCH_HOSTILE_REQUEST_TIMEOUT', l.requestTimeoutMs / 1000);
    const limits = {
      requestsPerMinutePerIp: l.requestsPerMinutePerIp,
      keygensPerHourPerSubject: l.keygensPerHourPerSubject,
      signsPerHourPerSubject: l.signsPerHourPerSubject,
      payloadHashMs: l.payloadHashMs,
      wsMessagesPerMinute: l.wsMessagesPerMinute,
      requestTimeoutSeconds: requestTimeoutS,
      headersTimeoutSeconds: Math.min(l.headersTimeoutMs / 1000, requestTimeoutS),
      keepAliveSeconds: l.keepAliveMs / 1000,
      idleTimeoutSeconds: l.idleTimeoutMs / 1000,
      connectionsPerIp: l.connectionsPerIp,
      stepsInFlightPerSubject: l.stepsInFlightPerSubject,
      stepsInFlightPerIp: l.stepsInFlightPerIp,
    };
    const metricsToken = randomBytes(16).toString('hex');
    const configFile = join(data, 'hostile.json');
    writeFileSync(configFile, JSON.stringify({ limits, metrics: { token: metricsToken } }));
    // The fixture's way to the worker count: WORKERS, else the default for this machine; and
    // the workers of their own that key-generation and refresh steps get.
    const resolved = loadConfig({ data, dev: true, config: configFile });
    const workers = process.env.WORKERS ? Number(process.env.WORKERS) : resolved.workers;
    const computeWorkers = `${workers} signing + ${resolved.bulkWorkers} key-generation worker(s)`;

    const { child, url } = await startServer(data, { CONFIG: configFile });
    cleanup.push(() => stopServer(child));
    const pid = child.pid as number;
    const port = Number(new URL(url).port);
    const poller = new HealthPoller(port);
    cleanup.push(poller.close);
    const conns: RawConn[] = [];
    cleanup.push(() => {
      for (const c of conns) c.close();
    });
    const raw = (localAddress: string) => {
      const c = new RawConn(port, localAddress);
      conns.push(c);
      return c;
    };
    const rssMiB = () => mib(procStats(pid).rssKiB);
    const client = async (sub: string) => {
      const token = await devToken(data, sub);
      return { token, c: new TesseraClient({ server: url, token, store: new MemoryShareStore() }) };
    };
    const post = (path: string, token: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const fresh = () => ({ nonce: randomBytes(16).toString('hex'), timestamp: Date.now() });
    const metrics = () => counters(url, metricsToken);
    /** Runs `attack` under the health poller, with the server's CPU time and RSS. */
    const measure = async <T>(attack: () => Promise<T>) => {
      const rss = { before: rssMiB(), peak: 0, after: 0 };
      const sampler = setInterval(() => (rss.peak = Math.max(rss.peak, rssMiB())), 50);
      const t0 = procStats(pid).ticks;
      try {
        const [result, health] = await poller.during(attack);
        const serverCpuMs = ((procStats(pid).ticks - t0) / TICKS_PER_SECOND) * 1000;
        rss.after = rssMiB();
        rss.peak = Math.max(rss.peak, rss.before, rss.after);
        return { result, health, serverCpuMs, rssMiB: rss };
      } finally {
        clearInterval(sampler);
      }
    };

    console.log(
      `\nHostile clients (docs/security.md A-71 to A-74) against a server with the production limits (${JSON.stringify(limits)}); ${computeWorkers}; load average ${loadBefore.map((x) => f(x, 2)).join(' ')}\n`
    );
    const [h1, m1, l2b, victim] = [
      await client('h1'),
      await client('m1'),
      await client('l2-b'),
      await client('budget-victim'),
    ];
    const ecdsa = { scheme: 'ecdsa' } as const;
    const [h1Key, m1Key, l2Key, victimKey] = await Promise.all([
      h1.c.createKey(ecdsa),
      m1.c.createKey(ecdsa),
      l2b.c.createKey(ecdsa),
      victim.c.createKey(ecdsa),
    ]);
    const cases: Case[] = [];

    {
      const { result: _, ...m } = await measure(() => sleep(2_000));
      cases.push({
        id: 'baseline',
        sent: 'nothing for 2 s',
        answer: '',
        attackerMs: [],
        probe: '',
        ...m,
      });
    }

    // A-71: the oversized typed data, and the slowest typed data the limits let through.
    for (const [id, typedData, sent, probe] of [
      [
        'A-71',
        nestedChain(1000, 30),
        '1,000 nested struct types, 30 values 1,000 deep',
        '201 after 32–41 s; the whole server stalled as long',
      ],
      [
        'A-71, within the limits',
        slowTypedData(),
        'the slowest typed data inside the static limits (api fixture slowTypedData)',
        '',
      ],
    ] as const) {
      const body = JSON.stringify({
        payload: { kind: 'eip712', typedData },
        epoch: h1Key.epoch,
        ...fresh(),
      });
      const { result, ...m } = await measure(async () => {
        const t0 = performance.now();
        const r = await post(`/v1/keys/${h1Key.keyId}/sign`, h1.token, body);
        const reply = (await r.json()) as {
          sessionId?: string;
          error?: { code: string; details?: { limit?: string } };
        };
        return { ms: performance.now() - t0, status: r.status, error: reply.error, ...reply };
      });
      // A signing that started holds the key: end it, so the next case finds the key free.
      if (result.sessionId)
        await post(`/v1/sessions/${result.sessionId}/abort`, h1.token, { code: 'BENCH' });
      const limit = result.error?.details?.limit;
      cases.push({
        id,
        sent: `a sign request, ${f(body.length / 1024, 0)} KiB: ${sent}`,
        answer: `${result.status}${result.error ? ` ${result.error.code}` : ''}${limit ? ` (limit: ${limit})` : ''}`,
        attackerMs: [result.ms],
        probe,
        ...m,
      });
    }

    // Payloads at the hashing budget, back to back: each one over it terminates its worker. Another
    // tenant's signatures meanwhile (before the fix they waited seconds for the replacement).
    {
      // Both tenants come from this one address, so the per-address request limit can refuse
      // either: a refusal is counted (and waited out), not fatal to the bench.
      const refusals = new Map<string, number>();
      const count = (code: string) => refusals.set(code, (refusals.get(code) ?? 0) + 1);
      const signOnce = async (): Promise<number | null> => {
        const t0 = performance.now();
        try {
          await victim.c.sign(victimKey.keyId, { digest: DIGEST });
          return performance.now() - t0;
        } catch (e) {
          count(`victim ${(e as { code?: string }).code ?? 'error'}`);
          await sleep(1_000);
          return null;
        }
      };
      const { result, ...m } = await measure(async () => {
        const until = performance.now() + BUDGET_SECONDS * 1000;
        const answers = new Map<string, number>();
        const attacker = (async () => {
          while (performance.now() < until) {
            const body = { payload: { kind: 'eip712', typedData: slowTypedData() }, ...fresh() };
            const r = await post(`/v1/keys/${h1Key.keyId}/sign`, h1.token, body).catch(() => null);
            if (!r) {
              count('attacker: connection failed');
              await sleep(1_000);
              continue;
            }
            if (r.status === 429) await sleep(1_000);
            const reply = (await r.json()) as {
              sessionId?: string;
              error?: { code: string; details?: { limit?: string } };
            };
            const limit = reply.error?.details?.limit;
            const answer = `${r.status}${reply.error ? ` ${reply.error.code}` : ''}${limit ? ` (${limit})` : ''}`;
            answers.set(answer, (answers.get(answer) ?? 0) + 1);
            // A payload that made it frees the key for the next one.
            if (reply.sessionId)
              await post(`/v1/sessions/${reply.sessionId}/abort`, h1.token, { code: 'BENCH' });
          }
        })();
        const victimMs: number[] = [];
        while (performance.now() < until) {
          const ms = await signOnce();
          if (ms !== null) victimMs.push(ms);
        }
        await attacker;
        return { answers, victimMs };
      });
      cases.push({
        id: 'A-71, at the budget',
        sent: `sign requests with the slowest typed data inside the static limits, back to back for ${BUDGET_SECONDS} s; another tenant signs meanwhile`,
        answer: `${[...result.answers].map(([a, n]) => `${n}× ${a}`).join(', ')}; the other tenant's ${result.victimMs.length} signatures: p50 ${f(pct(result.victimMs, 50), 0)} ms, max ${f(Math.max(0, ...result.victimMs), 0)} ms${refusals.size ? `; refused: ${[...refusals].map(([a, n]) => `${n}× ${a}`).join(', ')}` : ''}`,
        attackerMs: [],
        probe: '',
        ...m,
      });
      // The case spends this address's request budget: let it refill before the next case.
      await sleep(61_000);
    }

    // A-74: a refresh's reshare arithmetic ran on the event loop.
    {
      const { result, ...m } = await measure(async () => {
        const t0 = performance.now();
        await m1.c.refresh(m1Key.keyId);
        return performance.now() - t0;
      });
      cases.push({
        id: 'A-74, refresh',
        sent: 'one ECDSA refresh through the SDK',
        answer: 'refreshed',
        attackerMs: [result],
        probe: 'worst health 2,343 ms',
        ...m,
      });
    }

    // A-72: maximal schema-valid step bodies to a session that does not exist, 4 at a time.
    {
      const envelope = randomBytes(3 * Math.floor(LIMITS.envelopeBytes / 3)).toString('base64');
      const body = Buffer.from(
        JSON.stringify({ messages: Array(LIMITS.envelopesPerStep).fill(envelope) })
      );
      const sid = randomBytes(16).toString('hex');
      const token = await devToken(data, 'm2');
      const sent: RawConn[] = [];
      const before = await metrics();
      let next = 0;
      const { result: _, ...m } = await measure(() =>
        Promise.all(
          Array.from({ length: 4 }, async () => {
            while (next++ < BIG_STEPS) {
              const conn = raw(ADDR.bigSteps);
              sent.push(conn);
              await conn.connected;
              let ok = await conn.write(stepHead(sid, token, body.length));
              for (let at = 0; ok && at < body.length; at += 1 << 20)
                ok = await conn.write(body.subarray(at, at + (1 << 20)));
              await Promise.race([conn.closed, sleep(10_000)]);
              conn.close();
            }
          })
        )
      );
      const written = sent.map((c) => c.written / 2 ** 20);
      cases.push({
        id: 'A-72, unknown session',
        sent: `${sent.length} step bodies of ${f(body.length / 2 ** 20)} MiB (16 envelopes of ${envelope.length} characters) to a missing session, 4 at a time`,
        answer: `${tallyText(sent.map((c) => c.outcome))}; server counted ${grown(before, await metrics())}; ${f(pct(written, 50))} MiB (max ${f(Math.max(...written))}) written before the close`,
        attackerMs: sent.map((c) => c.waitedMs),
        probe: '404 each after 245 ms of server time; health stalled up to 786 ms',
        ...m,
      });
    }

    // A-72: slow maximal step bodies to a session of the attacker's, held open.
    {
      const { token } = await client('h2');
      const r = await post('/v1/keys', token, { scheme: 'ecdsa', ...fresh() });
      const { sessionId } = (await r.json()) as { sessionId: string };
      const held: RawConn[] = [];
      const before = await metrics();
      const chunk = Buffer.alloc(64 * 1024, 'A');
      const deadline = performance.now() + (requestTimeoutS + 5) * 1000;
      const { result: _, ...m } = await measure(async () => {
        await Promise.all(
          Array.from({ length: SLOW_BODY_CONNECTIONS }, async () => {
            const conn = raw(ADDR.h2);
            held.push(conn);
            await conn.connected;
            // All of the body but its last byte, as first measured, for as long as it is read.
            let ok = await conn.write(
              `${stepHead(sessionId, token, SLOW_BODY_LENGTH)}{"messages":["`
            );
            for (let left = SLOW_BODY_LENGTH - 15; ok && left > 0; left -= chunk.length)
              ok = await conn.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
          })
        );
        await settle(held, deadline);
        for (const c of held) c.close();
      });
      const closes = closeTimes(held);
      const stillOpen = held.length - closes.length;
      cases.push({
        id: 'A-72, slow bodies',
        sent: `${SLOW_BODY_CONNECTIONS} connections: a step to its own session with Content-Length ${SLOW_BODY_LENGTH}, body bytes for as long as they are read, then stalled`,
        answer: `${tallyText(held.map((c) => c.outcome))}; server counted ${grown(before, await metrics())}; ${closes.length} closed by the server after ${f(pct(closes, 50), 0)} ms (max ${f(Math.max(...closes), 0)})${stillOpen ? `, ${stillOpen} still open after ${requestTimeoutS + 5} s` : ''}; ${f(held.reduce((s, c) => s + c.written, 0) / 2 ** 20)} MiB written in all`,
        attackerMs: held.map((c) => c.waitedMs),
        probe: '100 connections: never answered, RSS 683 → 2,613 MiB',
        ...m,
      });
    }

    // A-73: idle connections and slow headers, each group from one address.
    {
      const idle: RawConn[] = [];
      const slow: RawConn[] = [];
      const header = Buffer.from(`GET /v1/health HTTP/1.1\r\nX-Slow: ${'a'.repeat(1000)}`);
      let sentBytes = 1;
      const drip = setInterval(() => {
        for (const c of slow) void c.write(header.subarray(sentBytes, sentBytes + 1));
        sentBytes++;
      }, 2_000);
      cleanup.push(() => clearInterval(drip));
      const before = await metrics();
      const t0 = performance.now();
      const deadline = t0 + (requestTimeoutS + 5) * 1000;
      const { result: _, ...m } = await measure(async () => {
        for (let i = 0; i < IDLE; i++) idle.push(raw(ADDR.idle));
        for (let i = 0; i < SLOW_HEADERS; i++) {
          const c = raw(ADDR.slow);
          slow.push(c);
          void c.connected.then(() => c.write(header.subarray(0, 1)));
        }
        await settle([...idle, ...slow], deadline);
        clearInterval(drip);
      });
      const watchedS = (performance.now() - t0) / 1000;
      const group = (name: string, all: RawConn[]) => {
        const refused = all.filter(refusedByCap).length;
        const closed = all.filter((c) => !refusedByCap(c) && !c.open && !c.closedByUs);
        const secs = closeTimes(closed).map((ms) => ms / 1000);
        const [lo, hi] = [f(Math.min(...secs)), f(Math.max(...secs))];
        const open = all.filter((c) => c.open).length;
        const parts = [
          refused ? `${refused} refused at once` : '',
          closed.length
            ? `${tallyText(closed.map((c) => c.outcome))} after ${lo === hi ? lo : `${lo}–${hi}`} s`
            : '',
          open ? `${open} still open` : '',
        ];
        return `${name}: ${parts.filter(Boolean).join(', ')}`;
      };
      const summary = `${group('idle', idle)}; ${group('slow headers', slow)}`;
      for (const c of [...idle, ...slow]) c.close();
      cases.push({
        id: 'A-73',
        sent: `${IDLE} idle connections from one address, ${SLOW_HEADERS} slow-header ones (1 byte every 2 s) from another; watched ${f(watchedS, 0)} s`,
        answer: `${summary}; server counted ${grown(before, await metrics())}`,
        attackerMs: [],
        probe: '1,000 idle, 300 slow-header: all still open after 60–65 s',
        ...m,
      });
    }

    // A-74: one tenant's key generations against another tenant's signatures.
    {
      const sign = async () => {
        const t0 = performance.now();
        await l2b.c.sign(l2Key.keyId, { digest: DIGEST });
        return performance.now() - t0;
      };
      const alone: number[] = [];
      for (let i = 0; i < SIGNS; i++) alone.push(await sign());
      const tenant = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', TENANT],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            URL: url,
            TOKEN: await devToken(data, 'l2-a'),
            N: String(KEYGENS),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        }
      );
      cleanup.push(() => tenant.exitCode === null && tenant.kill());
      const lines = createInterface({ input: tenant.stdout })[Symbol.asyncIterator]();
      if ((await lines.next()).value !== 'ready')
        throw new Error('the key-generating tenant did not start');
      const keygens = lines.next().then((l) => JSON.parse(String(l.value)) as number[]);
      let done = false;
      void keygens.finally(() => (done = true));
      const { result: busy, ...m } = await measure(async () => {
        const out: number[] = [];
        // Signatures back to back for as long as the key generations run (at most 60: the
        // subject's 100 signatures an hour).
        while (!done && out.length < 60) out.push(await sign());
        return out;
      });
      const keygenMs = await keygens;
      cases.push({
        id: 'A-74, fairness',
        sent: `another tenant's ${KEYGENS} concurrent ECDSA key generations (a process of its own); signatures back to back meanwhile`,
        answer: `${busy.length} signatures, ${busy.filter((x) => x > 1000).length} over 1 s (alone: median ${f(pct(alone, 50), 0)} ms of ${SIGNS}); the key generations took ${keygenMs.map((x) => f(x / 1000)).join(', ')} s; ${computeWorkers}`,
        attackerMs: busy,
        probe: 'signatures 10,047 and 2,088 ms (alone 90–300 ms); 1 worker',
        ...m,
      });
    }

    const ms = (xs: number[]) =>
      xs.length === 0
        ? ''
        : xs.length === 1
          ? f(xs[0] as number, 0)
          : `p50 ${f(pct(xs, 50), 0)}, max ${f(Math.max(...xs.filter(Number.isFinite)), 0)}`;
    console.log(
      '| case | sent | answer | attacker waited ms | worst health ms (polls) | server CPU ms | server RSS MiB | before the fix (reference) |\n|---|---|---|---|---|---|---|---|'
    );
    for (const c of cases) {
      const other = Object.keys(c.health.other).length
        ? `; not 200: ${JSON.stringify(c.health.other)}`
        : '';
      const { before, peak, after } = c.rssMiB;
      console.log(
        `| ${c.id} | ${c.sent} | ${c.answer} | ${ms(c.attackerMs)} | ${f(c.health.worstMs, 0)} (${c.health.polls}${other}) | ${f(c.serverCpuMs, 0)} | ${before} → ${peak} → ${after} | ${c.probe} |`
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const loadAfter = loadavg();
    console.log(
      `\nAttacker waited: from its first byte to the answer or the close. "Closed unanswered": the server closed the connection while the attacker was still sending (the socket error in brackets) and no answer was read; the server's counters say what it answered. Server RSS: before → peak → after the case. Request timeout ${requestTimeoutS} s, headers timeout ${limits.headersTimeoutSeconds} s. Section took ${f(seconds, 0)} s; load average now ${loadAfter.map((x) => f(x, 2)).join(' ')}.`
    );
    return {
      limits,
      workers,
      bulkWorkers: resolved.bulkWorkers,
      seconds,
      loadBefore,
      loadAfter,
      cases,
    };
  } finally {
    for (const step of cleanup.reverse()) await step();
    rmSync(data, { recursive: true, force: true });
  }
}
