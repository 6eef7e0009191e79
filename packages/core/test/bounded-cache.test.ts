import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedCache } from '@tessera/core';

describe('BoundedCache', () => {
  it('keeps at most its capacity, dropping the least recently used entry', () => {
    const dropped: string[] = [];
    const c = new BoundedCache<string, number>(2, { onEvict: (k) => dropped.push(k) });
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1); // a is now the most recently used
    c.set('c', 3);
    assert.equal(c.size, 2);
    assert.equal(c.get('b'), undefined);
    assert.deepEqual(dropped, ['b']);
    c.set('a', 10); // a replacement drops nothing
    assert.deepEqual(dropped, ['b']);
    assert.equal(c.get('a'), 10);
  });

  it('makes a missing value once', () => {
    const c = new BoundedCache<number, number>(4);
    let made = 0;
    const make = (k: number) => {
      made++;
      return k * 2;
    };
    assert.equal(c.getOrCreate(3, make), 6);
    assert.equal(c.getOrCreate(3, make), 6);
    assert.equal(made, 1);
  });

  it('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new BoundedCache(0), RangeError);
    assert.throws(() => new BoundedCache(1.5), RangeError);
  });
});
