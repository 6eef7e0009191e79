/**
 * The composition root: reads the certificate and key, listens with TLS 1.3 only, and sends
 * every request through the same few steps: `/health` answered here (before any limit, so a load
 * balancer's checks never crowd out clients nor get refused with them), the per-address rate
 * limit, then the upstream. Connections are capped per address before their TLS handshake, the
 * cheapest point to refuse them. `close()` stops listening, lets requests in flight finish for a
 * few seconds and then ends whatever is left, WebSocket tunnels at once.
 * @module
 */
import { readFileSync } from 'node:fs';
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';
import type pino from 'pino';
import type { ProxyConfig } from './config.ts';
import { ProxyConfigError } from './config.ts';
import { ProxyError } from './errors.ts';
import {
  forwardRequest,
  forwardUpgrade,
  type Outcome,
  refuse,
  refuseRaw,
  type Tunnels,
  type Upstream,
} from './forward.ts';
import { UpstreamHealth } from './health.ts';
import { createProxyLogger, logPath } from './log.ts';
import { clientKey, RateLimiter } from './ratelimit.ts';

export interface RunningProxy {
  /** `https://HOST:PORT`, the port the listener got (`port: 0` picks one). */
  url: string;
  close(): Promise<void>;
}

export interface StartProxyOptions {
  /** Where the JSON log lines go (the CLI: stderr); stdout by default. */
  logDestination?: pino.DestinationStream;
}

/** How long `close()` lets requests in flight finish before ending their connections. */
const DRAIN_MS = 5_000;
/** Kept-alive upstream connections are dropped before the server's 5-second keep-alive ends. */
const UPSTREAM_KEEP_ALIVE_MS = 4_000;

export async function startProxy(
  config: ProxyConfig,
  opts: StartProxyOptions = {}
): Promise<RunningProxy> {
  const { limits } = config;
  const tls = readTls(config);
  const log = createProxyLogger(config.logLevel, opts.logDestination);
  const limiter = new RateLimiter({
    limit: config.rateLimit,
    windowMs: config.rateWindowMs,
    maxTracked: limits.trackedIps,
  });
  const health = new UpstreamHealth(config.upstream, Math.min(2_000, limits.connectTimeoutMs));
  const up: Upstream = {
    ...config.upstream,
    agent: new Agent({
      keepAlive: true,
      timeout: UPSTREAM_KEEP_ALIVE_MS,
      maxSockets: limits.maxConnections,
      maxFreeSockets: 64,
      scheduling: 'lifo',
    }),
    limits,
    health,
  };
  const tunnels: Tunnels = new Set();
  let closing: Promise<void> | null = null;
  const sockets = new Set<Socket>();
  const perIp = new Map<string, number>();
  const windowSeconds = Math.ceil(config.rateWindowMs / 1000);
  const rateLimited = (retryAfter: number) =>
    new ProxyError(
      'RATE_LIMITED',
      `too many requests from this address: at most ${config.rateLimit} per ${windowSeconds} s`,
      { retryAfter }
    );

  const server = createServer({
    ...tls,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: limits.handshakeTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveMs,
    // How often Node looks for requests past their timeouts (its default is 30 s).
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 4),
    noDelay: true,
  });
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;

  server.on('connection', (socket: Socket) => {
    const key = clientKey(socket.remoteAddress ?? '');
    const open = (perIp.get(key) ?? 0) + 1;
    if (open > limits.connectionsPerIp) {
      log.info({ ip: socket.remoteAddress, code: 'TOO_MANY_CONNECTIONS' }, 'connection refused');
      socket.destroy();
      return;
    }
    perIp.set(key, open);
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      const n = (perIp.get(key) ?? 1) - 1;
      if (n > 0) perIp.set(key, n);
      else perIp.delete(key);
    });
  });

  server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
    log.debug({ ip: socket.remoteAddress, err }, 'TLS handshake failed');
  });

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const e =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ProxyError('REQUEST_TIMEOUT', 'the request did not arrive in time')
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new ProxyError('HEADERS_TOO_LARGE', 'the request headers are too large')
          : new ProxyError('SCHEMA', 'malformed HTTP request');
    log.info(
      { ip: (socket as Socket).remoteAddress, status: e.status, code: e.code },
      'request refused'
    );
    // A reply already begun cannot take another (Node's own handler checks the same).
    const replying = (socket as Socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (replying?.headersSent) socket.destroy();
    else refuseRaw(socket, e);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    const ip = req.socket.remoteAddress ?? '';
    const path = logPath(req.url);
    const outcome: Outcome = {};
    // Closing: this connection ends with this exchange instead of waiting to be kept alive.
    if (closing) res.shouldKeepAlive = false;
    res.once('finish', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
    res.once('close', () => {
      log.info(
        {
          method: req.method,
          path,
          status: res.headersSent ? res.statusCode : null,
          durationMs: Math.round((performance.now() - t0) * 10) / 10,
          ip,
          ...(outcome.code ? { code: outcome.code } : {}),
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request'
      );
    });
    const internal = (err: unknown) => {
      log.error({ err }, 'internal error');
      refuse(req, res, new ProxyError('INTERNAL', 'internal error'), outcome);
    };
    try {
      if (!req.url?.startsWith('/')) {
        refuse(req, res, new ProxyError('SCHEMA', 'the request target must be a path'), outcome);
        return;
      }
      if ((req.method === 'GET' || req.method === 'HEAD') && path === '/health') {
        answerHealth(req, res, health).catch(internal);
        return;
      }
      const d = limiter.hit(ip);
      if (!d.allowed) {
        refuse(req, res, rateLimited(d.retryAfter), outcome);
        return;
      }
      forwardRequest(req, res, ip, up, outcome);
    } catch (err) {
      internal(err);
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const t0 = performance.now();
    const ip = req.socket.remoteAddress ?? '';
    const path = logPath(req.url);
    socket.on('error', () => socket.destroy());
    const done = (status: number | null, code?: string) =>
      log.info(
        {
          method: req.method,
          path,
          status,
          durationMs: Math.round((performance.now() - t0) * 10) / 10,
          ip,
          upgrade: 'websocket',
          ...(code ? { code } : {}),
          ...(status === null ? { aborted: true } : {}),
        },
        'request'
      );
    const refuseUpgrade = (e: ProxyError) => {
      refuseRaw(socket, e);
      done(e.status, e.code);
    };
    try {
      if (!req.url?.startsWith('/'))
        return refuseUpgrade(new ProxyError('SCHEMA', 'the request target must be a path'));
      if (req.headers.upgrade?.toLowerCase() !== 'websocket')
        return refuseUpgrade(new ProxyError('SCHEMA', 'only WebSocket upgrades are forwarded'));
      // A WebSocket counts as one request, when it is opened.
      const d = limiter.hit(ip);
      if (!d.allowed) return refuseUpgrade(rateLimited(d.retryAfter));
      forwardUpgrade(req, socket, head, ip, up, tunnels, done);
    } catch (err) {
      log.error({ err }, 'internal error');
      refuseUpgrade(new ProxyError('INTERNAL', 'internal error'));
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'server error'));
  const addr = server.address();
  const url =
    addr && typeof addr === 'object'
      ? `https://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      : `https://${config.host}:${config.port}`;
  log.info({ url, upstream: `${config.upstream.host}:${config.upstream.port}` }, 'proxy listening');

  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const drained = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, DRAIN_MS);
        server.close(() => {
          clearTimeout(drained);
          up.agent.destroy();
          resolve();
        });
        server.closeIdleConnections();
        for (const s of tunnels) s.destroy();
      });
      return closing;
    },
  };
}

/** `{"status":"ok","upstream":"up"|"down"}`: the proxy answers; what it last saw upstream. */
async function answerHealth(
  req: IncomingMessage,
  res: ServerResponse,
  health: UpstreamHealth
): Promise<void> {
  const reachable = await health.reachable();
  if (res.destroyed) return;
  const body = JSON.stringify({ status: 'ok', upstream: reachable ? 'up' : 'down' });
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The certificate and key, read now; a missing, unreadable or mismatched file stops the start. */
function readTls(config: ProxyConfig): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ProxyConfigError(`cannot read the TLS ${what} ${file} (${flag}): ${code}`);
    }
  };
  const cert = read(config.tlsCert, 'certificate', '--tls-cert / TESSERA_PROXY_TLS_CERT');
  const key = read(config.tlsKey, 'key', '--tls-key / TESSERA_PROXY_TLS_KEY');
  try {
    createSecureContext({ cert, key, minVersion: 'TLSv1.3' });
  } catch {
    throw new ProxyConfigError(
      `the TLS certificate ${config.tlsCert} and key ${config.tlsKey} are not PEM, or the key is not the certificate's`
    );
  }
  return { cert, key };
}
