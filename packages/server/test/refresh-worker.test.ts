/**
 * An ECDSA refresh runs its arithmetic on the compute workers (docs/security.md A-74: on the event
 * loop it stalled every request for seconds): its steps go to a worker, the new share comes back as
 * bytes, and the refreshed key signs what OpenSSL verifies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Dispatch } from '../src/compute.ts';
import { opensslVerifyEcdsa, type TestServer, testServer, toHex } from './helpers.ts';

describe('refresh on the compute workers', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer({ workers: 1 });
  });
  after(() => t.close());

  test('ECDSA refresh: its steps run on a worker, and the new shares sign', async () => {
    const c = await t.client('alice');
    const key = await c.createKey({ scheme: 'ecdsa' });
    const dispatched: Dispatch[] = [];
    t.srv.compute.onDispatch = (d) => void dispatched.push(d);
    const before = await c.getKey(key.keyId);
    const refreshed = await c.refresh(key.keyId);
    assert.notEqual(refreshed.epoch, before.epoch);
    const reshareSteps = dispatched.filter((d) => d.kind === 'step' && d.protocol === 'reshare');
    // Four rounds; the client may send several in one step, so at least two steps.
    assert.ok(reshareSteps.length >= 2, JSON.stringify(dispatched));
    // Worker 0 signs; worker 1 is the lane of key-generation and refresh steps (bulkWorkers).
    assert.ok(reshareSteps.every((d) => d.worker === 1 && d.subject === 'alice'));

    const message = new TextEncoder().encode('signed with the refreshed shares');
    const sig = await c.sign(key.keyId, { message: toHex(message), hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der as string), 'OpenSSL verifies');
    const info = await c.getKey(key.keyId);
    assert.equal(info.epoch, refreshed.epoch, 'the new epoch is current');
    assert.equal(info.publicKey, key.publicKey);
  });
});
