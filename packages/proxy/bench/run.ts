/**
 * `npm run bench`, parent-proxy section (BENCH_ONLY=proxy): what the proxy adds to a signature
 * over loopback. The co-signing server (dev mode, SQLite) and the proxy run as their own
 * `tessera` processes; the client runs here. One 2-of-2 ECDSA key signs BENCH_PROXY_SIGNS times
 * (default 30, after 5 warm-up signatures per path) directly over HTTP and through the proxy over
 * HTTPS (TLS 1.3, a test CA made with openssl), alternating so that drift hits both alike, and
 * the same over WebSocket (ws:// beside wss://). Both paths use the same node:http(s) fetch with
 * kept-alive connections, so the difference is the proxy's: TLS, one more hop, its checks.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
  MemoryShareStore,
  TesseraClient,
  type TransportKind,
  type WebSocketLike,
} from '@tessera/client';
import { devToken } from '@tessera/server';
import { WebSocket } from 'ws';
import {
  BIN,
  cleanup,
  makeCerts,
  nodeFetch,
  opensslVerifyEcdsa,
  tempDir,
} from '../test/helpers.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'proxy') process.exit(0);

const SIGNS = Number(process.env.BENCH_PROXY_SIGNS ?? 30);
const WARMUP = 5;
const message = new TextEncoder().encode('tessera proxy bench');
const messageHex = Buffer.from(message).toString('hex');

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

const children: ChildProcess[] = [];
function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`tessera ${args.join(' ')} exited (${c})`)));
  });
}

try {
  const certs = makeCerts();
  const data = tempDir('tessera-proxy-bench-');
  const direct = await serve(
    ['server', 'start', '--dev', '--data', data, '--port', '0', '--quiet'],
    {
      TESSERA_LOG_LEVEL: 'warn',
    }
  );
  const proxied = await serve(
    [
      'proxy',
      'start',
      '--upstream',
      new URL(direct).host,
      '--tls-cert',
      certs.certFile,
      '--tls-key',
      certs.keyFile,
      '--port',
      '0',
      '--rate-limit',
      '1000000',
      '--quiet',
    ],
    { TESSERA_PROXY_LOG_LEVEL: 'warn' }
  );
  const store = new MemoryShareStore();
  const token = await devToken(data, 'bench');
  const client = (server: string, transport: TransportKind) =>
    new TesseraClient({
      server,
      token,
      store,
      transport,
      fetch: nodeFetch({ ca: certs.ca }),
      webSocket: (url) => new WebSocket(url, { ca: certs.ca }) as unknown as WebSocketLike,
    });
  const key = await client(direct, 'http').createKey({ scheme: 'ecdsa' });

  const rows: [string, number[], number[]][] = [];
  for (const transport of ['http', 'ws'] as const) {
    const viaServer = client(direct, transport);
    const viaProxy = client(proxied, transport);
    const sign = async (c: TesseraClient) => {
      const t = performance.now();
      const sig = await c.sign(key.keyId, { message: messageHex });
      const elapsed = performance.now() - t;
      if (!sig.der || !opensslVerifyEcdsa(key.publicKey, message, sig.der))
        throw new Error('a signature did not verify');
      return elapsed;
    };
    for (let i = 0; i < WARMUP; i++) {
      await sign(viaServer);
      await sign(viaProxy);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < SIGNS; i++) {
      a.push(await sign(viaServer));
      b.push(await sign(viaProxy));
    }
    rows.push([transport === 'http' ? 'HTTP steps' : 'WebSocket steps', a, b]);
  }

  console.log(
    `\n## Parent proxy over loopback (server and proxy as processes; ECDSA 2-of-2 signature, ${SIGNS} runs after ${WARMUP} warm-up)\n`
  );
  console.log(
    `  ${'transport'.padEnd(16)} ${'direct p50'.padStart(11)} ${'p90'.padStart(10)}   ${'proxy (TLS 1.3) p50'.padStart(20)} ${'p90'.padStart(10)}   ${'added p50'.padStart(10)} ${'p90'.padStart(10)}`
  );
  for (const [name, a, b] of rows)
    console.log(
      `  ${name.padEnd(16)} ${ms(pct(a, 50)).padStart(11)} ${ms(pct(a, 90)).padStart(10)}   ${ms(pct(b, 50)).padStart(20)} ${ms(pct(b, 90)).padStart(10)}   ${ms(pct(b, 50) - pct(a, 50)).padStart(10)} ${ms(pct(b, 90) - pct(a, 90)).padStart(10)}`
    );
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null
        ? new Promise((r) => c.once('exit', r))
        : undefined
    )
  );
  await cleanup();
}
