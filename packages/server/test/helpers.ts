/** Test harness: a real server on 127.0.0.1 in a temp data dir, dev tokens, clients, log capture. */
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import {
  MemoryShareStore,
  type ShareStore,
  TesseraClient,
  type TransportKind,
} from '@tessera/client';
import { nodeWebSocket } from '@tessera/client/node';
import {
  devToken,
  loadConfig,
  type RunningServer,
  type ServerConfig,
  type ServerConfigInput,
  type StartOptions,
  startServer,
} from '@tessera/server';

export interface TestServer {
  srv: RunningServer;
  config: ServerConfig;
  data: string;
  url: string;
  logs: string[];
  token(sub: string, ttlSeconds?: number): Promise<string>;
  client(
    sub: string,
    o?: { transport?: TransportKind; store?: ShareStore }
  ): Promise<TesseraClient>;
  /** Stops and starts the server on the same port and data directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function testServer(
  overrides: ServerConfigInput = {},
  opts: StartOptions = {}
): Promise<TestServer> {
  const data = mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const logs: string[] = [];
  const destination = { write: (s: string) => void logs.push(s) };
  let config = loadConfig({ data, port: 0, dev: true, logLevel: 'info', ...overrides }, {});
  let srv = await startServer(config, { logDestination: destination, ...opts });
  const port = Number(new URL(srv.url).port);
  config = { ...config, port };
  const t: TestServer = {
    srv,
    config,
    data,
    url: srv.url,
    logs,
    token: (sub, ttlSeconds) => devToken(data, sub, ttlSeconds ? { ttlSeconds } : {}),
    async client(sub, o = {}) {
      return new TesseraClient({
        server: srv.url,
        token: await t.token(sub),
        store: o.store ?? new MemoryShareStore(),
        transport: o.transport ?? 'http',
        webSocket: nodeWebSocket,
      });
    },
    async restart() {
      await srv.close();
      srv = await startServer(config, { logDestination: destination, ...opts });
      t.srv = srv;
    },
    async close() {
      await srv.close();
      rmSync(data, { recursive: true, force: true });
    },
  };
  return t;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
export const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
export const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** OpenSSL (node:crypto) verification of an ECDSA signature over sha256(message). */
export function opensslVerifyEcdsa(publicKey: string, message: Uint8Array, der: string): boolean {
  const p = secp256k1.Point.fromHex(publicKey).toBytes(false);
  const jwk = {
    kty: 'EC',
    crv: 'secp256k1',
    x: b64url(p.subarray(1, 33)),
    y: b64url(p.subarray(33)),
  };
  return verify('sha256', message, createPublicKey({ key: jwk, format: 'jwk' }), fromHex(der));
}

/** OpenSSL (node:crypto) verification of an Ed25519 signature. */
export function opensslVerifyEd25519(publicKey: string, message: Uint8Array, sig: string): boolean {
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(fromHex(publicKey)) };
  return verify(null, message, createPublicKey({ key: jwk, format: 'jwk' }), fromHex(sig));
}

export const nobleVerify = {
  ecdsa: (pk: string, digest: Uint8Array, sig: string) =>
    secp256k1.verify(fromHex(sig), digest, fromHex(pk), { prehash: false }),
  ed25519: (pk: string, msg: Uint8Array, sig: string) =>
    ed25519.verify(fromHex(sig), msg, fromHex(pk)),
  bip340: (pk: string, msg: Uint8Array, sig: string) =>
    schnorr.verify(fromHex(sig), msg, fromHex(pk)),
};

export interface RawResponse {
  status: number;
  text: string;
  json: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<
    string,
    unknown
  >;
  headers: Headers;
}

/** A raw HTTP call (no SDK), for adversarial tests. */
export async function call(
  url: string,
  method: string,
  path: string,
  o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let json: RawResponse['json'] = {};
  try {
    json = JSON.parse(text) as RawResponse['json'];
  } catch {}
  return { status: res.status, text, json, headers: res.headers };
}

/** A fresh start-request guard (nonce + timestamp). */
export const fresh = () => ({
  nonce: toHex(crypto.getRandomValues(new Uint8Array(16))),
  timestamp: Date.now(),
});
