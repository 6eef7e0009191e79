/**
 * A client of the relay (docs/relay.md): login with a party identity, rooms with signed
 * manifests, idempotent sends, and an SSE subscription that resumes with `Last-Event-ID`.
 *
 * Only `fetch`, `TextDecoder`, `AbortSignal` and `ReadableStream` are used (no Node module), so
 * it runs in Node 20+ and in browsers that stream `fetch` bodies. It is exported from
 * `@tessera/client/node` for now, next to the device home that uses it.
 *
 * Every request has a time-out. A send that fails on the network is sent again with the same
 * `clientSeq`: the relay stores it once and answers the same `seq`. A subscription that breaks
 * (network error, a stream that stays silent past twice the relay's 15 s heartbeat, or the end
 * of the response) reconnects with `Last-Event-ID` set to the last event it handed out, which
 * acknowledges exactly what was delivered and replays the rest.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { type PartyIdentity, TesseraError } from '@tessera/core';
import { fromBase64, toBase64 } from './base64.ts';

const LOGIN_TAG = 'tessera-relay-login/v1';
/** The subprotocol of the relay's WebSocket (docs/relay.md). */
const WS_SUBPROTOCOL = 'tessera-relay.v1';
const MANIFEST_TAG = 'tessera-relay-manifest/v1';

/**
 * A relay's refusal (its stable code: `ROOM_NOT_FOUND`, `NOT_A_MEMBER`, …) or, with code
 * `TRANSPORT`, a relay that cannot be reached in time; `RELAY_PROTOCOL` for an answer that is
 * not what docs/relay.md promises (a manifest whose hash or signature does not check).
 */
export class RelayError extends TesseraError {
  override name = 'RelayError';
  readonly status: number | null;
  constructor(code: string, message: string, status: number | null = null, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.status = status;
  }
}

/** A member of a room, as its manifest lists it. */
export interface RoomMember {
  /** Ed25519 public key, 64 lowercase hex digits. */
  publicKey: string;
  /** X25519 public key, 64 lowercase hex digits. */
  x25519: string;
  role: string;
  name?: string;
}

export interface RoomManifest {
  v: 1;
  roomId: string;
  protocol: string;
  members: RoomMember[];
  expiresAt: number;
  maxBytes: number;
}

export interface CreatedRoom {
  roomId: string;
  manifestHash: string;
  expiresAt: number;
}

/** One message as the relay delivers it. `from` is the sender's key, stamped by the relay. */
export interface RelayMessage {
  seq: number;
  from: string;
  to: string | null;
  envelope: Uint8Array;
  clientSeq: number;
}

export interface RelayClientOptions {
  /** The relay's base URL, e.g. `http://127.0.0.1:7440`. */
  url: string;
  identity: PartyIdentity;
  /** The origin logins are bound to (the relay's `--public-url`); default the URL's origin. */
  origin?: string;
  /** Per-request time-out (default 15 s). */
  timeoutMs?: number;
  /** Another `fetch` (tests wrap it to break connections). */
  fetch?: typeof fetch;
  /**
   * Receive over the relay's WebSocket (`GET /rooms/{id}/ws`) instead of SSE: a factory for a
   * socket offering the given subprotocols (the browser's `WebSocket`; in Node 20 the `ws`
   * package, which `@tessera/client/node` wraps as `relayWebSocket`). Sends stay HTTP requests,
   * idempotent by `clientSeq`.
   */
  webSocket?: RelayWebSocketFactory;
}

/** The part of a WebSocket the relay client uses. */
export interface RelaySocket {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}
export type RelayWebSocketFactory = (url: string, protocols: string[]) => RelaySocket;

/** The bytes an identity signs to log in at `origin`. */
export const relayLoginMessage = (origin: string, challenge: Uint8Array): Uint8Array =>
  concatBytes(utf8ToBytes(LOGIN_TAG), utf8ToBytes(origin), challenge);

/** The bytes a room's creator signs. */
export const relayManifestMessage = (manifest: Uint8Array): Uint8Array =>
  concatBytes(utf8ToBytes(MANIFEST_TAG), manifest);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A manifest's bytes parsed and checked: for `roomId`, signed by the member `creator` picks. */
function checkedManifest(
  roomId: string,
  bytes: Uint8Array,
  signature: string,
  pick: (m: RoomManifest) => string | null
): { manifest: RoomManifest; creator: string } {
  const bad = (why: string) => new RelayError('RELAY_PROTOCOL', `room ${roomId}: ${why}`);
  let m: RoomManifest;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as RoomManifest;
  } catch {
    throw bad('the manifest does not parse');
  }
  const creator =
    m !== null && typeof m === 'object' && m.roomId === roomId && Array.isArray(m.members)
      ? pick(m)
      : null;
  if (creator === null) throw bad('the manifest does not list the expected creator');
  let ok = false;
  try {
    ok = ed25519.verify(hexToBytes(signature), relayManifestMessage(bytes), hexToBytes(creator), {
      zip215: false,
    });
  } catch {}
  if (!ok) throw bad('the manifest is not signed by the expected creator');
  return { manifest: m, creator };
}

export class RelayClient {
  readonly url: string;
  readonly origin: string;
  readonly identity: PartyIdentity;
  readonly publicKey: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #webSocket: RelayWebSocketFactory | null;
  #token: string | null = null;
  #tokenExpires = 0;
  /** Starts from the clock so that a restarted process does not reuse a `clientSeq`. */
  #clientSeq = Date.now() * 1024;

  constructor(o: RelayClientOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.origin = o.origin ?? new URL(this.url).origin;
    this.identity = o.identity;
    this.publicKey = bytesToHex(o.identity.public.publicKey);
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    this.#fetch = o.fetch ?? ((...a) => fetch(...a));
    this.#webSocket = o.webSocket ?? null;
  }

  /** One JSON call; network failures and time-outs are `TRANSPORT`, refusals the relay's code. */
  async #call<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) headers.authorization = `Bearer ${await this.#bearer()}`;
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      throw new RelayError('TRANSPORT', `relay ${this.url} cannot be reached`, null, e);
    }
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {}
    if (!res.ok) {
      const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      throw new RelayError(
        typeof err?.code === 'string' ? err.code : 'RELAY_PROTOCOL',
        typeof err?.message === 'string' ? err.message : `relay answered ${res.status}`,
        res.status
      );
    }
    return json as T;
  }

  async #bearer(): Promise<string> {
    if (this.#token === null || Date.now() > this.#tokenExpires - 60_000) await this.login();
    return this.#token as string;
  }

  /** Logs in (challenge, signature, token). Called on demand by every room call. */
  async login(): Promise<void> {
    const { challenge } = await this.#call<{ challenge: string }>(
      'POST',
      '/v1/relay/challenge',
      {},
      false
    );
    const signature = ed25519.sign(
      relayLoginMessage(this.origin, hexToBytes(challenge)),
      this.identity.signingKey
    );
    const t = await this.#call<{ token: string; expiresAt: number }>(
      'POST',
      '/v1/relay/login',
      { publicKey: this.publicKey, challenge, signature: bytesToHex(signature) },
      false
    );
    this.#token = t.token;
    this.#tokenExpires = t.expiresAt;
  }

  /** Creates a room from a manifest this identity signs (it must be a member). */
  async createRoom(m: RoomManifest): Promise<CreatedRoom> {
    const bytes = utf8ToBytes(JSON.stringify(m));
    const signature = bytesToHex(
      ed25519.sign(relayManifestMessage(bytes), this.identity.signingKey)
    );
    const r = await this.#call<CreatedRoom>('POST', '/rooms', {
      manifest: toBase64(bytes),
      signature,
    });
    if (r.manifestHash !== bytesToHex(sha256(bytes)))
      throw new RelayError('RELAY_PROTOCOL', 'the relay answered another manifest hash');
    return r;
  }

  /**
   * A room's manifest, checked: its bytes must hash to `manifestHash` (known from elsewhere, e.g.
   * an invite), and its signature must be that of the member `creator` picks (hex key; null:
   * none fits).
   */
  async getRoom(
    roomId: string,
    expect: { manifestHash: string; creator: (m: RoomManifest) => string | null }
  ): Promise<{ manifest: RoomManifest; creator: string }> {
    const r = await this.#call<{ manifest: string; signature: string }>('GET', `/rooms/${roomId}`);
    const bytes = fromBase64(r.manifest);
    if (bytesToHex(sha256(bytes)) !== expect.manifestHash)
      throw new RelayError('RELAY_PROTOCOL', `room ${roomId}: another manifest`);
    return checkedManifest(roomId, bytes, r.signature, expect.creator);
  }

  /**
   * The open rooms that `creators` (hex keys, at most 16) created with this identity as a member,
   * newest first, each manifest checked to be signed by its creator. A room whose manifest does
   * not check is left out (the relay may lie; it cannot forge a creator's signature).
   */
  async invitations(
    creators: readonly string[]
  ): Promise<{ roomId: string; manifest: RoomManifest; manifestHash: string; creator: string }[]> {
    if (creators.length === 0) return [];
    const r = await this.#call<{
      rooms: { roomId: string; creator: string; manifest: string; signature: string }[];
    }>('GET', `/rooms?from=${creators.join(',')}`);
    const out = [];
    for (const x of r.rooms) {
      if (!creators.includes(x.creator)) continue;
      try {
        const bytes = fromBase64(x.manifest);
        const { manifest } = checkedManifest(x.roomId, bytes, x.signature, () => x.creator);
        if (!manifest.members.some((m) => m.publicKey === x.creator)) continue;
        out.push({
          roomId: x.roomId,
          manifest,
          manifestHash: bytesToHex(sha256(bytes)),
          creator: x.creator,
        });
      } catch {}
    }
    return out;
  }

  /**
   * Sends `envelope` to the member `to` (hex key), or to every other member when `to` is null.
   * Network failures are retried with the same `clientSeq` until `deadlineMs` (default 60 s).
   */
  async send(
    roomId: string,
    to: string | null,
    envelope: Uint8Array,
    opts: { deadlineMs?: number } = {}
  ): Promise<{ seq: number }> {
    const clientSeq = ++this.#clientSeq;
    const body = { clientSeq, envelope: toBase64(envelope) };
    const path = `/rooms/${roomId}/${to === null ? 'broadcast' : 'messages'}`;
    const deadline = Date.now() + (opts.deadlineMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#call<{ seq: number }>(
          'POST',
          path,
          to === null ? body : { to, ...body }
        );
      } catch (e) {
        const retry =
          e instanceof RelayError && (e.code === 'TRANSPORT' || e.code === 'UNAVAILABLE');
        if (!retry || Date.now() >= deadline) throw e;
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** Acknowledges everything up to `upTo` (the relay may then drop it). */
  async ack(roomId: string, upTo: number): Promise<void> {
    await this.#call('POST', `/rooms/${roomId}/ack`, { upTo });
  }

  /** A subscription to the room's messages addressed to this identity. */
  subscribe(roomId: string, opts: { after?: number; idleMs?: number } = {}): RelaySubscription {
    return new RelaySubscription(this, roomId, opts, (after, signal) =>
      this.#webSocket
        ? this.#openSocket(this.#webSocket, roomId, after, signal)
        : this.#openStream(roomId, after, signal)
    );
  }

  /**
   * The room's events over a WebSocket opened with a one-time ticket (no token in the URL),
   * presented as the SSE stream they mirror: each text frame becomes one `data:` event, so one
   * reader serves both.
   */
  async #openSocket(
    factory: RelayWebSocketFactory,
    roomId: string,
    after: number | null,
    signal: AbortSignal
  ): Promise<Response> {
    const { ticket } = await this.#call<{ ticket: string }>('POST', `/rooms/${roomId}/ticket`);
    const url = `${this.url.replace(/^http/, 'ws')}/rooms/${roomId}/ws?ticket=${ticket}${after === null ? '' : `&after=${after}`}`;
    const socket = factory(url, [WS_SUBPROTOCOL]);
    const enc = new TextEncoder();
    let opened = false;
    return new Promise<Response>((resolve, reject) => {
      const fail = (why: string) =>
        new RelayError('TRANSPORT', `relay WebSocket ${this.url}: ${why}`);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          socket.onmessage = (ev) => {
            const text = typeof ev.data === 'string' ? ev.data : String(ev.data);
            // Only events (they carry a seq); replies to frames we never send are ignored.
            if (!text.startsWith('{"seq"')) return;
            c.enqueue(enc.encode(`data: ${text}\n\n`));
          };
          socket.onclose = () => {
            if (!opened) reject(fail('closed before it opened'));
            try {
              c.close();
            } catch {}
          };
          socket.onerror = () => {
            if (!opened) reject(fail('cannot connect'));
            try {
              c.error(fail('broken'));
            } catch {}
          };
        },
        cancel() {
          socket.close(1000, 'done');
        },
      });
      socket.onopen = () => {
        opened = true;
        resolve(new Response(body, { headers: { 'content-type': 'text/event-stream' } }));
      };
      signal.addEventListener('abort', () => socket.close(1000, 'done'), { once: true });
    });
  }

  async #openStream(roomId: string, after: number | null, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      authorization: `Bearer ${await this.#bearer()}`,
    };
    if (after !== null) headers['last-event-id'] = String(after);
    const connect = AbortSignal.timeout(this.#timeoutMs);
    let res: Response;
    try {
      res = await this.#fetch(`${this.url}/rooms/${roomId}/subscribe`, {
        headers,
        signal: AbortSignal.any([signal, connect]),
      });
    } catch (e) {
      throw new RelayError('TRANSPORT', `relay ${this.url} cannot be reached`, null, e);
    }
    if (!res.ok) {
      let err: { code?: string; message?: string } | undefined;
      try {
        err = ((await res.json()) as { error?: typeof err }).error;
      } catch {}
      throw new RelayError(
        err?.code ?? 'RELAY_PROTOCOL',
        err?.message ?? `relay answered ${res.status}`,
        res.status
      );
    }
    return res;
  }
}

/** Refusals after which reconnecting cannot help. */
const FINAL = new Set([
  'ROOM_NOT_FOUND',
  'NOT_A_MEMBER',
  'UNAUTHORIZED',
  'SCHEMA',
  'RELAY_PROTOCOL',
]);

/**
 * Messages of one room, in `seq` order, each once. `next(timeoutMs)` waits for the next one;
 * the stream reconnects by itself. `close()` ends it (always call it: it holds a connection).
 */
export class RelaySubscription {
  readonly roomId: string;
  /** The last `seq` handed out by `next` (the resume point). */
  lastSeq: number | null;
  /** How many times the stream was (re)opened. */
  connections = 0;
  readonly #client: RelayClient;
  readonly #open: (after: number | null, signal: AbortSignal) => Promise<Response>;
  readonly #idleMs: number;
  readonly #queue: RelayMessage[] = [];
  readonly #stop = new AbortController();
  #failure: RelayError | null = null;
  #wake: (() => void) | null = null;
  /** The seq of the last event received (queued), so a reconnect does not ask for it again. */
  #received: number | null;

  constructor(
    client: RelayClient,
    roomId: string,
    opts: { after?: number; idleMs?: number },
    open: (after: number | null, signal: AbortSignal) => Promise<Response>
  ) {
    this.#client = client;
    this.roomId = roomId;
    this.lastSeq = opts.after ?? null;
    this.#received = this.lastSeq;
    this.#idleMs = opts.idleMs ?? 40_000;
    this.#open = open;
    void this.#run();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      const conn = new AbortController();
      const onStop = () => conn.abort();
      this.#stop.signal.addEventListener('abort', onStop);
      try {
        // Resume after what was received: queued events are delivered from memory, and the
        // relay's acknowledgement (Last-Event-ID) covers only what reached us.
        const res = await this.#open(this.#received, AbortSignal.any([conn.signal]));
        this.connections++;
        failures = 0;
        await this.#read(res, conn);
      } catch (e) {
        if (this.#stop.signal.aborted) break;
        if (e instanceof RelayError && FINAL.has(e.code)) {
          this.#failure = e;
          this.#notify();
          return;
        }
        failures++;
      } finally {
        this.#stop.signal.removeEventListener('abort', onStop);
        conn.abort();
      }
      if (this.#stop.signal.aborted) break;
      await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
    }
  }

  async #read(res: Response, conn: AbortController): Promise<void> {
    if (!res.body) throw new RelayError('TRANSPORT', 'the subscription has no body');
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => conn.abort(), this.#idleMs);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        buf += decoder.decode(value, { stream: true });
        let cut = buf.indexOf('\n\n');
        while (cut >= 0) {
          this.#event(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
          cut = buf.indexOf('\n\n');
        }
      }
    } finally {
      clearTimeout(idle);
      reader.cancel().catch(() => {});
    }
  }

  #event(block: string): void {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += data ? `\n${value}` : value;
    }
    if (event === 'closed') {
      this.#failure = new RelayError('ROOM_NOT_FOUND', 'the room closed');
      this.#stop.abort();
      this.#notify();
      return;
    }
    if (!data) return;
    const m = JSON.parse(data) as Omit<RelayMessage, 'envelope'> & { envelope: string };
    if (this.#received !== null && m.seq <= this.#received) return; // a replay we already have
    this.#received = m.seq;
    this.#queue.push({ ...m, envelope: fromBase64(m.envelope) });
    this.#notify();
  }

  /**
   * The next message, or `RelayError` `TIMEOUT` after `timeoutMs`, or the reason the stream
   * ended for good (`ROOM_NOT_FOUND`, …).
   */
  async next(timeoutMs: number): Promise<RelayMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.#queue.shift();
      if (m) {
        this.lastSeq = m.seq;
        return m;
      }
      if (this.#failure) throw this.#failure;
      if (this.#stop.signal.aborted) throw new RelayError('CLOSED', 'the subscription is closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new RelayError('TIMEOUT', 'no message from the relay in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Acknowledges what `next` handed out, then stops the stream. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#notify();
    if (this.lastSeq !== null) await this.#client.ack(this.roomId, this.lastSeq).catch(() => {});
  }
}
