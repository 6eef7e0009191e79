/**
 * Hourly per-subject quotas of session starts (`limits.keygensPerHourPerSubject`,
 * `signsPerHourPerSubject`). A start takes a unit before its work and gives it back if it is not
 * accepted, so that refused requests (a stale timestamp, an unsupported curve, a policy
 * refusal) cost the subject nothing. Counted in Redis when there is one, so that every instance
 * shares the count; in this process otherwise.
 * @module
 */

import { ApiError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import type { RedisLink } from './redis.ts';

const WINDOW_MS = 3600_000;
/** Local counters above this many are swept of expired windows. */
const SWEEP_AT = 10_000;

/** A unit taken from a quota: `refund` gives it back (at most once). */
export interface QuotaUnit {
  refund(): Promise<void>;
}

/**
 * INCR with the window set on the first unit; over the limit the unit is given back at once.
 * Answers [taken (1/0), milliseconds left in the window].
 */
const TAKE = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return {0, ttl} end
return {1, ttl}`;
/** A refund after the window ended would open the next window below zero: only while it lasts. */
const REFUND = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0`;

export class SubjectQuota {
  readonly #redis: RedisLink | null;
  readonly #failOpen: boolean;
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #local = new Map<string, { count: number; resetAt: number }>();

  constructor(o: {
    redis: RedisLink | null;
    /** Redis unreachable: count nothing and let the start through (else 503). */
    failOpen: boolean;
    metrics: Metrics;
    now?: () => number;
  }) {
    this.#redis = o.redis;
    this.#failOpen = o.failOpen;
    this.#metrics = o.metrics;
    this.#now = o.now ?? Date.now;
  }

  /** Takes a unit of `scope` for `subject`, or refuses with 429 and the seconds to wait. */
  async take(scope: string, subject: string, max: number): Promise<QuotaUnit> {
    const key = `${scope}:${subject}`;
    const { taken, msLeft } = this.#redis
      ? await this.#takeShared(key, max)
      : this.#takeLocal(key, max);
    if (!taken) {
      this.#metrics.rateLimited.inc({ scope: 'subject' });
      const retryAfter = Math.max(1, Math.ceil(msLeft / 1000));
      throw new ApiError(
        'RATE_LIMITED',
        `${scope} limit of ${max} per hour reached; retry in ${retryAfter} s`,
        { retryAfter }
      );
    }
    let refunded = false;
    return {
      refund: async () => {
        if (refunded || msLeft < 0) return;
        refunded = true;
        if (this.#redis) await this.#refundShared(key);
        else this.#refundLocal(key);
      },
    };
  }

  #takeLocal(key: string, max: number): { taken: boolean; msLeft: number } {
    const now = this.#now();
    if (this.#local.size > SWEEP_AT)
      for (const [k, w] of this.#local) if (w.resetAt <= now) this.#local.delete(k);
    let w = this.#local.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + WINDOW_MS };
      this.#local.set(key, w);
    }
    if (w.count >= max) return { taken: false, msLeft: w.resetAt - now };
    w.count++;
    return { taken: true, msLeft: w.resetAt - now };
  }

  #refundLocal(key: string): void {
    const w = this.#local.get(key);
    if (w && w.resetAt > this.#now() && w.count > 0) w.count--;
  }

  /** `msLeft` is -1 when Redis could not count (fail open): nothing to refund then. */
  async #takeShared(key: string, max: number): Promise<{ taken: boolean; msLeft: number }> {
    const redis = this.#redis as RedisLink;
    try {
      const [taken, ttl] = (await redis.client.eval(
        TAKE,
        1,
        `${redis.prefix}quota:${key}`,
        max,
        WINDOW_MS
      )) as [number, number];
      return { taken: taken === 1, msLeft: ttl };
    } catch {
      if (this.#failOpen) return { taken: true, msLeft: -1 };
      throw new ApiError(
        'UNAVAILABLE',
        'rate limiting is unavailable (Redis is unreachable) and configured to fail closed',
        { retryAfter: 2 }
      );
    }
  }

  async #refundShared(key: string): Promise<void> {
    const redis = this.#redis as RedisLink;
    // A refund lost to a Redis fault leaves the unit spent: the safe side of a quota.
    await redis.client.eval(REFUND, 1, `${redis.prefix}quota:${key}`).catch(() => {});
  }
}
