/**
 * The relay's configuration: flags win over the environment (`TESSERA_RELAY_*`). Outside dev
 * mode a Redis URL is required, so several instances share rooms and a killed instance loses
 * nothing. Every mistake is a `RelayConfigError` naming the flag or variable, before anything
 * listens.
 * @module
 */
import { envInteger } from '@tessera/http';

export interface RelayLimits {
  /** The largest envelope, decoded (256 KiB). */
  messageBytes: number;
  /** The ceiling on a manifest's `maxBytes`: what one room may hold unacknowledged (8 MiB). */
  roomBytes: number;
  /** Unacknowledged messages queued for one recipient. */
  queuePerRecipient: number;
  members: number;
  /** Rooms an identity may have open (as creator) at once. */
  roomsPerIdentity: number;
  roomCreationsPerMinute: number;
  challengesPerMinutePerIp: number;
  /** The furthest a manifest's `expiresAt` may be ahead. */
  maxRoomTtlMs: number;
  /** A room with no call for this long is closed. */
  roomIdleMs: number;
  challengeTtlMs: number;
  tokenTtlMs: number;
  ticketTtlMs: number;
  /** WebSocket ping interval; a socket that missed a pong by the next ping is closed. */
  wsPingMs: number;
  /** SSE comment heartbeat (keeps proxies and the idle timeout from closing a quiet stream). */
  sseHeartbeatMs: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
}

export interface RelayConfig {
  host: string;
  port: number;
  /** In-memory rooms, one instance only. */
  dev: boolean;
  /** Redis URL (required outside dev mode). */
  redis: string | null;
  /** Key and channel prefix in Redis: several deployments may share one. */
  redisPrefix: string;
  /** The origin logins are bound to; null: the listening URL's origin. */
  publicUrl: string | null;
  trustProxy: boolean;
  logLevel: string;
  limits: RelayLimits;
  /** A web wallet build to serve at /wallet/ (docs/wallet.md); null: none. */
  walletDir: string | null;
}

/** A configuration mistake (the CLI prints it as a usage error, exit 2). */
export class RelayConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_LIMITS: Readonly<RelayLimits> = {
  messageBytes: 256 * 1024,
  roomBytes: 8 * 1024 * 1024,
  queuePerRecipient: 256,
  members: 16,
  roomsPerIdentity: 8,
  roomCreationsPerMinute: 10,
  challengesPerMinutePerIp: 30,
  maxRoomTtlMs: 60 * 60_000,
  roomIdleMs: 30 * 60_000,
  challengeTtlMs: 30_000,
  tokenTtlMs: 15 * 60_000,
  ticketTtlMs: 30_000,
  wsPingMs: 30_000,
  sseHeartbeatMs: 15_000,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  keepAliveMs: 5_000,
};

export interface RelayFlags {
  host?: string;
  port?: number;
  dev?: boolean;
  redis?: string;
  publicUrl?: string;
  walletDir?: string | null;
}

export function loadRelayConfig(flags: RelayFlags, env: NodeJS.ProcessEnv): RelayConfig {
  const dev = flags.dev ?? false;
  const redis = flags.redis ?? (env.TESSERA_RELAY_REDIS || null);
  if (!dev && !redis)
    throw new RelayConfigError(
      'no Redis URL: pass --redis or set TESSERA_RELAY_REDIS (or --dev for in-memory rooms on one instance)'
    );
  if (redis !== null) checkUrl(redis, '--redis / TESSERA_RELAY_REDIS', ['redis:', 'rediss:']);
  const publicUrl = flags.publicUrl ?? (env.TESSERA_RELAY_PUBLIC_URL || null);
  if (publicUrl !== null)
    checkUrl(publicUrl, '--public-url / TESSERA_RELAY_PUBLIC_URL', ['http:', 'https:']);
  return {
    host: flags.host ?? (env.TESSERA_RELAY_HOST || '127.0.0.1'),
    port: flags.port ?? intVar(env, 'TESSERA_RELAY_PORT', 7440, 0, 65535),
    dev,
    redis,
    redisPrefix: env.TESSERA_RELAY_REDIS_PREFIX || 'tessera-relay:',
    publicUrl: publicUrl === null ? null : new URL(publicUrl).origin,
    trustProxy: env.TESSERA_RELAY_TRUST_PROXY === '1',
    logLevel: env.TESSERA_RELAY_LOG_LEVEL || 'info',
    limits: limitsFrom(env.TESSERA_RELAY_LIMITS),
    walletDir:
      flags.walletDir === undefined ? env.TESSERA_RELAY_WALLET_DIR || null : flags.walletDir,
  };
}

/**
 * The bounds, from `TESSERA_RELAY_LIMITS`: a JSON object of `DEFAULT_LIMITS` names and positive
 * integers (e.g. `{"roomsPerIdentity":32,"messageBytes":131072}`); anything else is refused.
 */
function limitsFrom(json: string | undefined): RelayLimits {
  const limits = { ...DEFAULT_LIMITS };
  if (!json) return limits;
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    throw new RelayConfigError('TESSERA_RELAY_LIMITS must be a JSON object');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new RelayConfigError('TESSERA_RELAY_LIMITS must be a JSON object');
  for (const [k, v] of Object.entries(o)) {
    if (!(k in DEFAULT_LIMITS))
      throw new RelayConfigError(`TESSERA_RELAY_LIMITS: unknown limit "${k}"`);
    if (!Number.isSafeInteger(v) || (v as number) < 1)
      throw new RelayConfigError(`TESSERA_RELAY_LIMITS: ${k} must be a positive integer`);
    (limits as Record<string, number>)[k] = v as number;
  }
  if (limits.maxRoomTtlMs > 24 * 3_600_000)
    throw new RelayConfigError('TESSERA_RELAY_LIMITS: maxRoomTtlMs is at most 24 h');
  return limits;
}

function checkUrl(v: string, name: string, protocols: string[]): void {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new RelayConfigError(`${name} is not a URL`);
  }
  if (!protocols.includes(u.protocol))
    throw new RelayConfigError(`${name}: only ${protocols.join(' and ')} URLs`);
}

const intVar = (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number) =>
  envInteger(env, name, { fallback, min, max, invalid: (m) => new RelayConfigError(m) });
