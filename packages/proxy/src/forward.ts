/**
 * Forwarding to the upstream: each HTTP request as a new request over plain HTTP (kept-alive
 * connections, bodies streamed both ways, never buffered), and each WebSocket upgrade as a
 * request of its own whose sockets are piped together once the upstream answers 101.
 *
 * Headers pass through except the hop-by-hop ones (they describe one connection, not the
 * request) and the ones only the proxy may set: `X-Forwarded-For` (the TCP peer, the one address
 * the proxy knows to be true), `X-Forwarded-Proto: https`, and whatever a client sent as
 * `Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Port` or `X-Real-IP` is dropped. A server with
 * `trustProxy` behind this proxy can therefore take the forwarded address as the client's.
 *
 * An upstream that cannot be connected to, or that closes the connection before answering (the
 * vsock bridge does that when the enclave is gone), is `502 UPSTREAM_UNAVAILABLE`; one that
 * accepted and then stays silent past `upstreamTimeoutMs` is `504 UPSTREAM_TIMEOUT`. After the
 * answer has begun, a failure on either side cuts the other.
 * @module
 */
import {
  type Agent,
  type ClientRequest,
  type IncomingMessage,
  request,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyLimits } from './config.ts';
import { ProxyError, type ProxyErrorCode } from './errors.ts';
import type { UpstreamHealth } from './health.ts';

/** Headers about one connection (RFC 9110 §7.6.1), never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Headers only the proxy sets: a client's are dropped, never appended to. */
const PROXY_ONLY = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-proto',
  'x-real-ip',
]);

export interface Upstream {
  host: string;
  port: number;
  /** Kept-alive connections for plain requests (upgrades take a connection of their own). */
  agent: Agent;
  limits: ProxyLimits;
  health: UpstreamHealth;
}

/** What the request log needs of an exchange: the proxy's own refusal code, if it answered. */
export interface Outcome {
  code?: ProxyErrorCode;
}

/** Why an upstream request was given up: no connection in time, or no answer in time. */
const CONNECT_TIMEOUT = 'UPSTREAM_CONNECT_TIMEOUT';
const SILENT = 'UPSTREAM_SILENT';

/** The address as the upstream is told it: IPv4-mapped IPv6 as plain IPv4. */
export function forwardedAddress(ip: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** `raw` (name, value, name, value…) without hop-by-hop headers, nor the ones in `drop`. */
function filterHeaders(raw: readonly string[], drop: ReadonlySet<string>): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === 'connection')
      for (const t of (raw[i + 1] ?? '').split(','))
        if (t.trim()) named.add(t.trim().toLowerCase());
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || drop.has(lower) || named.has(lower)) continue;
    out.push(name, raw[i + 1] ?? '');
  }
  return out;
}

/** The request headers the upstream gets. */
function upstreamHeaders(req: IncomingMessage, ip: string, up: Upstream): string[] {
  // `Expect: 100-continue` was answered by this proxy's server already.
  const out = filterHeaders(req.rawHeaders, new Set([...PROXY_ONLY, 'expect']));
  if (req.headers.host === undefined) out.push('host', `${up.host}:${up.port}`);
  out.push('x-forwarded-for', forwardedAddress(ip), 'x-forwarded-proto', 'https');
  return out;
}

/** Bounds an upstream request: connecting, then silence. */
function bound(u: ClientRequest, limits: ProxyLimits): void {
  u.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(
      () =>
        u.destroy(Object.assign(new Error('upstream connect timeout'), { code: CONNECT_TIMEOUT })),
      limits.connectTimeoutMs
    );
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  });
  u.setTimeout(limits.upstreamTimeoutMs, () =>
    u.destroy(Object.assign(new Error('upstream silent'), { code: SILENT }))
  );
}

/** The refusal for an upstream request that failed before any answer. */
function upstreamFailure(err: unknown, up: Upstream): ProxyError {
  if ((err as { code?: unknown }).code === SILENT)
    return new ProxyError('UPSTREAM_TIMEOUT', 'the co-signer did not answer in time');
  up.health.note(false);
  return new ProxyError('UPSTREAM_UNAVAILABLE', 'the co-signer cannot be reached; retry shortly');
}

/** Answers `res` with a refusal of the proxy's own (unless an answer has begun: then cuts it). */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  err: ProxyError,
  outcome: Outcome
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  outcome.code = err.code;
  const body = JSON.stringify(err.toBody());
  const headers = err.headers(Buffer.byteLength(body));
  // Refused before a body was read in full: close rather than read the rest.
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody && !req.complete) headers.connection = 'close';
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A refusal written straight to a socket that is not (or no longer) an HTTP exchange. */
export function refuseRaw(socket: Duplex, err: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(err.toBody());
  const head = Object.entries({ ...err.headers(Buffer.byteLength(body)), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status]}\r\n${head}\r\n${body}`);
}

/** Forwards one HTTP request and streams the answer back. */
export function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  ip: string,
  up: Upstream,
  outcome: Outcome
): void {
  const u = request({
    host: up.host,
    port: up.port,
    method: req.method,
    path: req.url,
    headers: upstreamHeaders(req, ip, up),
    agent: up.agent,
  });
  bound(u, up.limits);
  // Whichever comes first decides: the upstream's answer, its failure, or the client leaving.
  let answered = false;
  let over = false;
  u.on('response', (ures) => {
    answered = true;
    up.health.note(true);
    if (res.destroyed) {
      u.destroy();
      return;
    }
    res.writeHead(
      ures.statusCode ?? 502,
      ures.statusMessage,
      filterHeaders(ures.rawHeaders, new Set())
    );
    ures.on('error', () => res.destroy());
    ures.on('aborted', () => res.destroy());
    ures.pipe(res);
  });
  u.on('error', (err) => {
    if (over) return;
    over = true;
    req.unpipe(u);
    if (answered) res.destroy();
    else refuse(req, res, upstreamFailure(err, up), outcome);
  });
  // The client went away before its answer was complete: nothing more is wanted upstream, and
  // the upstream is not to blame.
  res.on('close', () => {
    if (res.writableFinished) return;
    over = true;
    u.destroy();
  });
  req.on('error', () => u.destroy());
  req.pipe(u);
}

/** Sockets of an established WebSocket tunnel, so that `close()` can end them. */
export type Tunnels = Set<Duplex>;

/**
 * Forwards a WebSocket upgrade: a request of its own to the upstream; on its 101 the handshake
 * answer goes back to the client and the two sockets are piped until either side closes or both
 * are silent for `idleTimeoutMs`. A refused upgrade (the upstream answers anything else) is
 * passed back as it came, and the connection closed. `done` gets the status the client got (null:
 * it left before an answer).
 */
export function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  ip: string,
  up: Upstream,
  tunnels: Tunnels,
  done: (status: number | null, code?: ProxyErrorCode) => void
): void {
  const headers = upstreamHeaders(req, ip, up);
  headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
  const u = request({
    host: up.host,
    port: up.port,
    method: req.method,
    path: req.url,
    headers,
    agent: false,
  });
  bound(u, up.limits);
  let settled = false;
  // The client left before the upstream answered: give up, without blaming the upstream.
  const abandon = () => {
    if (settled) return;
    settled = true;
    u.destroy();
    done(null);
  };
  socket.on('error', abandon);
  socket.on('close', abandon);

  u.on('upgrade', (ures, usocket, uhead) => {
    settled = true;
    up.health.note(true);
    if (socket.destroyed) {
      usocket.destroy();
      return;
    }
    const lines = [`HTTP/1.1 101 ${ures.statusMessage || 'Switching Protocols'}`];
    // The handshake's own Connection and Upgrade headers stay: they make it a 101.
    const raw = ures.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = (raw[i] ?? '').toLowerCase();
      if (lower !== 'connection' && lower !== 'upgrade' && HOP_BY_HOP.has(lower)) continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (uhead.length > 0) socket.write(uhead);
    if (head.length > 0) usocket.write(head);
    pipeTunnel(socket, usocket, up.limits.idleTimeoutMs, tunnels);
    done(101);
  });

  u.on('response', (ures) => {
    // No upgrade: the upstream's refusal (a bad ticket, a busy session) goes back as it came.
    settled = true;
    up.health.note(true);
    const lines = [`HTTP/1.1 ${ures.statusCode} ${ures.statusMessage ?? ''}`];
    const raw = filterHeaders(ures.rawHeaders, new Set());
    for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    lines.push('connection: close');
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    ures.on('error', () => socket.destroy());
    ures.pipe(socket);
    done(ures.statusCode ?? 502);
  });

  u.on('error', (err) => {
    if (settled) return;
    settled = true;
    const e = upstreamFailure(err, up);
    refuseRaw(socket, e);
    done(e.status, e.code);
  });
  u.end();
}

function pipeTunnel(a: Duplex, b: Duplex, idleMs: number, tunnels: Tunnels): void {
  const end = () => {
    a.destroy();
    b.destroy();
    tunnels.delete(a);
    tunnels.delete(b);
  };
  tunnels.add(a);
  tunnels.add(b);
  for (const s of [a, b]) {
    s.on('error', end);
    s.on('close', end);
    (s as Socket).setTimeout?.(idleMs, end);
  }
  a.pipe(b);
  b.pipe(a);
}
