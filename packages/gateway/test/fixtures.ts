/** An in-process gateway for route tests: real routes, an on-loop Argon2id, a stub node 1. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { buildGatewayApp } from '../src/app.ts';
import { ApiKeys } from '../src/auth.ts';
import { BanBook } from '../src/bans.ts';
import { loadGatewayConfig } from '../src/config.ts';
import { initGatewayKey, loadGatewayKey } from '../src/keyfile.ts';
import { createGatewayLogger } from '../src/log.ts';
import { Nodes } from '../src/nodes.ts';
import {
  DEFAULT_KDF_PARAMS,
  derivePasswordKey,
  type Kdf,
  type ShareScheme,
} from '../src/secret.ts';
import { TokenMinter } from '../src/token.ts';
import { lock } from '../src/vault.ts';
import { memoKdf } from './helpers.ts';

export const API_KEY = 'test-api-key-0123456789';

export interface Harness {
  app: Awaited<ReturnType<typeof buildGatewayApp>>;
  data: string;
  logs: string[];
  /** The requests node 1 got (method and path). */
  nodeCalls: string[];
  /** The bearer token of each of those requests. */
  nodeTokens: string[];
}

/**
 * A gateway whose node 1 is `node` (a function from method and path to a Response, or a thrown
 * error for a node that is down). Logs at trace level, kept in `logs`.
 */
export async function harness(
  node: (method: string, path: string) => Response | Promise<Response> = () => {
    throw new TypeError('fetch failed');
  },
  opts: { kdf?: Kdf } = {}
): Promise<Harness> {
  const data = mkdtempSync(join(tmpdir(), 'tessera-gw-app-'));
  await initGatewayKey(data);
  const config = loadGatewayConfig(
    { data, port: 0 },
    {
      TESSERA_GATEWAY_NODE1_URL: 'http://node1.invalid',
      TESSERA_GATEWAY_NODE2_URL: 'http://node2.invalid',
      TESSERA_GATEWAY_NODE1_FINGERPRINT: 'ab'.repeat(32),
      TESSERA_GATEWAY_NODE2_FINGERPRINT: 'cd'.repeat(32),
      TESSERA_GATEWAY_API_KEYS: `other-key,${API_KEY}`,
    }
  );
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const nodeCalls: string[] = [];
  const nodeTokens: string[] = [];
  const fetchStub: typeof fetch = async (input, init) => {
    const u = new URL(String(input));
    const method = init?.method ?? 'GET';
    nodeCalls.push(`${method} ${u.pathname}`);
    const auth = new Headers(init?.headers).get('authorization') ?? '';
    nodeTokens.push(auth.replace(/^Bearer /, ''));
    return node(method, u.pathname);
  };
  const nodes = new Nodes({
    nodes: config.nodes,
    tokens: new TokenMinter(await loadGatewayKey(data), config.token),
    bans: new BanBook(data),
    fetch: fetchStub,
  });
  const app = await buildGatewayApp({
    config,
    log: createGatewayLogger('trace', sink),
    apiKeys: new ApiKeys(config.apiKeys),
    kdf: opts.kdf ?? memoKdf,
    nodes,
  });
  return { app, data, logs, nodeCalls, nodeTokens };
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

/** A sealed share as the gateway would hand it out, of the given bytes. */
export async function sealedShare(
  share: Uint8Array,
  o: {
    scheme: ShareScheme;
    keyId?: string;
    epoch?: string;
    password: string;
    userId?: string;
    /** A 2-of-3 key's pinned nodes. */
    nodes?: Record<string, { url: string; fingerprint: string }>;
  }
) {
  const keyId = o.keyId ?? bytesToHex(randomBytes(32));
  const epoch = o.epoch ?? bytesToHex(randomBytes(32));
  const pk = await derivePasswordKey(o.password, DEFAULT_KDF_PARAMS, memoKdf);
  const meta = {
    keyId,
    epoch,
    scheme: o.scheme,
    publicKey: '',
    label: '',
    server: 'http://node1.invalid',
    ...(o.nodes ? { topology: '2-of-3', nodes: o.nodes } : {}),
  };
  return {
    keyId,
    ...lock(
      {
        keyId,
        epoch,
        party: 1,
        scheme: o.scheme,
        userId: o.userId ?? 'alice',
        meta,
        share: share.slice(),
      },
      pk
    ),
  };
}
