/**
 * The client's bans are durable (docs/security.md A-13, A-14). In the 2-of-2 the client is the
 * OT-extension sender of the pair (1→2) and holds its long-term Δ'; a server whose round-1 message
 * fails the consistency check is banned, on disk, before the error reaches the caller, and the
 * key then refuses to sign on this client, in this process and in any later one, without a
 * network call. A process killed between the pending-check marker and the check finds the key
 * locked after the restart (docs/protocols/ecdsa.md, "Pending checks"). Signatures are verified by OpenSSL.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ProtocolAbort } from '@tessera/core';
import {
  DEAD_SERVER,
  editEnvelopes,
  editingFetch,
  type Requests,
  runParty,
  type World,
  world,
} from './fixtures/harness.ts';

const message = new TextEncoder().encode('a payment');
const digest = Buffer.from(sha256(message)).toString('hex');

/** OpenSSL's verdict on a compact ECDSA signature over sha256(message). */
function opensslVerifies(publicKey: string, compact: string): boolean {
  const p = secp256k1.Point.fromHex(publicKey).toBytes(false);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  const jwk = { kty: 'EC', crv: 'secp256k1', x: b64(p.subarray(1, 33)), y: b64(p.subarray(33)) };
  const der = secp256k1.Signature.fromBytes(Buffer.from(compact, 'hex'), 'compact').toBytes('der');
  return verify('sha256', message, createPublicKey({ key: jwk, format: 'jwk' }), der);
}

/** Flips one bit of the server's round-1 M1 (inside its `u` rows) in a start reply. */
function tamperM1(path: string, body: Record<string, unknown>): void {
  if (!/^\/v1\/keys\/[0-9a-f]{64}\/sign$/.test(path)) return;
  editEnvelopes(
    body,
    (e) => e.round === 1 && e.to === 1,
    (e) => {
      const b = e.body.slice();
      const at = 4 + 32 + 1234; // enc(M1): length, nB, then the u rows
      b[at] = (b[at] as number) ^ 0x10;
      return { ...e, body: b };
    }
  );
}

describe('a client ban is durable and locks the key', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => w.close());

  test('a tampered server round-1 message: the client aborts naming party 2, bans the pair on disk, and a new client process on the same home refuses to sign without contacting the server', async () => {
    const home = w.home();
    const honest = await w.client('alice', home);
    const key = await honest.createKey({ scheme: 'ecdsa' });
    const first = await honest.sign(key.keyId, { digest });
    assert.ok(opensslVerifies(key.publicKey, first.signature), 'the key signs before');

    const seen: Requests = [];
    const cheated = await w.client('alice', home, { fetch: editingFetch(tamperM1, seen) });
    await assert.rejects(cheated.sign(key.keyId, { digest }), (e: unknown) => {
      assert.ok(e instanceof ProtocolAbort, `got ${String(e)}`);
      assert.equal(e.check, 'OteConsistency');
      assert.equal(e.culprit, 2);
      return true;
    });
    assert.ok(
      !seen.some((r) => r.endsWith('/messages')),
      'nothing of round 1 or later was sent to the server'
    );

    // In this process, and before any network call.
    const count = seen.length;
    await assert.rejects(cheated.sign(key.keyId, { digest }), { code: 'KEY_LOCKED' });
    assert.equal(seen.length, count, 'no request was made');

    // A new process on the same home, pointed at an address where nothing listens: it must
    // refuse from its store alone (a TRANSPORT error would mean it tried the network).
    const run = await runParty({
      home,
      server: DEAD_SERVER,
      token: await w.token('alice'),
      keyId: key.keyId,
      digest,
    });
    assert.equal(run.out?.error?.code, 'KEY_LOCKED', JSON.stringify(run.out));
  });

  test('a client killed (SIGKILL) between the pending-check marker and the check finds the key locked after the restart', async () => {
    const home = w.home();
    const c = await w.client('bob', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const token = await w.token('bob');
    const killed = await runParty({
      home,
      server: w.url,
      token,
      keyId: key.keyId,
      digest,
      killAfterMarker: true,
    });
    assert.equal(killed.signal, 'SIGKILL', 'the party died at the marker');
    assert.equal(killed.out, null, 'and printed nothing');
    const restarted = await runParty({
      home,
      server: DEAD_SERVER,
      token,
      keyId: key.keyId,
      digest,
    });
    assert.equal(restarted.out?.error?.code, 'KEY_LOCKED', JSON.stringify(restarted.out));
  });

  test('refresh keeps the lock unless the user clears the bans; a refresh that clears them signs again', async () => {
    const home = w.home();
    const c = await w.client('carol', home);
    const key = await c.createKey({ scheme: 'ecdsa' });
    const cheated = await w.client('carol', home, { fetch: editingFetch(tamperM1) });
    await assert.rejects(cheated.sign(key.keyId, { digest }), { check: 'OteConsistency' });
    // The server kept its signing session of the failed attempt open only until the client's
    // abort notice: a refresh can start right away.
    await c.refresh(key.keyId);
    await assert.rejects(c.sign(key.keyId, { digest }), { code: 'KEY_LOCKED' });
    await c.refresh(key.keyId, { clearBans: true });
    const sig = await c.sign(key.keyId, { digest });
    assert.ok(opensslVerifies(key.publicKey, sig.signature));
  });
});
