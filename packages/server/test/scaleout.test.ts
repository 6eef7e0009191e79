/**
 * Scale-out (docs/server.md, "Several instances"): server processes sharing one PostgreSQL and one Redis,
 * as behind a load balancer without session affinity. Every round goes to another instance; the
 * same round raced on two instances is answered once from the nonce state; an instance killed
 * mid-signature is replaced by another; PostgreSQL blocked for seconds gives 503s and a client
 * that resumes by itself; Redis lost keeps signing (or refuses, as configured) and shows in health.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { devToken } from '@tessera/server';
import { spawnServer, stopServer } from './fixtures/spawn.ts';
import { startTcpProxy, type TcpProxy } from './fixtures/tcp-proxy.ts';
import { call, nobleVerify, opensslVerifyEcdsa, opensslVerifyEd25519, toHex } from './helpers.ts';
import { freshSchema, missing, PG_URL, REDIS_URL } from './services.ts';

const message = new TextEncoder().encode('scale-out: pay 1 coin to bob');
const msgHex = toHex(message);
const STEP = /^\/v1\/sessions\/[0-9a-f]+\/messages$/;

interface Served {
  path: string;
  base: string;
  status: number;
}

/**
 * A client-side load balancer: each request goes to the next live instance. An instance that
 * refuses or drops a connection leaves the rotation (as a health-checked balancer would), and
 * the SDK's retry lands on the next one.
 */
function balancer(bases: string[]) {
  const live = [...bases];
  const served: Served[] = [];
  let next = 0;
  const f: typeof fetch = async (input, init) => {
    const u = new URL(String(input));
    const base = live[next++ % live.length] as string;
    try {
      const res = await fetch(`${base}${u.pathname}${u.search}`, init);
      served.push({ path: u.pathname, base, status: res.status });
      return res;
    } catch (e) {
      live.splice(live.indexOf(base), 1);
      throw e;
    }
  };
  return { fetch: f, served, live };
}

const skip = (await missing('postgres')) ?? (await missing('redis'));

describe('scale-out: instances sharing PostgreSQL and Redis', { skip: skip ?? false }, () => {
  const schema = freshSchema();
  const data = mkdtempSync(join(tmpdir(), 'tessera-scale-'));
  const children: ChildProcess[] = [];
  let urls: string[] = [];

  const spawn = async (o: Parameters<typeof spawnServer>[1] = {}) => {
    const s = await spawnServer(data, { store: schema.url, redis: REDIS_URL, ...o });
    children.push(s.child);
    return s;
  };
  const client = async (sub: string, f: typeof fetch) =>
    new TesseraClient({
      server: 'http://balancer.invalid',
      token: await devToken(data, sub),
      store: new MemoryShareStore(),
      fetch: f,
    });

  before(async () => {
    // The first instance creates the schema, the data key, the dev JWT key and the KEK file
    // that the others then share; the other two start together.
    const first = await spawn();
    const rest = await Promise.all([spawn(), spawn()]);
    urls = [first.url, ...rest.map((r) => r.url)];
  });
  after(async () => {
    await Promise.all(children.map(stopServer));
    await schema.drop();
    rmSync(data, { recursive: true, force: true });
  });

  test('every round of a key generation and a signature goes to another instance', async () => {
    const lb = balancer(urls);
    const c = await client('alice', lb.fetch);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const sig = await c.sign(key.keyId, { message: msgHex, hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der as string), 'OpenSSL verifies');
    assert.ok(nobleVerify.ecdsa(key.publicKey, sha256(message), sig.signature));

    const ed = await c.createKey({ scheme: 'ed25519' });
    const edSig = await c.sign(ed.keyId, { message: msgHex });
    assert.ok(opensslVerifyEd25519(ed.publicKey, message, edSig.signature));

    const steps = lb.served.filter((s) => STEP.test(s.path));
    assert.ok(steps.length >= 6, `${steps.length} steps`);
    for (let i = 1; i < lb.served.length; i++)
      assert.notEqual(lb.served[i]?.base, lb.served[i - 1]?.base, 'consecutive requests moved');
    assert.equal(new Set(steps.map((s) => s.base)).size >= 2, true, 'steps of one session moved');
    assert.equal(new Set(lb.served.map((s) => s.base)).size, 3, 'all three instances served');
    assert.ok(lb.served.every((s) => s.status < 300));
  });

  test('a WebSocket ticket issued by one instance opens the socket on another', async () => {
    const token = await devToken(data, 'bob');
    const lb = balancer(urls);
    const c = await client('bob', lb.fetch);
    const key = await c.createKey({ scheme: 'ed25519' });
    const start = await call(urls[0] as string, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token,
      body: {
        payload: { kind: 'message', message: msgHex },
        nonce: toHex(randomBytes(16)),
        timestamp: Date.now(),
      },
    });
    assert.equal(start.status, 201, start.text);
    const sid = start.json.sessionId as string;
    const t = await call(urls[1] as string, 'POST', `/v1/sessions/${sid}/ticket`, { token });
    assert.equal(t.status, 200, t.text);
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(
      `${(urls[2] as string).replace(/^http/, 'ws')}/v1/sessions/${sid}/ws?ticket=${t.json.ticket}`
    );
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // Abort the session through another instance: the socket's instance hears of it (Redis).
    const closed = new Promise<{ code: number; frame: string }>((resolve) => {
      let frame = '';
      ws.on('message', (d) => {
        frame = String(d);
      });
      ws.once('close', (code) => resolve({ code, frame }));
    });
    const bad = await call(urls[0] as string, 'POST', `/v1/sessions/${sid}/messages`, {
      token,
      body: { messages: [Buffer.from('not an envelope').toString('base64')] },
    });
    assert.equal(bad.json.error?.code, 'PROTOCOL_VIOLATION');
    const { frame } = await closed;
    assert.match(frame, /SESSION_CLOSED/);
    const again = new WebSocket(
      `${(urls[2] as string).replace(/^http/, 'ws')}/v1/sessions/${sid}/ws?ticket=${t.json.ticket}`
    );
    const code = await new Promise((resolve) =>
      again.once('unexpected-response', (_q, r) => resolve(r.statusCode))
    );
    assert.equal(code, 401, 'a ticket opens one socket, once');
  });

  for (const scheme of ['ed25519', 'ecdsa'] as const)
    test(`${scheme}: one round delivered to two instances at once is answered once`, async () => {
      const races: { a: number; b: number; same: boolean; codes: string[] }[] = [];
      const [one, two] = urls as [string, string];
      const racing: typeof fetch = async (input, init) => {
        const u = new URL(String(input));
        const path = `${u.pathname}${u.search}`;
        if (!STEP.test(u.pathname)) return fetch(`${one}${path}`, init);
        const [a, b] = await Promise.all([
          fetch(`${one}${path}`, init),
          fetch(`${two}${path}`, init),
        ]);
        const [ta, tb] = await Promise.all([a.text(), b.text()]);
        const code = (t: string) =>
          (JSON.parse(t) as { error?: { code: string } }).error?.code ?? 'ok';
        races.push({ a: a.status, b: b.status, same: ta === tb, codes: [code(ta), code(tb)] });
        const [res, text] = a.ok ? [a, ta] : [b, tb];
        return new Response(text, { status: res.status, headers: res.headers });
      };
      const c = await client(`racer-${scheme}`, racing);
      const key = await c.createKey({ scheme });
      for (let i = 0; i < 2; i++) {
        const sig = await c.sign(key.keyId, {
          message: msgHex,
          ...(scheme === 'ecdsa' ? { hash: 'sha256' as const } : {}),
        });
        if (scheme === 'ecdsa')
          assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der as string));
        else assert.ok(opensslVerifyEd25519(key.publicKey, message, sig.signature));
      }
      assert.ok(races.length >= 4);
      for (const r of races) {
        assert.ok(r.a === 200 || r.b === 200, `one of the two answered: ${JSON.stringify(r)}`);
        if (r.a === 200 && r.b === 200) assert.ok(r.same, 'both answers are the one cached reply');
        for (const [status, code] of [
          [r.a, r.codes[0]],
          [r.b, r.codes[1]],
        ] as const)
          if (status !== 200) assert.equal(code, 'SESSION_BUSY', 'the loser gets a clear conflict');
      }
    });

  test('kill -9 of an instance mid-signature: the client finishes on another', async () => {
    // This instance dies after computing an ECDSA signing round, before committing it.
    const victim = await spawn({ killAt: 'ecdsa.sign:computed:round' });
    const lb = balancer(urls);
    const c = await client('carol', lb.fetch);
    const key = await c.createKey({ scheme: 'ecdsa' });
    lb.live.unshift(victim.url);
    const sig = await c.sign(key.keyId, { message: msgHex, hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der as string));
    await new Promise((r) =>
      victim.child.exitCode !== null || victim.child.signalCode !== null
        ? r(null)
        : victim.child.once('exit', r)
    );
    assert.equal(victim.child.signalCode, 'SIGKILL', 'the victim was killed mid-session');
    assert.ok(!lb.live.includes(victim.url));
    const again = await c.sign(key.keyId, { message: msgHex, hash: 'sha256' });
    assert.ok(
      opensslVerifyEcdsa(key.publicKey, message, again.der as string),
      'the key still signs'
    );
  });

  test('PostgreSQL blocked for seconds: 503 with a retry hint, then the session completes', async () => {
    const pgUrl = new URL(PG_URL);
    const proxy: TcpProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port) });
    try {
      const viaProxy = new URL(schema.url);
      viaProxy.port = String(proxy.port);
      const inst = await spawn({ store: viaProxy.toString() });
      const token = await devToken(data, 'dave');
      const statuses: number[] = [];
      let steps = 0;
      let blocked: () => void = () => {};
      const blocking: typeof fetch = async (input, init) => {
        const u = new URL(String(input));
        const res = await fetch(`${inst.url}${u.pathname}${u.search}`, init);
        statuses.push(res.status);
        if (STEP.test(u.pathname) && res.ok && ++steps === 1) {
          proxy.block();
          blocked();
          setTimeout(() => proxy.unblock(), 4_000);
        }
        return res;
      };
      const c = await client('dave', blocking);
      const key = await c.createKey({ scheme: 'ed25519' });
      // The key generation's first step blocked too; the outage asserted on is the signing's.
      steps = 0;
      const outage = new Promise<void>((r) => {
        blocked = r;
      });
      const signing = c.sign(key.keyId, { message: msgHex });
      // While blocked, a plain read answers 503 with a Retry-After, and health says down. Wait
      // for the block itself (a loaded host may take longer than any fixed delay to get there).
      await outage;
      await new Promise((r) => setTimeout(r, 300));
      const [read, health] = await Promise.all([
        call(inst.url, 'GET', `/v1/keys/${key.keyId}`, { token }),
        call(inst.url, 'GET', '/v1/health'),
      ]);
      assert.equal(read.status, 503, read.text);
      assert.equal(read.json.error?.code, 'UNAVAILABLE');
      assert.ok(Number(read.headers.get('retry-after')) >= 1);
      assert.equal(health.status, 503);
      assert.equal(health.json.status, 'down');
      const sig = await signing;
      assert.ok(opensslVerifyEd25519(key.publicKey, message, sig.signature));
      assert.ok(statuses.includes(503), 'a step met the outage and was retried');
      const healthy = await call(inst.url, 'GET', '/v1/health');
      assert.equal(healthy.json.status, 'ok');
    } finally {
      await proxy.close();
    }
  });

  test('rate limits are counted across instances (Redis)', async () => {
    const config = join(data, 'limited.json');
    writeFileSync(
      config,
      JSON.stringify({
        limits: { requestsPerMinutePerIp: 6 },
        redisPrefix: `t${randomBytes(4).toString('hex')}:`,
      })
    );
    const [a, b] = await Promise.all([spawn({ config }), spawn({ config })]);
    const token = await devToken(data, 'frank');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      for (const inst of [a, b])
        statuses.push((await call(inst.url, 'GET', '/v1/keys', { token })).status);
    assert.equal(statuses.filter((s) => s === 200).length, 6, `${statuses}`);
    assert.equal(
      statuses.filter((s) => s === 429).length,
      4,
      'the seventh request on either is refused'
    );
    const refused = await call(a.url, 'GET', '/v1/keys', { token });
    assert.equal(refused.json.error?.code, 'RATE_LIMITED');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
  });

  test('Redis lost: signing goes on (fail open), or is refused (fail closed); health says so', async () => {
    const rUrl = new URL(REDIS_URL);
    const proxy = await startTcpProxy({ host: rUrl.hostname, port: Number(rUrl.port) });
    try {
      const viaProxy = `redis://${rUrl.hostname}:${proxy.port}`;
      const open = await spawn({ redis: viaProxy });
      const closedInst = await spawnServer(data, {
        store: schema.url,
        redis: viaProxy,
        rateLimit: 'closed',
      });
      children.push(closedInst.child);
      const token = await devToken(data, 'erin');
      const c = await client('erin', async (input, init) => {
        const u = new URL(String(input));
        return fetch(`${open.url}${u.pathname}${u.search}`, init);
      });
      const key = await c.createKey({ scheme: 'ed25519' });
      assert.equal((await call(open.url, 'GET', '/v1/health')).json.redis, 'ok');
      proxy.block();
      await new Promise((r) => setTimeout(r, 3_500));
      const h = await call(open.url, 'GET', '/v1/health');
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'degraded', store: 'ok', redis: 'down' });
      const sig = await c.sign(key.keyId, { message: msgHex });
      assert.ok(opensslVerifyEd25519(key.publicKey, message, sig.signature), 'signing goes on');
      const refused = await call(closedInst.url, 'GET', `/v1/keys/${key.keyId}`, { token });
      assert.equal(refused.status, 503);
      assert.equal(refused.json.error?.code, 'UNAVAILABLE');
      proxy.unblock();
      await new Promise((r) => setTimeout(r, 3_500));
      assert.equal((await call(open.url, 'GET', '/v1/health')).json.status, 'ok');
      const back = await call(closedInst.url, 'GET', `/v1/keys/${key.keyId}`, { token });
      assert.equal(back.status, 200, 'the fail-closed instance serves again');
    } finally {
      await proxy.close();
    }
  });
});
