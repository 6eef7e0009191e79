/**
 * Per-address request counting in fixed windows, in memory only. The proxy keeps no state that
 * outlives the process; a restart forgets every count, which costs an attacker nothing it could
 * not get by waiting one window.
 *
 * Memory is bounded: at most `maxTracked` addresses. Windows are kept in the order they opened
 * (a window that opens again moves to the back), so the expired ones are always at the front and
 * are dropped as time passes, a few per call. When the table is full of live windows, the oldest
 * is dropped for the newcomer: an attacker with that many addresses resets someone's count rather
 * than locking new clients out (the co-signer's own per-IP and per-subject limits still apply).
 *
 * An IPv6 client counts as its /64 (one host usually holds a whole /64), an IPv4-mapped IPv6
 * address as its IPv4 address, as in the server.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the window ends (when refused). */
  retryAfter: number;
}

interface Window {
  start: number;
  count: number;
}

export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxTracked: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(o: { limit: number; windowMs: number; maxTracked: number; now?: () => number }) {
    this.#limit = o.limit;
    this.#windowMs = o.windowMs;
    this.#maxTracked = o.maxTracked;
    this.#now = o.now ?? Date.now;
  }

  /** Counts one request of `ip` and says whether it may pass. */
  hit(ip: string): RateDecision {
    const now = this.#now();
    this.#sweep(now);
    const key = clientKey(ip);
    let w = this.#windows.get(key);
    if (w === undefined || now - w.start >= this.#windowMs) {
      // A new window goes to the back of the order.
      this.#windows.delete(key);
      if (this.#windows.size >= this.#maxTracked) {
        const oldest = this.#windows.keys().next().value;
        if (oldest !== undefined) this.#windows.delete(oldest);
      }
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    }
    if (w.count >= this.#limit)
      return {
        allowed: false,
        retryAfter: Math.max(1, Math.ceil((w.start + this.#windowMs - now) / 1000)),
      };
    w.count++;
    return { allowed: true, retryAfter: 0 };
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#windows.size;
  }

  /** Drops expired windows from the front (at most a few per call, so no call is slow). */
  #sweep(now: number): void {
    let n = 0;
    for (const [key, w] of this.#windows) {
      if (now - w.start < this.#windowMs || n++ >= 64) return;
      this.#windows.delete(key);
    }
  }
}

/** The address a client is counted as: IPv4 as is, IPv6 as its /64. */
export function clientKey(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (v4 !== undefined) return v4;
  if (isIPv4(ip) || !isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address (an embedded IPv4 tail counts as two). */
function expandIPv6(ip: string): string[] {
  const [head = '', tail] = ip.toLowerCase().split('::');
  const parts = (s: string) =>
    s === ''
      ? []
      : s.split(':').flatMap((p) => {
          if (!p.includes('.')) return [p];
          const [a = 0, b = 0, c = 0, d = 0] = p.split('.').map(Number);
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const h = parts(head);
  const t = tail === undefined ? [] : parts(tail);
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((p) => p.replace(/^0+(?=.)/, ''));
}
