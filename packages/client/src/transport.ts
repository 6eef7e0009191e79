/**
 * How step requests reach the server: HTTP start/step calls or a WebSocket per session. Both
 * resend the identical request after a dropped connection, which the server answers with the
 * identical cached reply, so a reconnect resumes the session from its last round.
 * @module
 */
import {
  ERROR_STATUS,
  type ErrorBody,
  isErrorCode,
  type StepReplyResponse,
  type WsTicketResponse,
} from '@tessera/api';
import { TesseraError } from '@tessera/core';
import { ClientError, ServerError } from './errors.ts';

export interface HttpOptions {
  server: string;
  token: string | (() => Promise<string>);
  fetch?: typeof fetch;
}

/** JSON over HTTP with the bearer token; non-2xx answers become `ServerError`. */
export class Http {
  readonly server: string;
  readonly #token: HttpOptions['token'];
  readonly #fetch: typeof fetch;

  constructor(o: HttpOptions) {
    this.server = o.server.replace(/\/+$/, '');
    this.#token = o.token;
    this.#fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async token(): Promise<string> {
    return typeof this.#token === 'string' ? this.#token : this.#token();
  }

  async request<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    opts: { timeoutMs?: number } = {}
  ): Promise<T> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.server}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${await this.token()}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(opts.timeoutMs ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {}),
      });
    } catch (e) {
      throw new ClientError('TRANSPORT', `cannot reach ${this.server}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const ra = res.headers.get('retry-after');
      throw new ServerError(
        res.status,
        isErrorBody(json) ? json : null,
        ra ? Number(ra) : undefined
      );
    }
    return json as T;
  }
}

export const isErrorBody = (x: unknown): x is ErrorBody =>
  typeof x === 'object' && x !== null && typeof (x as ErrorBody).error?.code === 'string';

/** Sends one step (envelopes, base64) of a session and returns the server's reply. */
export interface StepTransport {
  step(sessionId: string, messages: string[]): Promise<StepReplyResponse>;
  close(): void;
}

/**
 * How long a start or step keeps retrying: long enough to ride out a server restart on a busy
 * host (a process restart with its store checks can take well over 10 s), short enough that a
 * server that is really gone is reported within a minute.
 */
const RESUME_WINDOW_MS = 30_000;
const RETRYABLE = new Set([
  'TRANSPORT',
  'SESSION_BUSY',
  'UNAVAILABLE',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_TIMEOUT',
]);

/**
 * Retries a step after a transport failure. The retry resends the identical request, which the
 * server answers with its cached reply if it had already processed it.
 */
async function withResume<T>(windowMs: number, fn: (attempt: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + windowMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      // A dropped connection, our own earlier copy of this request still being processed, the
      // server's store briefly unreachable (503: nothing uncommitted was kept), or a proxy in
      // front of the server that could not reach it (docs/proxy.md: an enclave restarting).
      const code = e instanceof TesseraError ? e.code : null;
      const retryable = code !== null && RETRYABLE.has(code);
      const after = (e as Partial<ServerError>).retryAfter;
      const asked = after ? after * 1000 : 0;
      const wait = Math.min(5_000, Math.max(asked, Math.min(2_000, 100 * 2 ** attempt)));
      if (!retryable || Date.now() + wait > deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * A session start, resent identically (same nonce and timestamp) after a lost reply or while the
 * server is still answering it: the server keeps each start's reply by its nonce and answers a
 * resend with it, so a lost reply never leaves a session nobody knows of holding the key.
 */
export function startSession<T>(http: Http, path: string, body: unknown): Promise<T> {
  return withResume(RESUME_WINDOW_MS, () => http.request<T>('POST', path, body));
}

export class HttpStepTransport implements StepTransport {
  readonly #http: Http;
  constructor(http: Http) {
    this.#http = http;
  }
  /** `relay`: in a 2-of-3 session, the other node's envelopes for this node, as it sent them. */
  step(sessionId: string, messages: string[], relay?: string[]): Promise<StepReplyResponse> {
    return withResume(RESUME_WINDOW_MS, () =>
      this.#http.request<StepReplyResponse>('POST', `/v1/sessions/${sessionId}/messages`, {
        messages,
        ...(relay?.length ? { relay } : {}),
      })
    );
  }
  close(): void {}
}

/** The WebSocket constructor shape both the browser's and `ws`'s satisfy. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onopen: ((ev: unknown) => void) | null;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

/**
 * One WebSocket per session, opened with a one-time ticket (no token in the URL). A dropped
 * socket is reopened with a new ticket and the pending request resent.
 */
export class WsStepTransport implements StepTransport {
  readonly #http: Http;
  readonly #factory: WebSocketFactory;
  #socket: WebSocketLike | null = null;
  #sessionId: string | null = null;
  /** Test hook: called after each send, may close the socket to simulate a drop. */
  afterSend: ((socket: WebSocketLike) => void) | null = null;

  constructor(http: Http, factory: WebSocketFactory) {
    this.#http = http;
    this.#factory = factory;
  }

  async #open(sessionId: string): Promise<WebSocketLike> {
    if (this.#socket && this.#sessionId === sessionId && this.#socket.readyState === 1)
      return this.#socket;
    this.close();
    const { ticket } = await this.#http.request<WsTicketResponse>(
      'POST',
      `/v1/sessions/${sessionId}/ticket`
    );
    const url = `${this.#http.server.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/ws?ticket=${ticket}`;
    const socket = this.#factory(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new ClientError('TRANSPORT', 'WebSocket connection failed'));
      socket.onclose = (ev) => reject(new ClientError('TRANSPORT', `WebSocket closed: ${ev.code}`));
    });
    this.#socket = socket;
    this.#sessionId = sessionId;
    return socket;
  }

  step(sessionId: string, messages: string[]): Promise<StepReplyResponse> {
    const request = JSON.stringify({ messages });
    return withResume(RESUME_WINDOW_MS, async () => {
      const socket = await this.#open(sessionId);
      return new Promise<StepReplyResponse>((resolve, reject) => {
        socket.onmessage = (ev) => {
          let body: unknown;
          try {
            body = JSON.parse(String(ev.data));
          } catch {
            reject(new ClientError('TRANSPORT', 'the server sent a frame that is not JSON'));
            return;
          }
          if (isErrorBody(body)) reject(new ServerError(statusOf(body.error.code), body));
          else resolve(body as StepReplyResponse);
        };
        socket.onclose = (ev) =>
          reject(new ClientError('TRANSPORT', `WebSocket closed: ${ev.code} ${ev.reason}`));
        socket.onerror = () => reject(new ClientError('TRANSPORT', 'WebSocket error'));
        if (socket.readyState !== 1) {
          reject(new ClientError('TRANSPORT', 'WebSocket is not open'));
          return;
        }
        socket.send(request);
        this.afterSend?.(socket);
      });
    });
  }

  close(): void {
    if (this.#socket) {
      this.#socket.onclose = null;
      this.#socket.onerror = null;
      this.#socket.onmessage = null;
      if (this.#socket.readyState <= 1) this.#socket.close(1000, 'done');
    }
    this.#socket = null;
    this.#sessionId = null;
  }
}

export const statusOf = (code: string): number => (isErrorCode(code) ? ERROR_STATUS[code] : 400);
