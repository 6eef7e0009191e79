/**
 * Redis, for what several instances must share but need not keep: rate-limit counters (the
 * rate-limit plugin's Redis store) and session events fanned out to every instance, so a
 * WebSocket held by one instance learns that another ended its session. Redis keeps nothing the
 * protocols depend on: while it is down the server keeps signing, rate limiting fails open or
 * closed as configured, and `/v1/health` says `degraded`.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from './config.ts';

/** A session reached a terminal state (on any instance). */
export interface SessionEnded {
  sessionId: string;
  status: 'done' | 'aborted';
}

export interface SessionEvents {
  publish(e: SessionEnded): void;
  subscribe(fn: (e: SessionEnded) => void): () => void;
  close(): Promise<void>;
}

/** One instance alone: events stay in the process. */
export class LocalSessionEvents implements SessionEvents {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(e: SessionEnded): void {
    this.emitter.emit('ended', e);
  }

  subscribe(fn: (e: SessionEnded) => void): () => void {
    this.emitter.on('ended', fn);
    return () => this.emitter.off('ended', fn);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** The connection to Redis: a command client and a subscriber (pub/sub needs its own). */
export class RedisLink {
  readonly client: Redis;
  readonly subscriber: Redis;
  readonly description: string;
  /** Prefix of every key and channel (several deployments may share one Redis). */
  readonly prefix: string;
  #lastPong = Date.now();
  readonly #monitor: NodeJS.Timeout;

  constructor(url: string, prefix: string, log: Logger) {
    this.description = redactUrl(url);
    this.prefix = prefix;
    const options = {
      // Fail a command at once while disconnected instead of queueing it behind the outage.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      commandTimeout: 1_000,
      retryStrategy: (times: number) => Math.min(times * 200, 2_000),
    };
    this.client = new Redis(url, options);
    this.subscriber = new Redis(url, { ...options, enableOfflineQueue: true });
    let wasUp = true;
    const onError = (e: Error) => {
      if (wasUp) log.warn({ redis: this.description, err: e.message }, 'redis unreachable');
      wasUp = false;
    };
    this.client.on('error', onError);
    this.subscriber.on('error', () => {});
    this.#monitor = setInterval(() => {
      this.client.ping().then(
        () => {
          this.#lastPong = Date.now();
          if (!wasUp) log.info({ redis: this.description }, 'redis reachable again');
          wasUp = true;
        },
        (e: Error) => onError(e)
      );
    }, 1_000);
    this.#monitor.unref();
  }

  /**
   * True while Redis answered a PING within the last 2.5 s: a connection can look open while
   * the network or Redis has stalled, and only an answer tells.
   */
  get up(): boolean {
    return this.client.status === 'ready' && Date.now() - this.#lastPong < 2_500;
  }

  async close(): Promise<void> {
    clearInterval(this.#monitor);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}

/** Several instances: events go through a Redis channel, and also straight to local listeners. */
export class RedisSessionEvents extends LocalSessionEvents {
  readonly #link: RedisLink;
  readonly #origin = randomBytes(8).toString('hex');
  readonly #channel: string;

  constructor(link: RedisLink) {
    super();
    this.#link = link;
    this.#channel = `${link.prefix}session-events`;
    void link.subscriber.subscribe(this.#channel).catch(() => {});
    link.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const m = parse(text);
      if (m && m.origin !== this.#origin) this.emitter.emit('ended', m.event);
    });
  }

  override publish(e: SessionEnded): void {
    super.publish(e);
    // Best effort: a missed event only leaves a socket open until its next request or idle end.
    this.#link.client
      .publish(this.#channel, JSON.stringify({ origin: this.#origin, event: e }))
      .catch(() => {});
  }
}

function parse(text: string): { origin: string; event: SessionEnded } | null {
  try {
    const m = JSON.parse(text) as { origin?: unknown; event?: Partial<SessionEnded> };
    const e = m.event;
    if (
      typeof m.origin === 'string' &&
      typeof e?.sessionId === 'string' &&
      (e.status === 'done' || e.status === 'aborted')
    )
      return { origin: m.origin, event: { sessionId: e.sessionId, status: e.status } };
  } catch {}
  return null;
}
