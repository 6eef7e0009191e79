/**
 * The gateway's configuration: the nodes, the API keys and the listener come from the
 * environment (secrets stay out of `ps` and shell history); `--data`, `--host` and `--port` flags
 * win over it. Every mistake is a `GatewayConfigError` naming the variable, before anything
 * listens.
 * @module
 */

import { availableParallelism } from 'node:os';
import type { NodeRef, NodeSet } from '@tessera/client';
import { envInteger } from '@tessera/http';
import { DEFAULT_KDF_PARAMS, type KdfParams } from './secret.ts';

export type { NodeRef, NodeSet };

export interface GatewayConfig {
  /** The two nodes of every key: node 1 co-signs (party 2), node 2 recovers (party 3). */
  data: string;
  host: string;
  port: number;
  nodes: NodeSet;
  apiKeys: string[];
  /** Claims of the tokens the gateway mints for the nodes; nodes expect `tessera`/`tessera`. */
  token: { issuer: string; audience: string; ttlSeconds: number };
  kdf: KdfParams;
  /** Argon2id workers, and the jobs that may wait for one before new ones get 503 BUSY. */
  workers: number;
  maxQueue: number;
  logLevel: string;
  limits: {
    /**
     * The largest body: a sealed 2-of-3 ECDSA share is ≈ 173 KiB of base64url, and a signing
     * payload up to 256 KiB of hex (a 128 KiB transaction).
     */
    bodyBytes: number;
    /** The whole request must arrive within this; a slow client cannot hold buffers longer. */
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    /** Socket inactivity: longer than the slowest key generation, during which nothing is sent. */
    idleTimeoutMs: number;
    keepAliveMs: number;
  };
}

/** A configuration mistake (the CLI prints it as a usage error, exit 2). */
export class GatewayConfigError extends Error {
  override name = 'ConfigError';
}

/** The longest token lifetime the gateway mints; nodes refuse long-lived tokens anyway. */
export const MAX_TOKEN_TTL_S = 120;

export interface GatewayFlags {
  data?: string;
  host?: string;
  port?: number;
}

export function loadGatewayConfig(flags: GatewayFlags, env: NodeJS.ProcessEnv): GatewayConfig {
  const data = flags.data ?? env.TESSERA_GATEWAY_DATA;
  if (!data)
    throw new GatewayConfigError('no data directory: pass --data or set TESSERA_GATEWAY_DATA');
  const nodes: NodeSet = {
    node1: {
      url: nodeUrl(env, 'TESSERA_GATEWAY_NODE1_URL'),
      fingerprint: fingerprint(env, 'TESSERA_GATEWAY_NODE1_FINGERPRINT'),
    },
    node2: {
      url: nodeUrl(env, 'TESSERA_GATEWAY_NODE2_URL'),
      fingerprint: fingerprint(env, 'TESSERA_GATEWAY_NODE2_FINGERPRINT'),
    },
  };
  const apiKeys = (env.TESSERA_GATEWAY_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  if (apiKeys.length === 0)
    throw new GatewayConfigError(
      'TESSERA_GATEWAY_API_KEYS is not set: a comma-separated list of the API keys callers send in x-api-key'
    );
  if (apiKeys.some((k) => k.length > 256 || !/^[\x21-\x7e]+$/.test(k)))
    throw new GatewayConfigError(
      'TESSERA_GATEWAY_API_KEYS: every key is 1 to 256 printable ASCII characters'
    );
  const port = flags.port ?? intVar(env, 'TESSERA_GATEWAY_PORT', 7430, 0, 65535);
  const workers = intVar(
    env,
    'TESSERA_GATEWAY_KDF_WORKERS',
    Math.max(1, Math.min(availableParallelism(), 8)),
    1,
    64
  );
  return {
    data,
    host: flags.host ?? (env.TESSERA_GATEWAY_HOST || '127.0.0.1'),
    port,
    nodes,
    apiKeys,
    token: {
      issuer: env.TESSERA_GATEWAY_TOKEN_ISSUER || 'tessera',
      audience: env.TESSERA_GATEWAY_TOKEN_AUDIENCE || 'tessera',
      ttlSeconds: intVar(env, 'TESSERA_GATEWAY_TOKEN_TTL', 60, 10, MAX_TOKEN_TTL_S),
    },
    kdf: DEFAULT_KDF_PARAMS,
    workers,
    maxQueue: intVar(env, 'TESSERA_GATEWAY_KDF_QUEUE', 16 * workers, 1, 10_000),
    logLevel: env.TESSERA_GATEWAY_LOG_LEVEL || 'info',
    limits: {
      bodyBytes: 512 * 1024,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      keepAliveMs: 5_000,
    },
  };
}

function nodeUrl(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v)
    throw new GatewayConfigError(
      `${name} is not set: the node's base URL, e.g. http://127.0.0.1:7420`
    );
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new GatewayConfigError(`${name} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new GatewayConfigError(`${name}: only http and https URLs`);
  if (u.username || u.password || u.search || u.hash)
    throw new GatewayConfigError(`${name}: no credentials, query or fragment in a node URL`);
  return v.replace(/\/+$/, '');
}

function fingerprint(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v)
    throw new GatewayConfigError(
      `${name} is not set: the node's identity fingerprint (tessera node identity --json)`
    );
  if (!/^[0-9a-fA-F]{64}$/.test(v))
    throw new GatewayConfigError(`${name}: a fingerprint is 64 hex digits`);
  return v.toLowerCase();
}

const intVar = (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number) =>
  envInteger(env, name, { fallback, min, max, invalid: (m) => new GatewayConfigError(m) });
