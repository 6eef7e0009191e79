/**
 * The per-address counter on a clock of the test's own: the limit within a window, a new window
 * after it, `Retry-After` as the rest of the window, the table bounded (the oldest window goes),
 * expired windows dropped as time passes, and IPv6 clients counted by their /64.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey, RateLimiter } from '../src/ratelimit.ts';

test('the limit holds within a window and resets after it', () => {
  const clock = { now: 0 };
  const rl = new RateLimiter({ limit: 3, windowMs: 60_000, maxTracked: 10, now: () => clock.now });
  for (let i = 0; i < 3; i++) assert.equal(rl.hit('1.2.3.4').allowed, true);
  clock.now = 15_000;
  assert.deepEqual(rl.hit('1.2.3.4'), { allowed: false, retryAfter: 45 });
  assert.equal(rl.hit('5.6.7.8').allowed, true, 'another address has its own count');
  clock.now = 60_000;
  assert.equal(rl.hit('1.2.3.4').allowed, true, 'a new window');
});

test('memory is bounded: at most maxTracked addresses, expired windows dropped', () => {
  const clock = { now: 0 };
  const rl = new RateLimiter({ limit: 1, windowMs: 1_000, maxTracked: 100, now: () => clock.now });
  for (let i = 0; i < 1_000; i++) rl.hit(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(rl.size, 100);
  // The newest addresses are still counted; the oldest were dropped for them.
  assert.equal(rl.hit('10.0.3.231').allowed, false);
  clock.now = 5_000;
  rl.hit('192.0.2.1');
  rl.hit('192.0.2.2');
  assert.ok(rl.size <= 100 - 64 + 2, `expired windows are swept (${rl.size} left)`);
});

test('an IPv6 client counts as its /64, an IPv4-mapped one as its IPv4 address', () => {
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002:0:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  const rl = new RateLimiter({ limit: 1, windowMs: 60_000, maxTracked: 10 });
  assert.equal(rl.hit('2001:db8:1:2::1').allowed, true);
  assert.equal(rl.hit('2001:db8:1:2::2').allowed, false, 'the same /64');
  assert.equal(rl.hit('2001:db8:1:3::1').allowed, true, 'another /64');
});
