/**
 * The compute pool (compute.ts): a signing session whose server half runs on a worker thread
 * gives the same outcomes as one that runs on the event loop — a signature OpenSSL accepts, the
 * same abort (class, check, culprit) for a tampered message, the pair ban carried back — and a
 * worker that lost a share gets its bytes again.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  decodeEnvelope,
  type EcdsaSignature,
  type EcdsaSignSession,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  KeyShare,
  type TesseraError,
} from '@tessera/core';
import { memoryLedgerForTests, memoryPairGuardForTests, simulate } from '@tessera/core/testing';
import { slowTypedData } from '../../api/test/fixtures/typed-data.ts';
import { ComputePool, type ShareInput, type StepOutcome } from '../src/compute.ts';
import { opensslVerifyEcdsa, toHex } from './helpers.ts';

let shares: KeyShare[];
const pools = { worker: new ComputePool(1), loop: new ComputePool(0) };
/** Every job here is one subject's, on one key's worker. */
const route = { affinity: 'key', subject: 'alice' };

before(async () => {
  shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
});
after(async () => {
  await pools.worker.close();
});

/** OpenSSL (node:crypto) checks the DER signature over SHA-256 of `message`. */
const opensslVerifies = (publicKey: Uint8Array, message: Uint8Array, der: Uint8Array) =>
  opensslVerifyEcdsa(toHex(publicKey), message, toHex(der));

interface Run {
  signature?: EcdsaSignature;
  /** Single-use ids the server half consumed, over all its steps. */
  nonces: string[];
  /** The server half's last outcome. */
  last: StepOutcome;
}

/**
 * Signs `message` with party 1 in this test (the core directly) and party 2 through `pool`;
 * `tamper` may change party 1's envelopes on their way to party 2.
 */
async function sign(
  pool: ComputePool,
  share2: ShareInput,
  message: Uint8Array,
  tamper: (e: Envelope) => Envelope = (e) => e
): Promise<Run> {
  const [p1, p2] = shares.map((s) => KeyShare.fromBytes(s.toBytes())) as [KeyShare, KeyShare];
  const digest = new Uint8Array(createHash('sha256').update(message).digest());
  const rid = new Uint8Array(randomBytes(32));
  const signers = [1, 2];
  const server = await pool.signStart(
    { share: share2, signers, rid, digest },
    route,
    pool.size === 0 ? p2 : undefined
  );
  let state: Uint8Array | null = server.state;
  let toClient = server.out;
  const ledger = memoryLedgerForTests();
  const pairGuard = memoryPairGuardForTests();
  const client = ecdsaSign.start({ share: p1, signers, rid, digest }, { ledger });
  let session: EcdsaSignSession = client.session;
  let toServer = client.out;
  let last: StepOutcome | undefined;
  let signature: EcdsaSignature | undefined;
  const nonces = [...server.nonces];
  for (let round = 1; round <= 3; round++) {
    const envelopes = toServer.map((e) => encodeEnvelope(tamper(e)));
    last = await pool.step(
      {
        protocol: 'ecdsa.sign',
        state: state as Uint8Array,
        envelopes,
        share: share2,
        guard: ecdsaSign.guardedRounds.includes(round) ? 'ok' : 'refuse',
        sender: 1,
      },
      route,
      pool.size === 0 ? p2 : undefined
    );
    nonces.push(...last.nonces);
    if (last.kind !== 'ok') return { last, nonces };
    state = last.state;
    const next: Envelope[] = [];
    for (const raw of toClient) {
      const s = ecdsaSign.receive(session, decodeEnvelope(raw), {
        share: p1,
        sender: 2,
        ledger,
        pairGuard,
      });
      session = s.session;
      next.push(...s.out);
      if (s.result) signature = s.result;
    }
    toServer = next;
    toClient = last.out;
  }
  const server3 = last as Extract<StepOutcome, { kind: 'ok' }>;
  assert.equal(server3.state, null, 'the server half finished');
  assert.deepEqual(server3.result, signature, 'both halves output the same signature');
  return { signature: signature as EcdsaSignature, last: server3, nonces };
}

const input = (digest = 'the-share'): ShareInput => ({
  digest,
  bytes: (shares[1] as KeyShare).toBytes(),
});

describe('ComputePool', () => {
  for (const [where, pool] of Object.entries(pools)) {
    it(`signs on the ${where === 'worker' ? 'worker thread' : 'event loop'}: OpenSSL verifies`, async () => {
      const message = new TextEncoder().encode(`compute pool ${where}`);
      const run = await sign(pool, input(), message);
      const sig = run.signature as EcdsaSignature;
      assert.equal(opensslVerifies((shares[0] as KeyShare).publicKey, message, sig.der), true);
      assert.ok(run.nonces.length > 0, 'the consumed single-use ids come back');
      assert.equal(new Set(run.nonces).size, run.nonces.length);
    });

    it(`a tampered M1 aborts naming party 1 and bans the pair (${where})`, async () => {
      const run = await sign(pool, input(`tampered-${where}`), new Uint8Array(3), (e) => {
        if (e.round !== 1 || e.to === 0) return e;
        const body = e.body.slice();
        body[100] = (body[100] as number) ^ 1;
        return { ...e, body };
      });
      assert.equal(run.last.kind, 'error');
      // A worker's error arrives as a copy of its data: its code says what it is.
      const error = (run.last as Extract<StepOutcome, { kind: 'error' }>).error as TesseraError;
      assert.equal(error.code, 'PROTOCOL_ABORT', `${error.name}: ${error.message}`);
      assert.equal(error.check, 'OteConsistency');
      assert.equal(error.culprit, 1);
      assert.equal(run.last.banned, true, 'the marker becomes a ban');
      const banned = KeyShare.fromBytes(run.last.bannedShare as Uint8Array);
      assert.deepEqual(banned.bannedPeers, [1], 'the share to persist records the ban');
    });
  }

  it('sends a share again to a worker that evicted it', async () => {
    const pool = new ComputePool(1);
    try {
      const first = input('evicted');
      await sign(pool, first, new Uint8Array(1));
      // 64 other shares (same bytes, other names) push the first out of the worker's cache.
      for (let i = 0; i < 64; i++)
        await pool.signStart(
          {
            share: input(`filler-${i}`),
            signers: [1, 2],
            rid: new Uint8Array(32),
            digest: new Uint8Array(32),
          },
          route
        );
      const message = new Uint8Array([7]);
      const run = await sign(
        pool,
        { digest: 'evicted', bytes: first.bytes as Uint8Array },
        message
      );
      assert.equal(
        opensslVerifies(
          (shares[0] as KeyShare).publicKey,
          message,
          (run.signature as EcdsaSignature).der
        ),
        true
      );
    } finally {
      await pool.close();
    }
  });

  it('a payload over its budget terminates its worker; the next job runs on a new one', async () => {
    const pool = new ComputePool(1);
    try {
      const payload = { kind: 'eip712', typedData: slowTypedData() } as const;
      // Within budget once the worker has loaded (its start does not count).
      const hashed = await pool.payload({ scheme: 'ecdsa', payload }, route, 30_000);
      assert.equal(hashed.bytes.length, 32);
      await assert.rejects(
        pool.payload({ scheme: 'ecdsa', payload }, route, 1),
        (e) => (e as TesseraError).code === 'COMPUTE_TIMEOUT'
      );
      const message = new Uint8Array([9]);
      const run = await sign(pool, input('after-timeout'), message);
      assert.equal(
        opensslVerifies(
          (shares[0] as KeyShare).publicKey,
          message,
          (run.signature as EcdsaSignature).der
        ),
        true
      );
    } finally {
      await pool.close();
    }
  });

  it('with a payload lane, a payload over its budget terminates only the payload worker: signing jobs stay on theirs', async () => {
    const pool = new ComputePool(1, undefined, { payloadWorkers: 1 });
    const dispatched: string[] = [];
    pool.onDispatch = (d) => dispatched.push(`${d.kind}@${d.worker}`);
    try {
      const payload = { kind: 'eip712', typedData: slowTypedData() } as const;
      const first = await sign(pool, input('lane-1'), new Uint8Array([1]));
      assert.ok(first.signature);
      await pool.payload({ scheme: 'ecdsa', payload }, route, 30_000); // the lane has loaded
      await assert.rejects(
        pool.payload({ scheme: 'ecdsa', payload }, route, 1),
        (e) => (e as TesseraError).code === 'COMPUTE_TIMEOUT'
      );
      const message = new Uint8Array([2]);
      const after = await sign(pool, input('lane-2'), message);
      assert.ok(
        opensslVerifies(
          (shares[0] as KeyShare).publicKey,
          message,
          (after.signature as EcdsaSignature).der
        )
      );
      assert.ok(dispatched.filter((d) => d.startsWith('payload')).every((d) => d.endsWith('@1')));
      assert.ok(dispatched.filter((d) => !d.startsWith('payload')).every((d) => d.endsWith('@0')));
    } finally {
      await pool.close();
    }
  });

  it('a worker that dies mid-job fails the job with ComputeFailed (the engine bans the pair)', async () => {
    const pool = new ComputePool(1, import.meta.resolve('./fixtures/dying-worker.ts'));
    try {
      await assert.rejects(
        pool.signStart(
          { share: input(), signers: [1, 2], rid: new Uint8Array(32), digest: new Uint8Array(32) },
          route
        ),
        (e) =>
          (e as TesseraError).code === 'COMPUTE_FAILED' &&
          /exited with code 3/.test((e as Error).message)
      );
    } finally {
      await pool.close();
    }
  });
});
