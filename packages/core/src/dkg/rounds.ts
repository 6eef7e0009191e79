/**
 * What key generation (docs/protocols/dkg.md) and reshare (docs/protocols/reshare.md) have in
 * common: four rounds with a broadcast each
 * and p2p messages in round 2 (and round 3 for the DKLs23 pairwise setup of `ecdsa` keys), a
 * plain and an `ecdsa` variant of each protocol, the round-2 echo check and the round-4
 * confirmation of every new verification share by a Fischlin proof.
 * @module
 */
import { concatBytes, ctEqual, readU32be, u32be } from '../bytes.ts';
import { decodeFields, decodeList, fixedBytes } from '../codec.ts';
import { InputError, type PartyId, ProtocolAbort } from '../errors.ts';
import type { Group } from '../group.ts';
import { groupOfScheme, type PairwiseSetup, type Scheme } from '../keyshare.ts';
import type { OteReceiverSetup, OteSenderSetup } from '../ot/setup.ts';
import { fischlinVerify } from '../proofs/fischlin.ts';
import type { Rng } from '../rng.ts';
import {
  blame,
  decodeSession,
  encodeSession,
  type HandlerResult,
  type PeerMessages,
  type ProtocolDef,
  type ReceiveOptions,
  receiveEnvelope,
  type Session,
} from '../session/driver.ts';
import type { Envelope, Step } from '../session/envelope.ts';
import { H256, list, text } from '../transcript.ts';

/** One round of a key protocol. */
export type KeyRound<S, R> = (
  g: Group,
  s: S,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
) => HandlerResult<S, R>;

/** A four-round key protocol; `pairwise` adds the round-3 p2p messages of the DKLs23 setup. */
export function keyProtocol<S extends { scheme: Scheme }, R>(
  name: string,
  pairwise: boolean,
  rounds: readonly KeyRound<S, R>[]
): ProtocolDef<S, R> {
  return {
    name,
    rounds: rounds.length,
    expect: (round) => ({ broadcast: true, p2p: round === 2 || (pairwise && round === 3) }),
    handle(round, state, msgs, ctx) {
      const h = rounds[round - 1];
      if (!h) throw new InputError(`${name} has no round ${round}`);
      return h(groupOfScheme(state.scheme), state, msgs, ctx.rng);
    },
  };
}

/** `receive` and session (de)serialisation for the plain and `ecdsa` variants of a protocol. */
export function keyProtocolApi<S, R>(plain: ProtocolDef<S, R>, ecdsa: ProtocolDef<S, R>) {
  return {
    /** Rounds whose messages a party receives (the same for both variants). */
    rounds: plain.rounds,
    receive(session: Session<S>, env: Envelope, opts?: ReceiveOptions): Step<Session<S>, R> {
      return receiveEnvelope(
        session.proto === ecdsa.name ? ecdsa : plain,
        session,
        env,
        opts ?? {}
      );
    },
    encodeSession: (s: Session<S>): Uint8Array => encodeSession(s as Session<unknown>),
    decodeSession(b: Uint8Array): Session<S> {
      try {
        return decodeSession(plain, b);
      } catch {
        return decodeSession(ecdsa, b);
      }
    },
  } as const;
}

/**
 * Round 3: party `id`'s broadcast must be our echo hash `E2` (culprit: docs/protocols/common.md,
 * "Echo hashes and whom to blame").
 */
export function checkEcho2(
  id: PartyId,
  body: Uint8Array | undefined,
  E2: Uint8Array,
  culprit: PartyId | null,
  what: string
): void {
  const E2j = blame(id, () => fixedBytes(decodeFields(body as Uint8Array, 1, what)[0], 32, 'E2'));
  if (!ctEqual(E2j, E2)) {
    throw new ProtocolAbort(
      'EchoMismatch',
      culprit,
      `party ${id} saw a different round-2 transcript`
    );
  }
}

/**
 * The confirmation of the DKLs23 setups of the pair `{me, peer}`:
 * `H256("ote/confirm", sid, u32be(min), u32be(max), setupId(min→max), setupId(max→min))`, as one
 * party computed both ids from what it sent and received. Both ends of an honest pair get the same
 * value; any difference (a message altered in transit, or a party that sent other bytes than it
 * hashed) shows at key generation, naming the peer, instead of as a ban at the first signature.
 */
function setupConfirmation(
  sid: Uint8Array,
  me: PartyId,
  peer: PartyId,
  mine: { sender: OteSenderSetup; receiver: OteReceiverSetup }
): Uint8Array {
  const [lo, hi] = me < peer ? [mine.sender, mine.receiver] : [mine.receiver, mine.sender];
  const [a, b] = me < peer ? [me, peer] : [peer, me];
  return H256('ote/confirm', sid, u32be(a), u32be(b), lo.setupId, hi.setupId);
}

/**
 * Our confirmation of the setups with every peer, and the round-4 field that lists them,
 * `list(u32be(peer) ‖ hash)` in ascending peer order.
 */
export function confirmSetups(
  sid: Uint8Array,
  me: PartyId,
  peers: readonly PartyId[],
  senders: Record<string, OteSenderSetup>,
  receivers: Record<string, OteReceiverSetup>
): { confirms: Record<string, Uint8Array>; field: Uint8Array } {
  const confirms: Record<string, Uint8Array> = {};
  for (const peer of peers) {
    confirms[peer] = setupConfirmation(sid, me, peer, {
      sender: senders[peer] as OteSenderSetup,
      receiver: receivers[peer] as OteReceiverSetup,
    });
  }
  const field = list(
    [...peers]
      .sort((a, b) => a - b)
      .map((peer) => concatBytes(u32be(peer), confirms[peer] as Uint8Array))
  );
  return { confirms, field };
}

/**
 * What party `id`'s round-4 list must hold: an entry for exactly `peers`, ours equal to `mine`
 * (null: we hold no setup with `id`, only the list's shape is checked).
 */
interface SetupCheck {
  me: PartyId;
  peers: readonly PartyId[];
  mine: Uint8Array | null;
}

function checkSetupList(id: PartyId, field: Uint8Array, c: SetupCheck): void {
  const entries = blame(id, () => decodeList(field, 36, c.peers.length, 'setup confirmations'));
  let ours: Uint8Array | undefined;
  entries.forEach((e, k) => {
    const peer = readU32be(e);
    if (peer !== c.peers[k])
      throw new ProtocolAbort(
        'MalformedMessage',
        id,
        `party ${id}: setup confirmations out of order`
      );
    if (peer === c.me) ours = e.subarray(4);
  });
  if (c.mine === null) return;
  if (!ours || !ctEqual(ours, c.mine)) {
    throw new ProtocolAbort(
      'SetupConfirm',
      id,
      `party ${id} built other OT-extension setups with us than we did`
    );
  }
}

/**
 * Round 4: party `id` confirms its new verification share `X` (which we computed ourselves) with
 * a Fischlin proof bound to `(tag, sid, id, E2)` and, for an `ecdsa` key, its confirmations of
 * the pairwise setups (`setups`). Comparing with our own canonical `X` validates the point
 * without decoding it.
 */
export function checkConfirmation(
  g: Group,
  id: PartyId,
  body: Uint8Array | undefined,
  X: Uint8Array,
  ctx: {
    tag: 'dkg/pokx' | 'rs/pokx';
    sid: Uint8Array;
    E2: Uint8Array;
    what: string;
    setups?: SetupCheck;
  }
): void {
  const { Xj, proof, confirms } = blame(id, () => {
    const f = decodeFields(body as Uint8Array, ctx.setups ? 3 : 2, ctx.what);
    return { Xj: fixedBytes(f[0], g.pointLength, 'X'), proof: f[1], confirms: f[2] };
  });
  if (!ctEqual(Xj, X)) {
    throw new ProtocolAbort(
      'ShareConfirm',
      id,
      `party ${id} confirmed a different verification share`
    );
  }
  const ok = blame(id, () =>
    fischlinVerify(g, g.decodeOwn(X), [text(ctx.tag), ctx.sid, u32be(id), ctx.E2], proof)
  );
  if (!ok)
    throw new ProtocolAbort(
      'PoKInvalid',
      id,
      `party ${id}'s proof of knowledge of its share is invalid`
    );
  if (ctx.setups) checkSetupList(id, confirms as Uint8Array, ctx.setups);
}

/** The finished DKLs23 setups a key protocol built, one per peer, for the new `KeyShare`. */
export function collectPairwise(
  s: {
    zeroSeeds?: Record<string, Uint8Array>;
    senders?: Record<string, OteSenderSetup>;
    receivers?: Record<string, OteReceiverSetup>;
  },
  peers: readonly PartyId[]
): PairwiseSetup[] {
  return peers.map((peer) => ({
    peer,
    zeroSeed: s.zeroSeeds?.[peer] as Uint8Array,
    sender: s.senders?.[peer] as OteSenderSetup,
    receiver: s.receivers?.[peer] as OteReceiverSetup,
  }));
}
