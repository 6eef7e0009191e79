/**
 * `tessera proxy start` as a real process (the launcher in packages/cli/bin): it prints
 * `listening on https://…`, forwards a request to a plain-HTTP upstream and exits cleanly on
 * SIGTERM; the environment stands in for flags; a missing upstream or certificate file is a usage
 * error naming it, without a stack trace.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { BIN, call, cleanup, makeCerts, type TestCerts } from './helpers.ts';

const run = promisify(execFile);
const children: ChildProcess[] = [];
let certs: TestCerts;
let upstream: Server;
let upstreamAt = '';

before(async () => {
  certs = makeCerts();
  upstream = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({ path: req.url, forwardedProto: req.headers['x-forwarded-proto'] ?? null })
    );
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamAt = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
});

after(async () => {
  for (const c of children)
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null)
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {}
  await new Promise<void>((r) => upstream.close(() => r()));
  await cleanup();
});

/** `tessera proxy start ARGS` in the background, once it printed `listening on URL`. */
function start(
  args: string[],
  env: NodeJS.ProcessEnv = {}
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'proxy', 'start', ...args], {
    env: { ...process.env, TESSERA_PROXY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: in a checkout the launcher runs the CLI in a child Node, and a
    // SIGKILL in `after` must reach both.
    detached: true,
  });
  children.push(child);
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`proxy exited early (${code})`)));
  });
}

/** `tessera ARGS`, its exit code and output, never throwing on a failure exit. */
async function tessera(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_PROXY_'))
  );
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...clean, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('tessera proxy start prints its https URL, forwards a request and exits on SIGTERM', async () => {
  const { child, url } = await start([
    '--upstream',
    upstreamAt,
    '--tls-cert',
    certs.certFile,
    '--tls-key',
    certs.keyFile,
    '--port',
    '0',
  ]);
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const r = await call(`${url}/v1/status?x=1`, certs.ca);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { path: '/v1/status?x=1', forwardedProto: 'https' });
  const h = await call(`${url}/health`, certs.ca);
  assert.deepEqual(h.json, { status: 'ok', upstream: 'up' });
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('configured from the environment (and --json): the URL as JSON, the rate limit applied', async () => {
  const child = spawn(process.execPath, [BIN, 'proxy', 'start', '--json'], {
    env: {
      ...process.env,
      TESSERA_PROXY_LOG_LEVEL: 'warn',
      TESSERA_PROXY_UPSTREAM: upstreamAt,
      TESSERA_PROXY_TLS_CERT: certs.certFile,
      TESSERA_PROXY_TLS_KEY: certs.keyFile,
      TESSERA_PROXY_PORT: '0',
      TESSERA_PROXY_RATE_LIMIT: '1',
      TESSERA_PROXY_RATE_WINDOW: '60',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  child.stderr?.resume();
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (l) =>
      resolve((JSON.parse(l) as { url: string }).url)
    );
    child.once('exit', (code) => reject(new Error(`proxy exited early (${code})`)));
  });
  assert.equal((await call(`${url}/a`, certs.ca)).status, 200);
  const refused = await call(`${url}/b`, certs.ca);
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.code, 'RATE_LIMITED');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('no upstream, or a certificate file that is missing: a usage error naming it, no stack trace', async () => {
  // Three processes at once: most of each one's time is loading the CLI.
  const [none, missing, badPort] = await Promise.all([
    tessera(['proxy', 'start', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile]),
    tessera([
      'proxy',
      'start',
      '--upstream',
      upstreamAt,
      '--tls-cert',
      `${certs.dir}/nowhere.pem`,
      '--tls-key',
      certs.keyFile,
      '--port',
      '0',
    ]),
    tessera(['proxy', 'start', '--upstream', 'localhost:99999']),
  ]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--upstream.*TESSERA_PROXY_UPSTREAM/);
  assert.doesNotMatch(none.stderr, /\n\s+at /, 'no stack trace');

  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nowhere\.pem.*ENOENT/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');

  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /HOST:PORT/);
});
