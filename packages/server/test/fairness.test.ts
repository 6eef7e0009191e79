/**
 * Fairness of the compute pool (docs/security.md A-74): a worker takes one job at a time from a queue on the
 * loop, signing jobs before key generation and refresh steps and subjects in turn, so another
 * tenant's signature waits for at most the one long job already running. The order is observed
 * where the jobs arrive, in a worker that records it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ProtocolNameValue } from '@tessera/api';
import { BULK_EVERY, ComputePool, FairQueue, type StepOutcome } from '../src/compute.ts';

const RECORDING = import.meta.resolve('./fixtures/recording-worker.ts');
const pool = new ComputePool(1, RECORDING);
after(() => pool.close());

/** A step job whose state carries its label (the recording worker echoes it back). */
const job = (protocol: ProtocolNameValue, subject: string, label: string, on = pool) =>
  on.step(
    {
      protocol,
      state: new TextEncoder().encode(label),
      envelopes: [],
      guard: 'none',
      sender: 1,
    },
    { affinity: `key-of-${subject}`, subject }
  );

/** The labels in the order the worker received them. */
async function arrivals(jobs: Promise<StepOutcome>[]): Promise<string[]> {
  const outcomes = await Promise.all(jobs);
  return outcomes
    .map((o) => (o as Extract<StepOutcome, { kind: 'violation' }>).why.split(' '))
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([, label]) => label as string);
}

describe('compute pool fairness', () => {
  it("another subject's signing step goes before one subject's queued key generations", async () => {
    const order = await arrivals([
      job('dkg', 'a', 'a-dkg-1'),
      job('dkg', 'a', 'a-dkg-2'),
      job('dkg', 'a', 'a-dkg-3'),
      job('reshare', 'a', 'a-reshare'),
      job('ecdsa.sign', 'b', 'b-sign'),
    ]);
    // The first key generation step was running when the signature came; nothing else was.
    assert.deepEqual(order, ['a-dkg-1', 'b-sign', 'a-dkg-2', 'a-dkg-3', 'a-reshare']);
  });

  it('subjects take turns within a class', async () => {
    const order = await arrivals([
      job('ecdsa.sign', 'a', 'a1'),
      job('ecdsa.sign', 'a', 'a2'),
      job('frost.sign', 'a', 'a3'),
      job('ecdsa.sign', 'b', 'b1'),
      job('ecdsa.sign', 'c', 'c1'),
      job('ecdsa.sign', 'b', 'b2'),
    ]);
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'c1', 'a3', 'b2']);
  });

  it('the queue on its own: signing first, then round robin by subject', () => {
    const q = new FairQueue<string>();
    q.push('bulk', 'a', 'a-dkg');
    q.push('sign', 'a', 'a-sign-1');
    q.push('sign', 'a', 'a-sign-2');
    q.push('sign', 'b', 'b-sign');
    q.push('bulk', 'b', 'b-dkg');
    const out: (string | undefined)[] = [];
    while (q.size > 0) out.push(q.shift());
    assert.deepEqual(out, ['a-sign-1', 'b-sign', 'a-sign-2', 'a-dkg', 'b-dkg']);
    assert.equal(q.shift(), undefined);
  });

  it('with a worker lane for long jobs, a signature does not wait for a key-generation step that is running; without one it does', async () => {
    for (const bulkWorkers of [1, 0]) {
      const lanes = new ComputePool(1, RECORDING, { bulkWorkers });
      const finished: string[] = [];
      const run = (protocol: ProtocolNameValue, subject: string, label: string) =>
        job(protocol, subject, label, lanes).then(() => finished.push(label));
      // Both workers loaded first: what follows is about queueing, not start-up.
      await Promise.all([run('dkg', 'a', 'warm-dkg'), run('ecdsa.sign', 'b', 'warm-sign')]);
      finished.length = 0;
      const workers: number[] = [];
      lanes.onDispatch = (d) => workers.push(d.worker);
      const dkg = run('dkg', 'a', 'slow-dkg');
      // The key generation step is running (or about to) when the signature arrives.
      await new Promise((r) => setTimeout(r, 50));
      await Promise.all([dkg, run('ecdsa.sign', 'b', 'sign')]);
      await lanes.close();
      if (bulkWorkers === 1) {
        assert.deepEqual(finished, ['sign', 'slow-dkg'], 'the signature did not wait');
        assert.deepEqual(workers, [1, 0], 'the key generation ran on the lane of its own');
      } else {
        assert.deepEqual(finished, ['slow-dkg', 'sign'], 'one shared worker: it waited');
      }
    }
  });

  it('a steady flow of signatures does not starve a waiting key generation: it gets every BULK_EVERY-th turn', () => {
    const q = new FairQueue<string>();
    q.push('bulk', 'a', 'dkg-1');
    q.push('bulk', 'a', 'dkg-2');
    const taken: string[] = [];
    for (let i = 0; i < 3 * (BULK_EVERY + 1); i++) {
      q.push('sign', `s${i % 3}`, `sign-${i}`);
      q.push('sign', `s${(i + 1) % 3}`, `sign-${i}'`);
      taken.push(q.shift() as string);
    }
    const at = (label: string) => taken.indexOf(label);
    assert.equal(at('dkg-1'), BULK_EVERY, 'after BULK_EVERY signing jobs');
    assert.equal(at('dkg-2'), 2 * BULK_EVERY + 1, 'and again BULK_EVERY later');
  });
});
