/** Relay envelopes (docs/protocols/relay.md): sealing, signing, strict opening, tampering. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from '@noble/hashes/utils.js';
import {
  fingerprint,
  newPartyIdentity,
  type OpenRelayOptions,
  openRelayEnvelope,
  type PartyIdentity,
  RELAY_MAX_BODY,
  sealRelayEnvelope,
  TesseraError,
} from '@tessera/core';
import fc from 'fast-check';
import { enc } from '../src/transcript.ts';
import { utf8 } from './helpers.ts';

const alice = newPartyIdentity();
const bob = newPartyIdentity();
const carol = newPartyIdentity();
const dave = newPartyIdentity();
const eve = newPartyIdentity();
const roomId = randomBytes(16);
const manifestHash = randomBytes(32);
const sid = utf8('session-7');

const ctx = (from: PartyIdentity, extra: Partial<OpenRelayOptions> = {}): OpenRelayOptions => ({
  roomId,
  manifestHash,
  sid,
  from: from.public,
  ...extra,
});

function rejects(fn: () => unknown, code = 'MESSAGE_REJECTED', check = 'RelayEnvelope'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TesseraError, `not a TesseraError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.check, check, e.message);
    return true;
  });
}

/** The (name, start, end) of every field of a wire envelope, lengths included. */
function fieldsOf(wire: Uint8Array): [string, number, number][] {
  const out: [string, number, number][] = [];
  const walk = (b: Uint8Array, base: number, names: string[]) => {
    let at = 0;
    for (const name of names) {
      const len = new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0);
      out.push([`${name}.length`, base + at, base + at + 4]);
      out.push([name, base + at + 4, base + at + 4 + len]);
      at += 4 + len;
    }
  };
  walk(wire, 0, ['header', 'wraps', 'ciphertext', 'signature']);
  const hlen = new DataView(wire.buffer, wire.byteOffset, 4).getUint32(0);
  walk(wire.subarray(4, 4 + hlen), 4, [
    'label',
    'roomId',
    'manifestHash',
    'sid',
    'round',
    'sender',
    'recipients',
    'ephemerals',
  ]);
  return out;
}

describe('relay envelopes', () => {
  test('fingerprint: 64 hex digits, distinct per party, binds both keys', () => {
    const fa = fingerprint(alice.public);
    assert.match(fa, /^[0-9a-f]{64}$/);
    assert.notEqual(fa, fingerprint(bob.public));
    assert.notEqual(
      fa,
      fingerprint({ publicKey: alice.public.publicKey, x25519: bob.public.x25519 })
    );
  });

  test('point-to-point round trip; only the recipient opens it', () => {
    const body = utf8('hello bob');
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 3,
      to: bob.public,
      body,
    });
    const got = openRelayEnvelope(bob, ctx(alice, { expectedRound: 3 }), wire);
    assert.deepEqual(got, { round: 3, broadcast: false, body });
    rejects(() => openRelayEnvelope(carol, ctx(alice), wire));
  });

  test('broadcast: each of three recipients opens it, a non-recipient cannot', () => {
    const body = randomBytes(1000);
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 1,
      to: [bob.public, carol.public, dave.public],
      body,
    });
    for (const me of [bob, carol, dave]) {
      const got = openRelayEnvelope(me, ctx(alice), wire);
      assert.deepEqual(got, { round: 1, broadcast: true, body });
    }
    rejects(() => openRelayEnvelope(eve, ctx(alice), wire));
    // The plaintext appears nowhere in the wire (the relay learns nothing of a broadcast body).
    assert.equal(Buffer.from(wire).indexOf(Buffer.from(body.subarray(0, 32))), -1);
  });

  test('every byte of every field, flipped, is refused (p2p and broadcast)', () => {
    for (const to of [bob.public, [bob.public, carol.public, dave.public]]) {
      const wire = sealRelayEnvelope(alice, {
        roomId,
        manifestHash,
        sid,
        round: 2,
        to,
        body: utf8('a small body'),
      });
      const seen = new Set<string>();
      for (const [name, start, end] of fieldsOf(wire)) {
        seen.add(name);
        for (let i = start; i < end; i++) {
          const t = wire.slice();
          t[i] = (t[i] as number) ^ 0x01;
          rejects(() => openRelayEnvelope(bob, ctx(alice), t));
        }
      }
      for (const f of ['label', 'roomId', 'manifestHash', 'sid', 'round', 'sender'])
        assert.ok(seen.has(f), f);
      // Truncation and trailing bytes.
      rejects(() => openRelayEnvelope(bob, ctx(alice), wire.subarray(0, wire.length - 1)));
      rejects(() => openRelayEnvelope(bob, ctx(alice), Uint8Array.of(...wire, 0)));
    }
  });

  test('each wrapped key and the ciphertext are bound (swapped wraps are refused)', () => {
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 2,
      to: [bob.public, carol.public],
      body: utf8('x'),
    });
    const wraps = fieldsOf(wire).find(([n]) => n === 'wraps') as [string, number, number];
    const t = wire.slice();
    // Swap the two 48-byte wrapped keys.
    const a = wire.slice(wraps[1] + 4, wraps[1] + 52);
    const b = wire.slice(wraps[1] + 52, wraps[1] + 100);
    t.set(b, wraps[1] + 4);
    t.set(a, wraps[1] + 52);
    rejects(() => openRelayEnvelope(bob, ctx(alice), t));
    rejects(() => openRelayEnvelope(carol, ctx(alice), t));
  });

  test('wrong room, manifest hash, sid, round or sender is refused', () => {
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 5,
      to: bob.public,
      body: utf8('x'),
    });
    rejects(() => openRelayEnvelope(bob, ctx(alice, { roomId: randomBytes(16) }), wire));
    rejects(() => openRelayEnvelope(bob, ctx(alice, { manifestHash: randomBytes(32) }), wire));
    rejects(() => openRelayEnvelope(bob, ctx(alice, { sid: utf8('session-8') }), wire));
    rejects(() => openRelayEnvelope(bob, ctx(alice, { expectedRound: 6 }), wire));
    rejects(() => openRelayEnvelope(bob, ctx(carol), wire));
  });

  test('a replay into another room is refused, and re-signing by another party is refused', () => {
    const otherRoom = randomBytes(16);
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 1,
      to: bob.public,
      body: utf8('x'),
    });
    rejects(() => openRelayEnvelope(bob, ctx(alice, { roomId: otherRoom }), wire));
    // The relay rewrites the room id in place: the signature no longer verifies.
    const [, start] = fieldsOf(wire).find(([n]) => n === 'roomId') as [string, number, number];
    const moved = wire.slice();
    moved.set(otherRoom, start);
    rejects(() => openRelayEnvelope(bob, ctx(alice, { roomId: otherRoom }), moved));
    // Eve seals the same body as if from Alice (her own key signs): refused by the pin.
    const forged = sealRelayEnvelope(eve, {
      roomId,
      manifestHash,
      sid,
      round: 1,
      to: bob.public,
      body: utf8('x'),
    });
    rejects(() => openRelayEnvelope(bob, ctx(alice), forged));
  });

  test("a body that does not open under the pinned sender's valid signature aborts naming it", () => {
    const wire = sealRelayEnvelope(alice, {
      roomId,
      manifestHash,
      sid,
      round: 1,
      to: bob.public,
      body: utf8('x'),
    });
    const [, cs, ce] = fieldsOf(wire).find(([n]) => n === 'ciphertext') as [string, number, number];
    const [, hs, he] = fieldsOf(wire).find(([n]) => n === 'header') as [string, number, number];
    const [, ws, we] = fieldsOf(wire).find(([n]) => n === 'wraps') as [string, number, number];
    const header = wire.slice(hs, he);
    const wraps = wire.slice(ws, we);
    const ct = wire.slice(cs, ce);
    ct[0] = (ct[0] as number) ^ 1;
    const sig = ed25519.sign(
      enc(utf8('tessera/relay-envelope/v1/sig'), header, wraps, ct),
      alice.signingKey
    );
    const bad = enc(header, wraps, ct, sig);
    assert.throws(
      () => openRelayEnvelope(bob, ctx(alice, { fromParty: 4 }), bad),
      (e: unknown) =>
        e instanceof TesseraError &&
        e.code === 'PROTOCOL_ABORT' &&
        e.check === 'RelaySeal' &&
        e.culprit === 4
    );
  });

  test('bad input to seal is an InputError', () => {
    const base = { roomId, manifestHash, sid, round: 1, to: bob.public, body: utf8('x') };
    const bad = [
      { ...base, roomId: randomBytes(15) },
      { ...base, manifestHash: randomBytes(31) },
      { ...base, sid: new Uint8Array(0) },
      { ...base, round: -1 },
      { ...base, round: 2 ** 32 },
      { ...base, to: [] },
      { ...base, to: [bob.public, bob.public] },
      { ...base, to: alice.public },
      { ...base, body: new Uint8Array(RELAY_MAX_BODY + 1) },
    ];
    for (const o of bad) rejects(() => sealRelayEnvelope(alice, o), 'INVALID_INPUT', 'RelayInput');
    // The largest body goes through.
    const big = new Uint8Array(RELAY_MAX_BODY).fill(7);
    const wire = sealRelayEnvelope(alice, { ...base, body: big });
    assert.deepEqual(openRelayEnvelope(bob, ctx(alice), wire).body, big);
  });

  test('property: round trips for random bodies, rounds and recipient counts', () => {
    const parties = [bob, carol, dave, eve];
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 4 }),
        (body, round, n) => {
          const to = parties.slice(0, n);
          const wire = sealRelayEnvelope(alice, {
            roomId,
            manifestHash,
            sid,
            round,
            to: n === 1 ? (to[0] as PartyIdentity).public : to.map((p) => p.public),
            body,
          });
          for (const me of to) {
            const got = openRelayEnvelope(me, ctx(alice, { expectedRound: round }), wire);
            assert.equal(got.round, round);
            assert.equal(got.broadcast, n > 1);
            assert.deepEqual(got.body, body);
          }
        }
      ),
      { numRuns: 50 }
    );
  });
});
