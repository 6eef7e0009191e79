/**
 * The proxy's configuration: flags win over the environment (`TESSERA_PROXY_*`). The upstream
 * and the certificate and key files are required: a proxy that guessed where the co-signer is,
 * or served a certificate nobody chose, would be worse than one that does not start. Every
 * mistake is a `ProxyConfigError` naming the flag and the variable, before anything listens.
 * @module
 */

export interface ProxyLimits {
  /** The request line and headers must have arrived within this. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must have arrived within this. */
  requestTimeoutMs: number;
  /** A kept-alive client connection waiting for its next request is closed after this. */
  keepAliveMs: number;
  /**
   * A client connection (or a WebSocket, both of its sockets) with no traffic either way is
   * closed after this; longer than the server's own idle timeout, so the server decides first.
   */
  idleTimeoutMs: number;
  /** The TLS handshake must be done within this. */
  handshakeTimeoutMs: number;
  /** The largest request head (request line and headers) accepted; more is 431. */
  maxHeaderBytes: number;
  /** A connection to the upstream not established within this is `UPSTREAM_UNAVAILABLE`. */
  connectTimeoutMs: number;
  /**
   * The upstream sent nothing for this long: `UPSTREAM_TIMEOUT` before its answer began, the
   * exchange cut after. Longer than any protocol step's computation.
   */
  upstreamTimeoutMs: number;
  /** Open client connections per address; one more is closed before its TLS handshake. */
  connectionsPerIp: number;
  /** Open client connections in all. */
  maxConnections: number;
  /** Addresses whose request counts are kept; past it the oldest window is dropped. */
  trackedIps: number;
}

export interface ProxyConfig {
  host: string;
  port: number;
  /** The co-signer, over plain HTTP: the parent's end of the vsock bridge. */
  upstream: { host: string; port: number };
  /** PEM files, read when the proxy starts. */
  tlsCert: string;
  tlsKey: string;
  /** Requests per address and window (a WebSocket upgrade is one). */
  rateLimit: number;
  rateWindowMs: number;
  logLevel: string;
  limits: ProxyLimits;
}

/** A configuration mistake (the CLI prints it as a usage error, exit 2). */
export class ProxyConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_LIMITS: Readonly<ProxyLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveMs: 5_000,
  idleTimeoutMs: 120_000,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  connectTimeoutMs: 5_000,
  upstreamTimeoutMs: 60_000,
  connectionsPerIp: 100,
  maxConnections: 10_000,
  trackedIps: 100_000,
};

/** What the command line gives; each wins over its variable. */
export interface ProxyFlags {
  /** `HOST:PORT` (`[IPv6]:PORT`). */
  upstream?: string;
  tlsCert?: string;
  tlsKey?: string;
  host?: string;
  port?: number;
  rateLimit?: number;
  rateWindowSeconds?: number;
}

export function loadProxyConfig(flags: ProxyFlags, env: NodeJS.ProcessEnv): ProxyConfig {
  const upstream = flags.upstream ?? env.TESSERA_PROXY_UPSTREAM;
  if (!upstream)
    throw new ProxyConfigError(
      'no upstream: pass --upstream HOST:PORT or set TESSERA_PROXY_UPSTREAM (the co-signer behind the vsock bridge, e.g. 127.0.0.1:5000)'
    );
  const hostPort = parseHostPort(upstream, '--upstream / TESSERA_PROXY_UPSTREAM');
  const tlsCert = flags.tlsCert ?? env.TESSERA_PROXY_TLS_CERT;
  if (!tlsCert)
    throw new ProxyConfigError(
      'no TLS certificate: pass --tls-cert FILE or set TESSERA_PROXY_TLS_CERT'
    );
  const tlsKey = flags.tlsKey ?? env.TESSERA_PROXY_TLS_KEY;
  if (!tlsKey)
    throw new ProxyConfigError('no TLS key: pass --tls-key FILE or set TESSERA_PROXY_TLS_KEY');
  return {
    host: flags.host ?? (env.TESSERA_PROXY_HOST || '127.0.0.1'),
    port: flags.port ?? intVar(env, 'TESSERA_PROXY_PORT', 8443, 0, 65535),
    upstream: hostPort,
    tlsCert,
    tlsKey,
    rateLimit: flags.rateLimit ?? intVar(env, 'TESSERA_PROXY_RATE_LIMIT', 100, 1, 1e9),
    rateWindowMs:
      1000 * (flags.rateWindowSeconds ?? intVar(env, 'TESSERA_PROXY_RATE_WINDOW', 900, 1, 86_400)),
    logLevel: env.TESSERA_PROXY_LOG_LEVEL || 'info',
    limits: { ...DEFAULT_LIMITS },
  };
}

/** `HOST:PORT` or `[IPv6]:PORT`, port 1..65535. */
function parseHostPort(v: string, name: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535)
    throw new ProxyConfigError(
      `${name} must be HOST:PORT (an IPv6 host in brackets), port 1..65535`
    );
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The integer in `env[name]` (digits only, within `min..max`), or `fallback` when unset or empty. */
function intVar(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number
): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!/^\d{1,10}$/.test(v) || n < min || n > max)
    throw new ProxyConfigError(`${name} must be an integer in ${min}..${max}`);
  return n;
}
