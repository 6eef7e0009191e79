/**
 * RelayClient against an in-process dev relay: a subscription whose SSE connection is cut after
 * each delivered event resumes with Last-Event-ID and loses nothing, repeats nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { RelayClient } from '@tessera/api/relay';
import { newPartyIdentity } from '@tessera/core';
import { loadRelayConfig, type RunningRelay, startRelay } from '@tessera/relay';
import { cuttingFetch } from './fixtures/cutting-fetch.ts';

let relay: RunningRelay;

before(async () => {
  relay = await startRelay(loadRelayConfig({ port: 0, dev: true }, {}), {
    logDestination: { write: () => true } as unknown as NodeJS.WritableStream,
  });
});

after(async () => {
  await relay?.close();
});

test('a subscription cut after every event resumes with Last-Event-ID: all messages, in order, once', async () => {
  const a = newPartyIdentity();
  const b = newPartyIdentity();
  const ca = new RelayClient({ url: relay.url, identity: a });
  const cb = new RelayClient({ url: relay.url, identity: b, fetch: cuttingFetch() });
  const room = bytesToHex(randomBytes(16));
  const member = (p: typeof a, role: string) => ({
    publicKey: bytesToHex(p.public.publicKey),
    x25519: bytesToHex(p.public.x25519),
    role,
  });
  await ca.createRoom({
    v: 1,
    roomId: room,
    protocol: 'test',
    members: [member(a, 'a'), member(b, 'b')],
    expiresAt: Date.now() + 600_000,
    maxBytes: 1 << 20,
  });
  const sub = cb.subscribe(room);
  try {
    const sent: number[] = [];
    for (let i = 0; i < 5; i++)
      sent.push((await ca.send(room, cb.publicKey, Uint8Array.of(i))).seq);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await sub.next(10_000);
      assert.equal(m.from, ca.publicKey);
      got.push(m.envelope[0] as number);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.ok(sub.connections >= 2, `reconnected (${sub.connections} connections)`);
    await assert.rejects(sub.next(300), { code: 'TIMEOUT' });
  } finally {
    await sub.close();
  }
});
