/**
 * Core's jobs on worker threads: the same bytes as in one thread (hashes, and whole key
 * generations from one seed), and a pool that fails says so instead of hanging or answering
 * wrongly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { secp256k1_hasher } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type KeyShare, nobleSecp256k1, useCoreWorkers, useSecp256k1Backend } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import {
  BackendUnavailable,
  libsecp256k1Built,
  loadLibsecp256k1,
  type NodeCoreWorkers,
  startCoreWorkers,
} from '@tessera/secp256k1-node';
import { encodeHashToCurveJob, hashToCurveJobResult } from '../../core/src/math/h2c-secp256k1.ts';

/** A deterministic RNG (SHA-256 counter mode): the same seed gives the same key generation. */
function seeded(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  const prefix = new TextEncoder().encode(`${seed}/`);
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = sha256(
        Uint8Array.of(...prefix, ...new TextEncoder().encode(String(counter++)))
      );
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

const keygen = (seed: string, parties: number): Promise<KeyShare[]> =>
  simulate.keygen('ecdsa', { threshold: 2, parties, rng: seeded(seed) });

const bytesOf = (shares: KeyShare[]) => shares.map((s) => s.toBytes());

describe('core workers', () => {
  let pool: NodeCoreWorkers;
  before(async () => {
    pool = await startCoreWorkers({ threads: 2 });
  });
  after(async () => {
    useCoreWorkers(null);
    useSecp256k1Backend(nobleSecp256k1);
    await pool.close();
  });

  test('a hash job on a thread gives noble’s points', () => {
    const dst = new TextEncoder().encode('tessera test dst');
    const msgs = Array.from({ length: 50 }, (_, i) => seeded('msgs')(i * 3));
    const wait = pool.post('hashToCurveSecp256k1', [encodeHashToCurveJob(dst, msgs)]);
    const [out] = wait();
    const got = hashToCurveJobResult(out as Uint8Array, msgs.length);
    msgs.forEach((m, i) => {
      const want = secp256k1_hasher.hashToCurve(m, { DST: dst });
      assert.ok(got[i]?.equals(want), `message ${i}`);
    });
  });

  test('key generations from one seed are byte-identical with and without threads, on both backends', async () => {
    const lib = libsecp256k1Built() || process.env.CI === 'true' ? [loadLibsecp256k1()] : [];
    for (const backend of [...lib, nobleSecp256k1]) {
      useSecp256k1Backend(backend);
      useCoreWorkers(null);
      const alone = bytesOf(await keygen(`seed/${backend.name}`, 2));
      useCoreWorkers(pool);
      const spread = bytesOf(await keygen(`seed/${backend.name}`, 2));
      assert.deepEqual(spread, alone, backend.name);
    }
    useSecp256k1Backend(lib[0] ?? nobleSecp256k1);
    useCoreWorkers(null);
    const alone3 = bytesOf(await keygen('seed/3', 3));
    useCoreWorkers(pool);
    assert.deepEqual(bytesOf(await keygen('seed/3', 3)), alone3, '2-of-3');
  });
});

describe('a pool that fails', () => {
  test('a job that throws on a thread is reported, and the pool is not used again', async () => {
    const pool = await startCoreWorkers({ threads: 1 });
    try {
      const wait = pool.post('hashToCurveSecp256k1', [Uint8Array.of(0, 1)]);
      assert.throws(
        wait,
        (e: unknown) => e instanceof BackendUnavailable && /core worker 0/.test(e.message)
      );
      assert.throws(() => pool.post('hashToCurveSecp256k1', []), /failed earlier/);
    } finally {
      await pool.close();
    }
  });

  test('a thread that is gone is a timeout, not a hang', async () => {
    const pool = await startCoreWorkers({ threads: 1, timeoutMs: 300 });
    await pool.close();
    const wait = pool.post('hashToCurveSecp256k1', [encodeHashToCurveJob(new Uint8Array(1), [])]);
    assert.throws(wait, /did not answer within 300 ms/);
  });

  test('an unknown job is refused by the thread', async () => {
    const pool = await startCoreWorkers({ threads: 1 });
    try {
      const wait = pool.post('nope' as 'hashToCurveSecp256k1', [new Uint8Array(0)]);
      assert.throws(wait, /unknown core job/);
    } finally {
      await pool.close();
    }
  });

  test('more inputs than threads, or a bad size, are refused', async () => {
    await assert.rejects(startCoreWorkers({ threads: 0 }), RangeError);
    const pool = await startCoreWorkers({ threads: 1 });
    try {
      assert.throws(
        () => pool.post('hashToCurveSecp256k1', [new Uint8Array(0), new Uint8Array(0)]),
        RangeError
      );
    } finally {
      await pool.close();
    }
  });
});
