/**
 * Node-to-node envelopes (docs/topologies.md, "Node envelopes"): what node 1 sends node 2 through
 * the client opens only at node 2, only in its session, and not at all once any byte changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeEnvelope, type Envelope, encodeEnvelope } from '@tessera/core';
import fc from 'fast-check';
import type { ServerConfig } from '../src/config.ts';
import { Sealer } from '../src/custody.ts';
import { NodeEnvelopeRejected, openNodeEnvelope, sealNodeEnvelope } from '../src/node/envelope.ts';
import { fingerprintOf, NodeIdentity } from '../src/node/identity.ts';
import { topologyStart } from '../src/node/topology.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';

async function identity(nodeId: 'node1' | 'node2'): Promise<NodeIdentity> {
  const store = openSqliteStore('sqlite::memory:');
  await store.init();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-id-'));
  return NodeIdentity.open(
    nodeId,
    store,
    new Sealer(new Uint8Array(32).fill(7)),
    join(dir, 'id.json')
  );
}

const node1 = await identity('node1');
const node2 = await identity('node2');
const other2 = await identity('node2');
const SID = 'a1'.repeat(32);

const envelope = (to: number, o: Partial<Envelope> = {}): Uint8Array =>
  encodeEnvelope({
    v: 1,
    proto: 'dkg.ecdsa',
    sid: SID,
    round: 2,
    from: 2,
    to,
    body: new Uint8Array(300).fill(9),
    ...o,
  });
const at2 = { sid: SID, proto: 'dkg.ecdsa', peerParty: 2, peer: node1.public };

test('a sealed envelope opens at its recipient to the same core envelope', () => {
  const core = envelope(3);
  const wire = sealNodeEnvelope(node1, node2.public, core);
  assert.deepEqual(encodeEnvelope(openNodeEnvelope(node2, at2, wire)), core);
  // The body is not in the clear.
  assert.equal(Buffer.from(wire).includes(Buffer.from(new Uint8Array(300).fill(9))), false);
});

test('a broadcast is signed, readable, and opens at the peer', () => {
  const core = envelope(0);
  const wire = sealNodeEnvelope(node1, node2.public, core);
  assert.deepEqual(encodeEnvelope(openNodeEnvelope(node2, at2, wire)), core);
});

test('any flipped bit of a sealed or broadcast envelope is rejected', () => {
  for (const to of [0, 3]) {
    const wire = sealNodeEnvelope(node1, node2.public, envelope(to));
    fc.assert(
      fc.property(fc.nat(wire.length - 1), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const bad = wire.slice();
        bad[at] = (bad[at] as number) ^ (1 << bit);
        assert.throws(() => openNodeEnvelope(node2, at2, bad), NodeEnvelopeRejected);
      }),
      { numRuns: 1000 }
    );
  }
});

test('every header field is checked against the session and the pinned peer', () => {
  const sealed = sealNodeEnvelope(node1, node2.public, envelope(3));
  // Another session, another protocol, another peer party or identity: refused.
  for (const expect of [
    { ...at2, sid: 'b2'.repeat(32) },
    { ...at2, proto: 'dkg' },
    { ...at2, peerParty: 1 },
    { ...at2, peer: other2.public },
  ])
    assert.throws(() => openNodeEnvelope(node2, expect, sealed), NodeEnvelopeRejected);
  // Sealed to another node 2 (a substituted identity): it cannot be opened here.
  const toOther = sealNodeEnvelope(node1, other2.public, envelope(3));
  assert.throws(() => openNodeEnvelope(node2, at2, toOther), NodeEnvelopeRejected);
  // Not addressed to party 3.
  const toClient = sealNodeEnvelope(node1, node2.public, envelope(1));
  assert.throws(() => openNodeEnvelope(node2, at2, toClient), NodeEnvelopeRejected);
  // Truncated or padded.
  assert.throws(() => openNodeEnvelope(node2, at2, sealed.slice(0, -1)), NodeEnvelopeRejected);
  const padded = new Uint8Array(sealed.length + 1);
  padded.set(sealed);
  assert.throws(() => openNodeEnvelope(node2, at2, padded), NodeEnvelopeRejected);
});

test('the fingerprint binds the node id and both keys', () => {
  const p = node1.public;
  const ed = Buffer.from(p.ed25519, 'hex');
  const x = Buffer.from(p.x25519, 'hex');
  assert.equal(fingerprintOf('node1', ed, x), p.fingerprint);
  assert.notEqual(fingerprintOf('node2', ed, x), p.fingerprint);
  assert.notEqual(fingerprintOf('node1', x, ed), p.fingerprint);
  assert.equal(decodeEnvelope(envelope(0)).to, 0);
});

test('outside dev mode a node without a pinned peer makes no 2-of-3 key', () => {
  const nodes = { node1: node1.public, node2: node2.public };
  const req = { nodes, sid0: '00'.repeat(32) };
  const config = (dev: boolean, peerFingerprint: string | null) =>
    ({ dev, node: { id: 'node2', peerFingerprint } }) as unknown as ServerConfig;
  assert.throws(() => topologyStart(node2, config(false, null), req), { code: 'ROLE_FORBIDDEN' });
  assert.throws(() => topologyStart(node2, config(false, other2.public.fingerprint), req), {
    code: 'FORBIDDEN',
  });
  assert.equal(topologyStart(node2, config(false, node1.public.fingerprint), req).me, 3);
  assert.equal(topologyStart(node2, config(true, null), req).peerParty, 2);
  // Its own entry must be itself: a client pinning another node 2 is refused.
  assert.throws(
    () =>
      topologyStart(node2, config(true, null), {
        ...req,
        nodes: { ...nodes, node2: other2.public },
      }),
    { code: 'FORBIDDEN' }
  );
});
