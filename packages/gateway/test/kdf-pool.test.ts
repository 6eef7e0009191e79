/**
 * The Argon2id pool: the same key as Argon2id on the loop; the loop stays free while it hashes;
 * a full queue refuses at once with 503 BUSY and Retry-After; closing rejects what waits.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { argon2id } from '@noble/hashes/argon2.js';
import { KdfPool } from '../src/kdf-pool.ts';
import { DEFAULT_KDF_PARAMS } from '../src/secret.ts';

const salt = new Uint8Array(16).fill(7);
const pool = new KdfPool({ size: 1, maxQueue: 2 });
after(() => pool.close());

test('a worker derives what Argon2id derives on the loop (password as NFC)', async () => {
  const key = await pool.derive('cafe\u0301', salt, DEFAULT_KDF_PARAMS);
  assert.deepEqual(key, argon2id('caf\u00e9', salt, { ...DEFAULT_KDF_PARAMS, dkLen: 32 }));
});

test('the event loop stays free while workers hash', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  await pool.derive('a password', salt, DEFAULT_KDF_PARAMS);
  clearInterval(timer);
  assert.ok(ticks >= 5, `only ${ticks} ticks of 10 ms during a derivation`);
});

test('a full queue refuses at once with BUSY and a Retry-After', async () => {
  const jobs = [1, 2, 3].map((i) => pool.derive(`p${i}`, salt, DEFAULT_KDF_PARAMS));
  // One runs, two wait: the fourth finds the queue full.
  await assert.rejects(
    pool.derive('p4', salt, DEFAULT_KDF_PARAMS),
    (e: Error & { code?: string; status?: number; retryAfter?: number }) => {
      assert.equal(e.code, 'BUSY');
      assert.equal(e.status, 503);
      assert.equal(e.retryAfter, 1);
      return true;
    }
  );
  await Promise.all(jobs);
});

test('closing rejects the jobs still waiting', async () => {
  const p = new KdfPool({ size: 1, maxQueue: 4 });
  const jobs = [1, 2, 3].map((i) =>
    p.derive(`q${i}`, salt, DEFAULT_KDF_PARAMS).then(
      () => 'ok',
      (e: Error & { code?: string }) => e.code
    )
  );
  await p.close();
  const codes = await Promise.all(jobs);
  assert.ok(codes.includes('BUSY'), codes.join());
});
