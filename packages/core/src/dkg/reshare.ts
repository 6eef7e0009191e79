/**
 * Reshare (docs/protocols/reshare.md): one protocol for refresh (same parties and threshold),
 * recovery of a lost share (the loser joins as a new holder only) and changes of threshold or party
 * set. The group key and chain code stay; the epoch changes; old shares stop combining with new
 * ones because signing binds the epoch.
 *
 * Participants are the dealers `Q` (at least t_old holders of the current epoch) and the new
 * holders; a party can be both. Every participant sends in every round, with empty fields where
 * its role has nothing to say, so the driver's "one message of each kind from every peer" holds:
 *
 * | round | sends                                                                        | kind      |
 * |-------|------------------------------------------------------------------------------|-----------|
 * | 1     | `(w, C_i)` — `C_i` empty unless a dealer                                     | broadcast |
 * | 2     | dealers `(list(H_i), salt_i, E1)`, others `(E1)`                             | broadcast |
 * | 2     | `(y_{i→j}, z, base-OT msg 1)` — y from a dealer to a new holder; z, msg 1 between two new holders of an `ecdsa` key | p2p |
 * | 3     | `E2`                                                                         | broadcast |
 * | 3     | ecdsa, between two new holders: base-OT msg 2 + PPRF data                     | p2p       |
 * | 4     | new holders `(X_j^new, FischlinPoK)` and, ecdsa, setup confirmations; others empty | broadcast |
 *
 * New holders check every dealer against the old public data: `H_{i,0} = λ_{i,Q}·X_i^old`
 * (`DealerConstant`) pins a dealer to its real share, so no proof is needed from dealers.
 * Commit point: a party's result exists only once every round-4 proof verified. New holders then
 * persist the new share; the caller deletes old shares only after that (and, in `simulate`, a
 * test signature with the new shares).
 *
 * An abort leaves the old shares as they were, but not the old key's safety as it was: dealers
 * send `y_{i→j}` in round 2, before anyone can check the whole transcript, so new holders may
 * already hold enough of them to rebuild every dealer's `λ_{i,Q}·x_i`, and with them the key.
 * After an aborted reshare the old key is only as safe as the new committee's threshold
 * (docs/protocols/reshare.md).
 *
 * The key id stays unless every participant asks for a new one (`reissue`, bound into the
 * configuration hash). A dealer's bans carry over to its new share unless it asks to clear them
 * (`clearBans`): a ban marks a party caught cheating, and new OT setups do not make it honest.
 * @module
 */

import { bytesToHex, copyBytes, ctEqual, u32be } from '../bytes.ts';
import type { CheckName } from '../checks.ts';
import { decodeFields, decodePointList, fixedBytes } from '../codec.ts';
import { InputError, type PartyId, ProtocolAbort } from '../errors.ts';
import type { Group, GroupPoint } from '../group.ts';
import { groupOfScheme, KeyShare, type Scheme, shareSecret } from '../keyshare.ts';
import { evalCommitment, evalPoly, lagrange, sumCommitments } from '../math/polynomial.ts';
import type { OteReceiverSetup, OteSenderSetup } from '../ot/setup.ts';
import { fischlinProve } from '../proofs/fischlin.ts';
import { type Rng, systemRng } from '../rng.ts';
import {
  blame,
  echoCulprit,
  type HandlerResult,
  type Outgoing,
  openSession,
  type PeerMessages,
  type ProtocolDef,
  type ReceiveOptions,
  type Session,
} from '../session/driver.ts';
import type { Envelope, Step } from '../session/envelope.ts';
import { commit, enc, H256, list, openCommitment, text } from '../transcript.ts';
import { type PairwiseOffer, pairwiseAnswer, pairwiseFinish, pairwiseOffer } from './pairwise.ts';
import {
  checkConfirmation,
  checkEcho2,
  collectPairwise,
  confirmSetups,
  keyProtocol,
  keyProtocolApi,
} from './rounds.ts';

/** The public data of the current epoch, as every participant must know it (authenticated). */
export interface ReshareOldKey {
  scheme: Scheme;
  keyId: Uint8Array;
  epoch: Uint8Array;
  groupKey: Uint8Array;
  chainCode: Uint8Array;
  threshold: number;
  parties: PartyId[];
  /** The current epoch's counter (`KeyShare.generation`); new shares get one more. */
  generation: number;
  /** `X_id^old`, in the order of `parties`. */
  verificationShares: Uint8Array[];
}

/** The public data of a share's epoch (what a dealer vouches for). */
export function oldKeyOf(share: KeyShare): ReshareOldKey {
  return {
    scheme: share.scheme,
    keyId: share.keyId,
    epoch: share.epoch,
    groupKey: share.groupKey,
    chainCode: share.chainCode,
    threshold: share.threshold,
    parties: [...share.parties],
    generation: share.generation,
    verificationShares: share.parties.map((id) => share.verificationShare(id)),
  };
}

/** Parameters every participant must agree on. */
export interface ReshareParams {
  /** The current epoch's public data. A dealer may omit it: its share provides it. */
  old?: ReshareOldKey;
  /** This party's current share, when it is a dealer. */
  share?: KeyShare;
  /** Dealers Q: at least t_old holders of current shares. */
  dealers: PartyId[];
  /** New holders (ids 1..255); may include ids whose share was lost, or new ids. */
  parties: PartyId[];
  /** New threshold, 2 ≤ t ≤ parties. */
  threshold: number;
  /** This participant's id (a dealer, a new holder, or both). */
  me: PartyId;
  /** Fresh 32-byte coordinator nonce, identical at every participant. */
  sid0: Uint8Array;
  /**
   * Issue a new key id (a recovery that retires the old id, e.g. after a lost device). Every
   * participant must say the same; by default the key id stays, whoever deals.
   */
  reissue?: boolean;
  /**
   * A dealer's new share drops the bans its current share holds. Default false: bans carry over
   * (to the peers that hold new shares); clearing them is an operator's decision.
   */
  clearBans?: boolean;
}

/** What a participant gets at the commit point. */
export interface ReshareResult {
  /** The new share (new holders only): persist it, then delete the old one. */
  share: KeyShare | null;
  /** The new epoch id (every participant). */
  epoch: Uint8Array;
  /** The key id from now on: new when the participants asked for a `reissue`, else unchanged. */
  keyId: Uint8Array;
}

/** Plain, serialisable state of one participant. */
export interface ReshareState {
  scheme: Scheme;
  me: PartyId;
  participants: PartyId[];
  dealers: PartyId[];
  holders: PartyId[];
  tNew: number;
  keyId: Uint8Array;
  PK: Uint8Array;
  cc: Uint8Array;
  oldIds: PartyId[];
  oldX: Uint8Array[];
  generation: number;
  rsCfg: Uint8Array;
  reissue: boolean;
  /** This party's bans that carry over to its new share. */
  bans: PartyId[];
  w: Uint8Array;
  /** Dealers: `h_i` (erased after round 2), its commitments `H_i`, commitment and salt. */
  coeffs: bigint[];
  H: Uint8Array[];
  C: Uint8Array;
  salt: Uint8Array;
  sid?: Uint8Array;
  E1?: Uint8Array;
  commits?: Record<string, Uint8Array>;
  x?: bigint;
  X?: Uint8Array[];
  E2?: Uint8Array;
  offers?: Record<string, PairwiseOffer>;
  zeroSeeds?: Record<string, Uint8Array>;
  receivers?: Record<string, OteReceiverSetup>;
  senders?: Record<string, OteSenderSetup>;
  /** ecdsa new holders: per other new holder, our confirmation of the pair's setups. */
  confirms?: Record<string, Uint8Array>;
}

/** A reshare session. */
export type ReshareSession = Session<ReshareState>;

const EMPTY: Uint8Array = new Uint8Array(0);
const has = (ids: readonly PartyId[], id: PartyId): boolean => ids.includes(id);

/** `rsCfg = H256("rs/cfg", enc(oldPub), list(Q), enc(newcfg), sid0)`. */
function reshareConfigHash(old: ReshareOldKey, p: ReshareParams): Uint8Array {
  const oldPub = enc(
    text(old.scheme),
    old.keyId,
    old.epoch,
    old.groupKey,
    old.chainCode,
    u32be(old.threshold),
    list(old.parties.map(u32be)),
    u32be(old.generation),
    list(old.verificationShares)
  );
  const newCfg = enc(u32be(p.threshold), list(p.parties.map(u32be)), u32be(p.reissue ? 1 : 0));
  return H256('rs/cfg', oldPub, list(p.dealers.map(u32be)), newCfg, p.sid0);
}

function sortedIds(ids: readonly PartyId[], what: string): PartyId[] {
  const out = [...ids].sort((a, b) => a - b);
  if (
    out.some((id, k) => !Number.isInteger(id) || id < 1 || id > 255 || (k > 0 && id === out[k - 1]))
  )
    throw new InputError(`reshare: ${what} must be distinct integers in 1..255`);
  return out;
}

function validate(p: ReshareParams): {
  old: ReshareOldKey;
  dealers: PartyId[];
  holders: PartyId[];
} {
  const bad = (why: string, check?: CheckName): never => {
    throw new InputError(`reshare: ${why}`, check ? { check } : {});
  };
  if (p.share !== undefined && !(p.share instanceof KeyShare)) bad('share must be a KeyShare');
  const old = p.old ?? (p.share ? oldKeyOf(p.share) : bad('the old public key data is required'));
  if (p.share) {
    const mine = oldKeyOf(p.share);
    if (!ctEqual(mine.keyId, old.keyId) || !ctEqual(mine.epoch, old.epoch))
      bad('the share is not of the key and epoch being reshared', 'EpochMismatch');
    if (p.share.partyId !== p.me) bad('the share belongs to another party');
    if (p.share.path.length > 0) bad('reshare a root share, not a derived one');
    if (p.share.generation !== old.generation)
      bad('the share is of another generation', 'EpochMismatch');
  }
  if (!(p.sid0 instanceof Uint8Array) || p.sid0.length !== 32) bad('sid0 must be 32 bytes');
  const dealers = sortedIds(p.dealers, 'dealers');
  const holders = sortedIds(p.parties, 'parties');
  if (dealers.length < old.threshold)
    bad(`need at least ${old.threshold} dealers holding current shares, got ${dealers.length}`);
  for (const d of dealers) if (!has(old.parties, d)) bad(`dealer ${d} holds no share of this key`);
  if (!Number.isInteger(p.threshold) || p.threshold < 2 || p.threshold > holders.length)
    bad('the new threshold must satisfy 2 ≤ t ≤ number of parties');
  if (!Number.isInteger(old.generation) || old.generation < 0 || old.generation >= 0xffffffff)
    bad('the old generation must be an integer in 0 … 2^32 − 2');
  if (old.verificationShares.length !== old.parties.length)
    bad('one old verification share per old party');
  if (has(dealers, p.me) !== (p.share !== undefined))
    bad(has(dealers, p.me) ? 'a dealer must pass its current share' : 'only dealers pass a share');
  if (!has(dealers, p.me) && !has(holders, p.me)) bad('me is neither a dealer nor a new holder');
  return { old, dealers, holders };
}

/** Starts one participant's reshare: returns the session and its round-1 broadcast. */
export function reshareStart(
  params: ReshareParams,
  opts: { rng?: Rng } = {}
): Step<ReshareSession, never> {
  const { old, dealers, holders } = validate(params);
  const rng = opts.rng ?? systemRng;
  const g = groupOfScheme(old.scheme);
  const me = params.me;
  const rsCfg = reshareConfigHash(old, { ...params, dealers, parties: holders });
  const participants = [...new Set([...dealers, ...holders])].sort((a, b) => a - b);
  let coeffs: bigint[] = [];
  let H: Uint8Array[] = [];
  let C = EMPTY;
  let salt = EMPTY;
  if (params.share) {
    // a_i = λ_{i,Q}·x_i, shared again with a fresh polynomial of degree t_new − 1.
    const a = g.mod(lagrange(g, dealers, me) * shareSecret(params.share));
    coeffs = [a, ...Array.from({ length: params.threshold - 1 }, () => g.randomScalar(rng))];
    H = coeffs.map((c) => g.encodePoint(g.base(c)));
    salt = rng(32);
    C = commit('rs/commit', rsCfg, me, [list(H)], salt);
  }
  const w = rng(32);
  const state: ReshareState = {
    scheme: old.scheme,
    me,
    participants,
    dealers,
    holders,
    tNew: params.threshold,
    keyId: copyBytes(old.keyId),
    PK: copyBytes(old.groupKey),
    cc: copyBytes(old.chainCode),
    oldIds: [...old.parties],
    oldX: old.verificationShares.map((x) => copyBytes(x)),
    generation: old.generation + 1,
    rsCfg,
    reissue: params.reissue === true,
    bans:
      params.share && params.clearBans !== true
        ? params.share.bannedPeers.filter((b) => has(holders, b))
        : [],
    w,
    coeffs,
    H,
    C,
    salt,
  };
  const peers = participants.filter((i) => i !== me);
  return openSession(reshareProtocolFor(old.scheme), bytesToHex(rsCfg), me, peers, state, [
    { to: 0, body: enc(w, C) },
  ]);
}

/** A field that must be present (`len` bytes) when `present`, and empty otherwise. */
function roleField(f: Uint8Array, present: boolean, len: number, what: string): Uint8Array {
  if (!present) {
    if (f.length !== 0) fixedBytes(f, 0, `${what} (this role sends none)`);
    return f;
  }
  return len < 0 ? f : fixedBytes(f, len, what);
}

function handleRound1(
  g: Group,
  s: ReshareState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<ReshareState, ReshareResult> {
  const w: Uint8Array[] = [];
  const commits: Record<string, Uint8Array> = {};
  for (const id of s.participants) {
    if (id === s.me) {
      w.push(s.w);
      if (has(s.dealers, id)) commits[id] = s.C;
      continue;
    }
    const [wj, Cj] = blame(id, () => {
      const f = decodeFields(msgs.get(id)?.broadcast as Uint8Array, 2, 'reshare round 1');
      return [fixedBytes(f[0], 32, 'w'), roleField(f[1], has(s.dealers, id), 32, 'C')] as const;
    });
    w.push(wj);
    if (has(s.dealers, id)) commits[id] = Cj;
  }
  const sid = H256('rs/sid', s.rsCfg, list(w));
  const E1 = H256('rs/echo1', sid, list(s.dealers.map((d) => commits[d] as Uint8Array)));
  const dealer = has(s.dealers, s.me);
  const out: Outgoing[] = [{ to: 0, body: dealer ? enc(list(s.H), s.salt, E1) : enc(E1) }];
  const pairwise = s.scheme === 'ecdsa' && has(s.holders, s.me);
  const offers: Record<string, PairwiseOffer> = {};
  for (const id of s.participants) {
    if (id === s.me) continue;
    const y =
      dealer && has(s.holders, id) ? g.encodeScalar(evalPoly(g, s.coeffs, BigInt(id))) : EMPTY;
    if (s.scheme !== 'ecdsa') {
      out.push({ to: id, body: enc(y) });
      continue;
    }
    if (pairwise && has(s.holders, id)) {
      const offer = pairwiseOffer(sid, s.me, id, rng);
      offers[id] = offer;
      out.push({ to: id, body: enc(y, offer.z, offer.msg1) });
    } else {
      out.push({ to: id, body: enc(y, EMPTY, EMPTY) });
    }
  }
  return { state: { ...s, sid, E1, commits, offers }, out };
}

function handleRound2(
  g: Group,
  s: ReshareState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<ReshareState, ReshareResult> {
  const sid = s.sid as Uint8Array;
  const E1 = s.E1 as Uint8Array;
  const holder = has(s.holders, s.me);
  const ecdsa = s.scheme === 'ecdsa';
  const Hs: Record<string, GroupPoint[]> = {};
  let x = 0n;
  const pairwiseIn: { id: PartyId; z: Uint8Array; msg1: Uint8Array }[] = [];
  for (const id of s.participants) {
    if (id === s.me) {
      if (has(s.dealers, id)) {
        Hs[id] = s.H.map((b) => g.decodeOwn(b));
        if (holder) x = g.mod(x + evalPoly(g, s.coeffs, BigInt(s.me)));
      }
      continue;
    }
    const m = msgs.get(id) as PeerMessages;
    const isDealer = has(s.dealers, id);
    const got = blame(id, () => {
      let H: GroupPoint[] | undefined;
      let Hraw: Uint8Array | undefined;
      let salt: Uint8Array | undefined;
      let E1j: Uint8Array;
      if (isDealer) {
        const f = decodeFields(m.broadcast as Uint8Array, 3, 'reshare round 2');
        H = decodePointList(g, f[0], s.tNew, 'H');
        Hraw = f[0];
        salt = fixedBytes(f[1], 32, 'salt');
        E1j = fixedBytes(f[2], 32, 'E1');
      } else {
        E1j = fixedBytes(
          decodeFields(m.broadcast as Uint8Array, 1, 'reshare round 2')[0],
          32,
          'E1'
        );
      }
      const p = decodeFields(m.p2p as Uint8Array, ecdsa ? 3 : 1, 'reshare round 2 p2p');
      const yRaw = roleField(p[0], isDealer && holder, 32, 'y');
      const y = yRaw.length ? g.decodeScalar(yRaw, 'y') : undefined;
      const pw = ecdsa && holder && has(s.holders, id);
      const z = ecdsa ? roleField(p[1] as Uint8Array, pw, 32, 'z') : EMPTY;
      const msg1 = ecdsa ? roleField(p[2] as Uint8Array, pw, -1, 'base-OT message 1') : EMPTY;
      return { H, Hraw, salt, E1j, y, z, msg1, pw };
    });
    if (!ctEqual(got.E1j, E1)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s.participants, id),
        `party ${id} saw different round-1 commitments`
      );
    }
    if (got.H && got.Hraw && got.salt) {
      const Cj = (s.commits as Record<string, Uint8Array>)[id] as Uint8Array;
      if (!openCommitment(Cj, 'rs/commit', s.rsCfg, id, [got.Hraw], got.salt)) {
        throw new ProtocolAbort(
          'CommitmentOpen',
          id,
          `dealer ${id}'s H does not open its round-1 commitment`
        );
      }
      Hs[id] = got.H;
    }
    if (got.pw) pairwiseIn.push({ id, z: got.z, msg1: got.msg1 });
    if (got.y !== undefined) {
      if (!g.base(got.y).equals(evalCommitment(got.H as GroupPoint[], BigInt(s.me)))) {
        throw new ProtocolAbort(
          'FeldmanShare',
          id,
          `dealer ${id}'s share for us does not match its commitments`
        );
      }
      x = g.mod(x + got.y);
    }
  }
  // Every participant checks every dealer against the old epoch's public data.
  for (const d of s.dealers) {
    const Xold = g.decodeOwn(s.oldX[s.oldIds.indexOf(d)] as Uint8Array);
    const expected = Xold.multiplyUnsafe(lagrange(g, s.dealers, d));
    if (!(Hs[d] as GroupPoint[])[0]?.equals(expected)) {
      throw new ProtocolAbort(
        'DealerConstant',
        d,
        `dealer ${d} did not share its own current share`
      );
    }
  }
  const Hsum = sumCommitments(
    g,
    s.dealers.map((d) => Hs[d] as GroupPoint[])
  );
  if (!ctEqual(g.encodePoint(Hsum[0] as GroupPoint), s.PK)) {
    throw new ProtocolAbort(
      'ReshareKey',
      null,
      'the dealt key differs from the key (old public data disagree)'
    );
  }
  const Xnew = s.holders.map((k) => evalCommitment(Hsum, BigInt(k)));
  if (holder && !g.base(x).equals(Xnew[s.holders.indexOf(s.me)] as GroupPoint)) {
    throw new ProtocolAbort(
      'ShareConfirm',
      null,
      'our new share does not match our new verification share'
    );
  }
  const E2 = H256(
    'rs/echo2',
    sid,
    E1,
    list(g.encodePoints(s.dealers.flatMap((d) => Hs[d] as GroupPoint[]))),
    s.PK
  );
  s.coeffs.fill(0n);
  const next: ReshareState = { ...s, coeffs: [], x: holder ? x : 0n, X: g.encodePoints(Xnew), E2 };
  const out: Outgoing[] = [{ to: 0, body: enc(E2) }];
  if (!ecdsa) return { state: next, out };
  const zeroSeeds: Record<string, Uint8Array> = {};
  const receivers: Record<string, OteReceiverSetup> = {};
  const offers = s.offers as Record<string, PairwiseOffer>;
  for (const id of s.participants) {
    if (id === s.me) continue;
    const peer = pairwiseIn.find((p) => p.id === id);
    if (!peer) {
      out.push({ to: id, body: enc() });
      continue;
    }
    const mine = (offers[id] as PairwiseOffer).z;
    const r = blame(id, () => pairwiseAnswer(sid, s.me, id, mine, peer.z, peer.msg1, rng));
    mine.fill(0);
    zeroSeeds[id] = r.zeroSeed;
    receivers[id] = r.receiver;
    out.push({ to: id, body: r.answer });
  }
  return { state: { ...next, zeroSeeds, receivers }, out };
}

function handleRound3(
  g: Group,
  s: ReshareState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<ReshareState, ReshareResult> {
  const holder = has(s.holders, s.me);
  const senders: Record<string, OteSenderSetup> = {};
  for (const id of s.participants) {
    if (id === s.me) continue;
    checkEcho2(
      id,
      msgs.get(id)?.broadcast,
      s.E2 as Uint8Array,
      echoCulprit(s.participants, id),
      'reshare round 3'
    );
    if (s.scheme !== 'ecdsa') continue;
    const answer = msgs.get(id)?.p2p as Uint8Array;
    if (holder && has(s.holders, id)) {
      const offer = (s.offers as Record<string, PairwiseOffer>)[id] as PairwiseOffer;
      senders[id] = blame(id, () => pairwiseFinish(s.sid as Uint8Array, s.me, id, offer, answer));
    } else {
      blame(id, () => decodeFields(answer, 0, 'reshare round 3 p2p (this role sends none)'));
    }
  }
  if (!holder) return { state: { ...s, offers: {} }, out: [{ to: 0, body: enc() }] };
  const Xme = (s.X as Uint8Array[])[s.holders.indexOf(s.me)] as Uint8Array;
  const pix = fischlinProve(
    g,
    s.x as bigint,
    g.decodeOwn(Xme),
    [text('rs/pokx'), s.sid as Uint8Array, u32be(s.me), s.E2 as Uint8Array],
    rng
  );
  if (s.scheme !== 'ecdsa')
    return { state: { ...s, offers: {}, senders }, out: [{ to: 0, body: enc(Xme, pix) }] };
  const { confirms, field } = confirmSetups(
    s.sid as Uint8Array,
    s.me,
    s.holders.filter((id) => id !== s.me),
    senders,
    s.receivers as Record<string, OteReceiverSetup>
  );
  return {
    state: { ...s, offers: {}, senders, confirms },
    out: [{ to: 0, body: enc(Xme, pix, field) }],
  };
}

function handleRound4(
  g: Group,
  s: ReshareState,
  msgs: Map<PartyId, PeerMessages>,
  _rng: Rng
): HandlerResult<ReshareState, ReshareResult> {
  const X = s.X as Uint8Array[];
  for (const id of s.participants) {
    if (id === s.me) continue;
    const body = msgs.get(id)?.broadcast as Uint8Array;
    if (!has(s.holders, id)) {
      blame(id, () => decodeFields(body, 0, 'reshare round 4 (this role sends none)'));
      continue;
    }
    checkConfirmation(g, id, body, X[s.holders.indexOf(id)] as Uint8Array, {
      tag: 'rs/pokx',
      sid: s.sid as Uint8Array,
      E2: s.E2 as Uint8Array,
      what: 'reshare round 4',
      ...(s.scheme === 'ecdsa'
        ? {
            setups: {
              me: s.me,
              peers: s.holders.filter((p) => p !== id),
              // A dealer that holds no new share only checks the list's shape.
              mine: s.confirms?.[id] ?? null,
            },
          }
        : {}),
    });
  }
  const sid = s.sid as Uint8Array;
  const epoch = H256('key/epoch', sid, s.PK, list(X));
  // The result owns its arrays: the session state is wiped when the session ends.
  const keyId = s.reissue ? H256('rs/keyid', sid, s.PK) : copyBytes(s.keyId);
  if (!has(s.holders, s.me)) return { state: s, out: [], result: { share: null, epoch, keyId } };
  const share = new KeyShare({
    scheme: s.scheme,
    partyId: s.me,
    threshold: s.tNew,
    parties: s.holders,
    keyId,
    epoch,
    chainCode: s.cc,
    groupKey: s.PK,
    verificationShares: X,
    secret: s.x as bigint,
    pairwise:
      s.scheme === 'ecdsa'
        ? collectPairwise(
            s,
            s.holders.filter((id) => id !== s.me)
          )
        : [],
    generation: s.generation,
    banned: s.bans,
  });
  return { state: s, out: [], result: { share, epoch, keyId } };
}

const ROUNDS = [handleRound1, handleRound2, handleRound3, handleRound4];

/** Reshare of FROST keys (`ed25519`, `bip340`). */
export const reshareProtocol = keyProtocol('reshare', false, ROUNDS);
/** Reshare of `ecdsa` keys: new holders also build fresh DKLs23 pairwise setups. */
export const reshareEcdsaProtocol = keyProtocol('reshare.ecdsa', true, ROUNDS);

/** The protocol definition for a scheme. */
export const reshareProtocolFor = (scheme: Scheme): ProtocolDef<ReshareState, ReshareResult> =>
  scheme === 'ecdsa' ? reshareEcdsaProtocol : reshareProtocol;

const api = keyProtocolApi(reshareProtocol, reshareEcdsaProtocol);

/** Feeds one envelope to a reshare session. */
export const reshareReceive: (
  session: ReshareSession,
  env: Envelope,
  opts?: ReceiveOptions
) => Step<ReshareSession, ReshareResult> = api.receive;

/** The reshare protocol: `start`, `receive`, and session (de)serialisation. */
export const reshare = { start: reshareStart, ...api } as const;
