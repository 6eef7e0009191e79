/**
 * The system CSPRNG wrapper: small requests are cut from a block drawn ahead, so these check that
 * every request gets its own fresh bytes across block boundaries, and that the health check holds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertRngHealthy, systemRng } from '../src/rng.ts';
import { hex } from './helpers.ts';

describe('systemRng', () => {
  test('every size from 0 to 300 bytes, over several blocks: right lengths, no draw repeats', () => {
    const seen = new Set<string>();
    let total = 0;
    for (let round = 0; round < 4; round++) {
      for (let n = 0; n <= 300; n++) {
        const b = systemRng(n);
        assert.ok(b instanceof Uint8Array);
        assert.equal(b.length, n);
        total += n;
        if (n >= 16) {
          assert.ok(!seen.has(hex(b)), `a ${n}-byte draw repeated`);
          seen.add(hex(b));
        }
      }
    }
    assert.ok(total > 4 * 8192, 'the draws crossed several blocks');
  });

  test('a draw is its own copy: writing to it changes no later draw', () => {
    const a = systemRng(48);
    a.fill(0);
    const b = systemRng(48);
    assert.ok(b.some((x) => x !== 0));
    assert.equal(a.buffer === b.buffer, false);
  });

  test('bytes look uniform: each value within 6 sigma of its mean over 256 KiB', () => {
    const counts = new Array<number>(256).fill(0);
    let n = 0;
    while (n < 262_144) {
      for (const x of systemRng(48)) counts[x] = (counts[x] as number) + 1;
      n += 48;
    }
    const mean = n / 256;
    const sigma = Math.sqrt(mean * (1 - 1 / 256));
    for (const c of counts) assert.ok(Math.abs(c - mean) < 6 * sigma, `count ${c}, mean ${mean}`);
  });

  test('large and invalid sizes go to the platform, which refuses the invalid ones', () => {
    assert.equal(systemRng(5000).length, 5000);
    assert.throws(() => systemRng(-1), RangeError);
    assert.throws(() => systemRng(1.5), RangeError);
  });

  test('the health check passes on it and fails on a constant source', () => {
    assertRngHealthy(systemRng);
    assert.throws(() => assertRngHealthy((n) => new Uint8Array(n)), /INSECURE_RNG/);
  });

  test('the default health check calls the platform twice: a platform that repeats itself fails', () => {
    const real = globalThis.crypto.getRandomValues;
    // Every call returns the same non-constant bytes: two slices of one block would differ.
    const repeating = <T extends ArrayBufferView | null>(a: T): T => {
      if (!a) return a;
      const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      for (let i = 0; i < b.length; i++) b[i] = i;
      return a;
    };
    Object.defineProperty(globalThis.crypto, 'getRandomValues', {
      value: repeating,
      configurable: true,
      writable: true,
    });
    try {
      assert.throws(() => assertRngHealthy(), /INSECURE_RNG/);
    } finally {
      Object.defineProperty(globalThis.crypto, 'getRandomValues', {
        value: real,
        configurable: true,
        writable: true,
      });
    }
    assertRngHealthy();
  });
});
