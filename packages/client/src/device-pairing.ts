/**
 * Pairing two devices over the relay (docs/devices.md): core's commit-then-reveal pairing
 * (docs/protocols/pairing.md), its messages carried as the envelopes of a two-member room.
 *
 * The initiator creates a room whose members are its own identity and a fresh one-time
 * "invite" identity, and hands the invite (relay URL, room, manifest hash, the invite identity's
 * secret keys, its own fingerprint) to the other device, which logs in to the relay as the
 * invite identity. The invite secret grants relay access to that one room and nothing else: who
 * pairs with whom is decided by the 6-digit code the users compare, which a holder of the invite
 * (or the relay) cannot make match but with probability 10^-6 per attempt.
 *
 * Envelope framing: one byte, then the payload. `0x01` + a pairing message (signed by core);
 * `0x02` + a UTF-8 reason code, an unauthenticated "I stop" (the relay could forge it, but it can
 * drop messages anyway: it only ends an attempt).
 * @module
 */

import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  RelayClient,
  type RelayError,
  type RelaySubscription,
  type RelayWebSocketFactory,
} from '@tessera/api/relay';
import {
  fingerprint,
  MessageRejected,
  newPartyIdentity,
  type PairingSession,
  type PairingStep,
  type PartyIdentity,
  type PartyPublic,
  ProtocolAbort,
  pairing,
} from '@tessera/core';
import {
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  type PeerRecord,
} from './device-types.ts';

const PROTOCOL = 'tessera-pair/v1';
const FRAME_PAIR = 1;
const FRAME_ABORT = 2;
const INVITE_VERSION = 1;

/** What an invite carries (encoded as base64url of this JSON). */
export interface PairingInvite {
  v: 1;
  /** The relay's base URL. */
  relay: string;
  /** The room, 32 hex digits. */
  room: string;
  /** SHA-256 of the room's manifest, hex. */
  manifestHash: string;
  /** The one-time invite identity's secret keys (hex): a relay login for this room only. */
  key: { ed25519: string; x25519: string };
  /** The initiator device's fingerprint (hex). */
  initiator: string;
}

const b64url = (s: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(s)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

export function encodeInvite(i: PairingInvite): string {
  return b64url(JSON.stringify(i));
}

/** Parses an invite strictly; `BAD_INVITE` otherwise. */
export function decodeInvite(s: string): PairingInvite {
  const bad = (why: string) => new DeviceError('BAD_INVITE', `the invite is not valid: ${why}`);
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(s)) throw bad('not base64url');
  let raw: unknown;
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    raw = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))
    );
  } catch {
    throw bad('not base64url JSON');
  }
  const o = raw as Partial<PairingInvite>;
  if (typeof o !== 'object' || o === null) throw bad('not an object');
  if (o.v !== INVITE_VERSION) throw bad(`unknown version ${String(o.v)}`);
  const hex = (x: unknown, n: number) =>
    typeof x === 'string' && new RegExp(`^[0-9a-f]{${n}}$`).test(x);
  if (typeof o.relay !== 'string' || !/^https?:\/\//.test(o.relay)) throw bad('relay');
  if (!hex(o.room, 32) || !hex(o.manifestHash, 64) || !hex(o.initiator, 64))
    throw bad('room, manifestHash or initiator');
  if (!hex(o.key?.ed25519, 64) || !hex(o.key?.x25519, 64)) throw bad('key');
  return {
    v: 1,
    relay: o.relay,
    room: o.room as string,
    manifestHash: o.manifestHash as string,
    key: { ed25519: o.key?.ed25519 as string, x25519: o.key?.x25519 as string },
    initiator: o.initiator as string,
  };
}

function identityFromSecrets(ed: Uint8Array, x: Uint8Array): PartyIdentity {
  return {
    public: { publicKey: ed25519.getPublicKey(ed), x25519: x25519.getPublicKey(x) },
    signingKey: ed,
    x25519Secret: x,
  };
}

/** What the caller supplies: where, who, and the user's decision on the code. */
export interface PairOptions {
  home: DeviceHomeStore;
  device: DeviceInfo;
  /** The whole attempt's time limit (default 10 minutes). */
  timeoutMs?: number;
  /**
   * Shows the code and asks the user. `true` to confirm; a `DeviceError` (mismatch, refusal) to
   * refuse, which is sent to the peer and then thrown.
   */
  confirmCode(code: string): Promise<true | DeviceError>;
  fetch?: typeof fetch;
  /** Receive over the relay's WebSocket instead of SSE (the LAN mode). */
  webSocket?: RelayWebSocketFactory;
}

export interface PairOutcome {
  peer: PeerRecord;
}

/** The initiator: creates the room, hands out the invite (`onInvite`), then pairs. */
export async function pairAsInitiator(
  o: PairOptions & { relay: string; onInvite(invite: string): void }
): Promise<PairOutcome> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  await o.home.beginPairing();
  const me = o.device;
  const client = new RelayClient({
    url: o.relay,
    identity: me.identity,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.webSocket ? { webSocket: o.webSocket } : {}),
  });
  const invitee = newPartyIdentity();
  const room = bytesToHex(randomBytes(16));
  const created = await client.createRoom({
    v: 1,
    roomId: room,
    protocol: PROTOCOL,
    members: [
      {
        publicKey: bytesToHex(me.identity.public.publicKey),
        x25519: bytesToHex(me.identity.public.x25519),
        role: 'initiator',
      },
      {
        publicKey: bytesToHex(invitee.public.publicKey),
        x25519: bytesToHex(invitee.public.x25519),
        role: 'invitee',
      },
    ],
    expiresAt: Date.now() + Math.min(3_600_000, Math.max(60_000, deadline - Date.now() + 60_000)),
    maxBytes: 64 * 1024,
  });
  const peerKey = bytesToHex(invitee.public.publicKey);
  const sub = client.subscribe(room);
  try {
    const step = pairing.initiate({
      identity: me.identity,
      name: me.name,
      roomId: hexToBytes(room),
    });
    await sendAll(client, room, peerKey, step);
    o.onInvite(
      encodeInvite({
        v: 1,
        relay: client.url,
        room,
        manifestHash: created.manifestHash,
        key: {
          ed25519: bytesToHex(invitee.signingKey),
          x25519: bytesToHex(invitee.x25519Secret),
        },
        initiator: me.fingerprint,
      })
    );
    return await run(o, client, sub, room, peerKey, step.session, deadline);
  } finally {
    await sub.close();
  }
}

/** The responder: joins the invite's room as the invite identity, then pairs. */
export async function pairAsResponder(o: PairOptions & { invite: string }): Promise<PairOutcome> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  const inv = decodeInvite(o.invite);
  if (inv.initiator === o.device.fingerprint)
    throw new DeviceError('BAD_INVITE', 'the invite is from this device itself');
  await o.home.beginPairing(inv.initiator);
  const client = new RelayClient({
    url: inv.relay,
    identity: identityFromSecrets(hexToBytes(inv.key.ed25519), hexToBytes(inv.key.x25519)),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.webSocket ? { webSocket: o.webSocket } : {}),
  });
  // The manifest must hash to the invite's and be signed by the member the invite names.
  const info = await client.getRoom(inv.room, {
    manifestHash: inv.manifestHash,
    creator: (m) =>
      m.members.find(
        (x) =>
          x.role === 'initiator' &&
          fingerprint({ publicKey: hexToBytes(x.publicKey), x25519: hexToBytes(x.x25519) }) ===
            inv.initiator
      )?.publicKey ?? null,
  });
  const initiator = info.creator;
  const sub = client.subscribe(inv.room);
  try {
    let session: PairingSession | null = null;
    while (session === null) {
      const m = await nextFrame(sub, initiator, deadline);
      try {
        const step = pairing.respond(
          { identity: o.device.identity, name: o.device.name, roomId: hexToBytes(inv.room) },
          m
        );
        if (step.session.peer && fingerprint(step.session.peer) !== inv.initiator)
          throw new DeviceError(
            'PAIRING_FAILED',
            'the device that started pairing is not the one the invite names'
          );
        await sendAll(client, inv.room, initiator, step);
        session = step.session;
      } catch (e) {
        if (e instanceof MessageRejected) continue;
        throw failure(e);
      }
    }
    return await run(o, client, sub, inv.room, initiator, session, deadline);
  } finally {
    await sub.close();
  }
}

async function sendAll(client: RelayClient, room: string, to: string, step: PairingStep) {
  for (const m of step.out) await client.send(room, to, frame(FRAME_PAIR, m));
}

function frame(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

/** The next pairing message from `from`; an abort frame ends the attempt. */
async function nextFrame(
  sub: RelaySubscription,
  from: string,
  deadline: number
): Promise<Uint8Array> {
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0)
      throw new DeviceError('PAIRING_TIMEOUT', 'the other device did not answer in time');
    let m: Awaited<ReturnType<RelaySubscription['next']>>;
    try {
      m = await sub.next(left);
    } catch (e) {
      if ((e as RelayError).code === 'TIMEOUT')
        throw new DeviceError('PAIRING_TIMEOUT', 'the other device did not answer in time');
      throw e;
    }
    if (m.from !== from || m.envelope.length < 1) continue;
    if (m.envelope[0] === FRAME_PAIR) return m.envelope.subarray(1);
    if (m.envelope[0] === FRAME_ABORT) {
      const why = new TextDecoder().decode(m.envelope.subarray(1)).slice(0, 64);
      throw new DeviceError('PAIRING_ABORTED', `the other device stopped pairing (${why})`);
    }
  }
}

/** A core refusal as a device error. */
function failure(e: unknown): unknown {
  if (e instanceof ProtocolAbort) {
    if (e.check === 'PairRefused')
      return new DeviceError(
        'PEER_REFUSED',
        'the other device refused: its user typed another code or declined'
      );
    return new DeviceError('PAIRING_FAILED', e.message);
  }
  return e;
}

/** From the first message on: codes, the user's decision, confirmations. */
async function run(
  o: PairOptions,
  client: RelayClient,
  sub: RelaySubscription,
  room: string,
  peerKey: string,
  first: PairingSession,
  deadline: number
): Promise<PairOutcome> {
  let s = first;
  let peerFp: string | null = null;
  const fail = async (e: unknown): Promise<never> => {
    if (peerFp !== null) await o.home.recordFailure(peerFp);
    throw failure(e);
  };
  // Up to the code.
  while (s.status !== 'awaitUser') {
    const m = await nextFrame(sub, peerKey, deadline);
    let step: PairingStep;
    try {
      step = pairing.receive(s, m);
    } catch (e) {
      if (e instanceof MessageRejected) continue;
      // A bad reveal (CommitmentOpen) or signature from a known peer counts.
      if (e instanceof ProtocolAbort && s.peer) await o.home.recordFailure(fingerprint(s.peer));
      throw failure(e);
    }
    s = step.session;
    if (s.status === 'awaitUser') {
      peerFp = fingerprint(s.peer as PartyPublic);
      try {
        await o.home.assertUnlocked(peerFp);
      } catch (e) {
        await client.send(
          room,
          peerKey,
          frame(FRAME_ABORT, new TextEncoder().encode('PAIRING_LOCKED'))
        );
        throw e;
      }
      // On disk before the code is shown (or the reveal goes out): a crash from here on counts.
      await o.home.markAttempt(peerFp);
    }
    await sendAll(client, room, peerKey, step);
  }
  try {
    const code = s.code as string;
    const left = deadline - Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const decision = await Promise.race([
      o.confirmCode(code),
      new Promise<DeviceError>((r) => {
        timer = setTimeout(
          () => r(new DeviceError('PAIRING_TIMEOUT', 'no answer from the user in time')),
          Math.max(0, left)
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (decision !== true) {
      const step = pairing.confirm(s, false);
      await o.home.recordFailure(peerFp);
      peerFp = null;
      await sendAll(client, room, peerKey, step).catch(() => {});
      throw decision;
    }
    let step = pairing.confirm(s, true);
    for (;;) {
      if (step.result) {
        const rec = await o.home.addPeer({ name: step.result.name, peer: step.result.peer });
        await o.home.endPairing(rec.fingerprint);
        // Our confirmation goes out after the peer is pinned (it may already have finished).
        await sendAll(client, room, peerKey, step);
        return { peer: rec };
      }
      await sendAll(client, room, peerKey, step);
      s = step.session;
      const m = await nextFrame(sub, peerKey, deadline);
      try {
        step = pairing.receive(s, m);
      } catch (e) {
        if (e instanceof MessageRejected) {
          step = { session: s, out: [] };
          continue;
        }
        throw e;
      }
    }
  } catch (e) {
    return fail(e);
  }
}
