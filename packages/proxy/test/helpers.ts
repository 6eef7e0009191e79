/**
 * Test helpers: a throwaway CA and a server certificate for 127.0.0.1 and localhost made with the
 * `openssl` command (EC P-256), a `fetch` over node:https that trusts that CA, a proxy on a free
 * port with captured logs, a real co-signing server in a temp data directory, and the launcher
 * path for the CLI tests. Everything made here is removed by `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, ECDH, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadProxyConfig,
  type ProxyConfig,
  type ProxyFlags,
  type RunningProxy,
  startProxy,
} from '@tessera/proxy';
import { devToken, loadConfig, type RunningServer, startServer } from '@tessera/server';

export const BIN = fileURLToPath(new URL('../../cli/bin/tessera.js', import.meta.url));

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];

export function tempDir(prefix = 'tessera-proxy-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Closes every proxy and server started here (last first) and removes the temp directories. */
export async function cleanup(): Promise<void> {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface TestCerts {
  dir: string;
  /** The CA certificate (PEM) clients trust. */
  ca: Buffer;
  certFile: string;
  keyFile: string;
}

/** A CA and a certificate it signed for IP 127.0.0.1 and DNS localhost, both EC P-256. */
export function makeCerts(): TestCerts {
  const dir = tempDir('tessera-proxy-tls-');
  const f = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ecKey = (out: string) =>
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out]);
  ecKey(f('ca.key'));
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    f('ca.key'),
    '-subj',
    '/CN=Tessera proxy test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    f('ca.pem'),
  ]);
  ecKey(f('server.key'));
  openssl([
    'req',
    '-new',
    '-key',
    f('server.key'),
    '-subj',
    '/CN=localhost',
    '-out',
    f('server.csr'),
  ]);
  writeFileSync(
    f('server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ].join('\n')
  );
  openssl([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-set_serial',
    '0x7e55e7a',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.pem'),
  ]);
  return {
    dir,
    ca: readFileSync(f('ca.pem')),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected loosely
  json: any;
}

/** One HTTPS request trusting `ca`, on a connection of its own. */
export function call(
  url: string,
  ca: Buffer,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {}
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: o.method ?? 'GET', headers: o.headers ?? {}, ca, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      }
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * A `fetch` over node:http and node:https, trusting `ca` for https URLs (undici's Agent, which
 * would take a CA for the global fetch, is not a dependency): enough of fetch for the client SDK,
 * which sends strings and reads text. Kept-alive connections unless `keepAlive: false`.
 */
export function nodeFetch(o: { ca?: Buffer; keepAlive?: boolean } = {}): typeof fetch {
  const keepAlive = o.keepAlive ?? true;
  const agents = {
    'http:': new HttpAgent({ keepAlive }),
    'https:': new Agent({ keepAlive, ...(o.ca ? { ca: o.ca } : {}) }),
  };
  return async (input, init) => {
    const url = new URL(
      typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url
    );
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body =
      init?.body === undefined || init.body === null
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : Buffer.from(await new Response(init.body).arrayBuffer());
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const req = send(
        url,
        {
          method: init?.method ?? 'GET',
          headers,
          agent: agents[url.protocol as 'http:' | 'https:'],
          ...(init?.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers))
              for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) h.append(k, x);
            const status = res.statusCode ?? 0;
            const noBody = status === 204 || status === 304;
            resolve(
              new Response(noBody ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? '',
                headers: h,
              })
            );
          });
        }
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}

export interface TestProxy extends RunningProxy {
  config: ProxyConfig;
  logs: string[];
}

/** A proxy on a free port of 127.0.0.1 in front of `upstream` (`HOST:PORT`), logs captured. */
export async function proxy(
  upstream: string,
  certs: TestCerts,
  o: { flags?: ProxyFlags; config?: Partial<ProxyConfig> } = {}
): Promise<TestProxy> {
  const config = {
    ...loadProxyConfig(
      {
        upstream,
        tlsCert: certs.certFile,
        tlsKey: certs.keyFile,
        port: 0,
        ...o.flags,
      },
      {}
    ),
    logLevel: 'debug',
    ...o.config,
  };
  const logs: string[] = [];
  const p = await startProxy(config, {
    logDestination: { write: (s: string) => void logs.push(s) },
  });
  closers.push(() => p.close());
  return Object.assign(p, { config, logs });
}

export interface TestServer {
  srv: RunningServer;
  /** `HOST:PORT` of the server, as the proxy's upstream. */
  hostPort: string;
  token(sub: string): Promise<string>;
}

/** A real co-signing server (dev mode, SQLite) on a free port of 127.0.0.1. */
export async function server(): Promise<TestServer> {
  const data = tempDir('tessera-proxy-server-');
  const srv = await startServer(
    loadConfig({ data, port: 0, dev: true, logLevel: 'warn', trustProxy: true }, {}),
    { logDestination: { write: () => {} } }
  );
  closers.push(() => srv.close());
  return { srv, hostPort: new URL(srv.url).host, token: (sub) => devToken(data, sub) };
}

/** OpenSSL (node:crypto) verification of a secp256k1 ECDSA signature (DER) over sha256(message). */
export function opensslVerifyEcdsa(publicKey: string, message: Uint8Array, der: string): boolean {
  const point = ECDH.convertKey(publicKey, 'secp256k1', 'hex', undefined, 'uncompressed') as Buffer;
  const b64 = (b: Buffer) => b.toString('base64url');
  const jwk = {
    kty: 'EC',
    crv: 'secp256k1',
    x: b64(point.subarray(1, 33)),
    y: b64(point.subarray(33)),
  };
  return verify(
    'sha256',
    message,
    createPublicKey({ key: jwk, format: 'jwk' }),
    Buffer.from(der, 'hex')
  );
}

/** A port nothing listens on: one the OS just gave out and took back. */
export async function deadPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
