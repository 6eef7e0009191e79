/**
 * The DKLs23 pairwise setup (docs/protocols/ecdsa.md, "Pairwise setup") that key generation and
 * reshare run between every two
 * holders of an `ecdsa` key, in three steps over two message rounds, for the pair `{me, peer}`:
 *
 * 1. `pairwiseOffer`: our zero-seed contribution `z_{me→peer}` and base-OT message 1 of the
 *    directed pair (me→peer), where we are the base-OT receiver.
 * 2. `pairwiseAnswer`, on the peer's offer: the zero-sharing seed, and base-OT message 2 plus the
 *    PPRF data of (peer→me), where we are the base-OT sender (OT-extension receiver).
 * 3. `pairwiseFinish`, on the peer's answer: our OT-extension sender setup of (me→peer).
 *
 * `sid` is the session id of the enclosing protocol, so a reshare builds setups unrelated to the
 * ones it replaces.
 * @module
 */
import { decodeFields } from '../codec.ts';
import {
  type BaseOtReceiverState,
  baseOtReceiverFinish,
  baseOtReceiverStart,
  baseOtSenderRespond,
  baseOtSid,
} from '../ot/baseOt.ts';
import { otSetupId, pprfReceiverRecover, pprfSenderExpand } from '../ot/pprf.ts';
import type { OteReceiverSetup, OteSenderSetup } from '../ot/setup.ts';
import { zeroSeed } from '../ot/zero.ts';
import type { Rng } from '../rng.ts';
import { enc } from '../transcript.ts';

/** What we keep of our offer to one peer until its answer arrives (secret). */
export interface PairwiseOffer {
  z: Uint8Array;
  msg1: Uint8Array;
  state: BaseOtReceiverState;
}

/** Step 1: our offer to `peer`; send `z` and `msg1` to it (p2p, encrypted by the transport). */
export function pairwiseOffer(sid: Uint8Array, me: number, peer: number, rng: Rng): PairwiseOffer {
  const z = rng(32);
  const ot = baseOtReceiverStart(baseOtSid(sid, me, peer), rng);
  return { z, msg1: ot.msg1, state: ot.state };
}

/**
 * Step 2, on `peer`'s offer `(zPeer, msg1)`: returns the zero-sharing seed of the pair, our
 * OT-extension receiver setup of (peer→me), and the answer `enc(msg2, pprfMsg)` to send back.
 * Throws `DecodeError` / `CheckFailed` on a malformed or invalid `msg1` (blame the peer).
 */
export function pairwiseAnswer(
  sid: Uint8Array,
  me: number,
  peer: number,
  zMine: Uint8Array,
  zPeer: Uint8Array,
  msg1: Uint8Array,
  rng: Rng
): { zeroSeed: Uint8Array; receiver: OteReceiverSetup; answer: Uint8Array } {
  const seed =
    me < peer ? zeroSeed(sid, me, peer, zMine, zPeer) : zeroSeed(sid, me, peer, zPeer, zMine);
  const sidOT = baseOtSid(sid, peer, me);
  const { msg2, keys } = baseOtSenderRespond(sidOT, msg1, rng);
  const tree = pprfSenderExpand(sidOT, keys);
  keys.fill(0);
  return {
    zeroSeed: seed,
    receiver: { setupId: otSetupId(sidOT, msg1, msg2, tree.msg), seeds: tree.seeds },
    answer: enc(msg2, tree.msg),
  };
}

/**
 * Step 3, on `peer`'s answer: our OT-extension sender setup of (me→peer). Erases the offer's
 * secrets. Throws `DecodeError` / `CheckFailed` (for example `PprfProof`) naming nobody: the
 * caller blames the peer.
 */
export function pairwiseFinish(
  sid: Uint8Array,
  me: number,
  peer: number,
  offer: PairwiseOffer,
  answer: Uint8Array
): OteSenderSetup {
  const sidOT = baseOtSid(sid, me, peer);
  const [msg2, tree] = decodeFields(answer, 2, 'pairwise setup answer');
  const chosen = baseOtReceiverFinish(sidOT, offer.state, msg2);
  let recovered: { delta: Uint8Array; seeds: Uint8Array };
  try {
    recovered = pprfReceiverRecover(sidOT, offer.state.choices, chosen, tree);
  } finally {
    // The choice bits became Δ: nothing else may keep them (they are a long-term secret).
    chosen.fill(0);
    offer.state.choices.fill(0);
    offer.state.m.fill(0n);
  }
  const { delta, seeds } = recovered;
  return { setupId: otSetupId(sidOT, offer.msg1, msg2, tree), delta, seeds };
}
