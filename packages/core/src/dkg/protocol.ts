/**
 * Distributed key generation (docs/protocols/dkg.md). Commit–reveal Feldman VSS with Fischlin
 * proofs of knowledge and echo hashes; for `ecdsa` keys (protocol `dkg.ecdsa`) also the DKLs23
 * pairwise setup: zero-sharing seeds and, for every directed pair, base OTs and the all-but-one OT
 * (docs/protocols/ecdsa.md, "Pairwise setup") that SoftSpokenOT extends at signing time:
 *
 * | round | sends                                    | kind           |
 * |-------|------------------------------------------|----------------|
 * | 1     | `(w_i, C_i)`                             | broadcast      |
 * | 2     | `(F_i, cc_i, salt_i, π0_i, E1)`; `y_i→j` | broadcast; p2p |
 * | 2     | ecdsa: `z_i→j`, base-OT msg 1 for (i→j)   | p2p            |
 * | 3     | `E2`                                     | broadcast      |
 * | 3     | ecdsa: base-OT msg 2 + PPRF data (j→i)    | p2p            |
 * | 4     | `(X_i, πx_i)`; ecdsa: setup confirmations | broadcast      |
 *
 * A party persists the key only after every other party's round-4 message verified, so "all
 * round-4 messages received" means "everybody succeeded". Works on secp256k1 and Ed25519.
 * @module
 */
import { bytesToHex, concatBytes, ctEqual, u32be } from '../bytes.ts';
import { decodeFields, decodePointList, fixedBytes } from '../codec.ts';
import { InputError, type PartyId, ProtocolAbort } from '../errors.ts';
import type { Group, GroupPoint } from '../group.ts';
import { groupOfScheme, KeyShare, type Scheme } from '../keyshare.ts';
import { evalCommitment, evalPoly, sumCommitments } from '../math/polynomial.ts';
import type { OteReceiverSetup, OteSenderSetup } from '../ot/setup.ts';
import { fischlinProve, fischlinVerify } from '../proofs/fischlin.ts';
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

/** Parameters every party of one key generation must agree on. */
export interface DkgParams {
  /** `ecdsa` (DKLs23), `ed25519` or `bip340` (FROST). */
  scheme: Scheme;
  /** Signers needed (t), 2 ≤ t ≤ n. */
  threshold: number;
  /** Number of parties n ≤ 255; ids are 1..n. */
  parties: number;
  /** This party's id. */
  me: PartyId;
  /** Fresh 32-byte coordinator nonce (`sid0`), identical at every party. */
  sid0: Uint8Array;
  /** Human label bound into the configuration. */
  label?: string;
  /** Per party (index id−1): 32-byte hash of its long-term identity key. Defaults to zeros. */
  pids?: Uint8Array[];
}

/** Plain, serialisable state of one party's key generation. */
export interface DkgState {
  scheme: Scheme;
  t: number;
  ids: PartyId[];
  me: PartyId;
  cfgHash: Uint8Array;
  coeffs: bigint[];
  F: Uint8Array[];
  cc: Uint8Array;
  salt: Uint8Array;
  w: Uint8Array;
  C: Uint8Array;
  sid?: Uint8Array;
  E1?: Uint8Array;
  commits?: Uint8Array[];
  x?: bigint;
  PK?: Uint8Array;
  X?: Uint8Array[];
  chainCode?: Uint8Array;
  E2?: Uint8Array;
  /** ecdsa: per peer j, our offer (zero-seed contribution, base-OT receiver side of (me→j)). */
  offers?: Record<string, PairwiseOffer>;
  /** ecdsa: per peer j, the finished parts of the pairwise setup. */
  zeroSeeds?: Record<string, Uint8Array>;
  receivers?: Record<string, OteReceiverSetup>;
  senders?: Record<string, OteSenderSetup>;
  /** ecdsa: per peer j, our confirmation of the pair's setups (round 4). */
  confirms?: Record<string, Uint8Array>;
}

/** A key-generation session. */
export type DkgSession = Session<DkgState>;

const CFG_VERSION = 1;

/** Canonical configuration hash `cfgHash = H256("dkg/cfg", enc(cfg))`. */
export function dkgConfigHash(p: DkgParams): Uint8Array {
  const g = groupOfScheme(p.scheme);
  const pids = p.pids ?? Array.from({ length: p.parties }, () => new Uint8Array(32));
  const cfg = enc(
    u32be(CFG_VERSION),
    text(g.name),
    text(p.scheme),
    u32be(p.parties),
    u32be(p.threshold),
    // Each (id, pid) pair is u32be(id) ‖ pid inside one list field (one field, one encoding).
    list(pids.map((pid, k) => concatBytes(u32be(k + 1), pid))),
    text(p.label ?? ''),
    p.sid0
  );
  return H256('dkg/cfg', cfg);
}

function validateParams(p: DkgParams): void {
  const bad = (why: string): never => {
    throw new InputError(`dkg: ${why}`);
  };
  if (p.scheme !== 'ecdsa' && p.scheme !== 'ed25519' && p.scheme !== 'bip340') {
    bad(`unknown scheme ${String(p.scheme)}`);
  }
  if (!Number.isInteger(p.parties) || p.parties < 2 || p.parties > 255)
    bad('parties must be 2..255');
  if (!Number.isInteger(p.threshold) || p.threshold < 2 || p.threshold > p.parties) {
    bad('threshold must satisfy 2 ≤ t ≤ n');
  }
  if (!Number.isInteger(p.me) || p.me < 1 || p.me > p.parties) bad('me must be a party id in 1..n');
  if (!(p.sid0 instanceof Uint8Array) || p.sid0.length !== 32) bad('sid0 must be 32 bytes');
  if (p.pids !== undefined) {
    if (
      p.pids.length !== p.parties ||
      p.pids.some((x) => !(x instanceof Uint8Array) || x.length !== 32)
    ) {
      bad('pids must be one 32-byte hash per party');
    }
  }
}

function handleRound1(
  g: Group,
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<DkgState, KeyShare> {
  const w: Uint8Array[] = [];
  const C: Uint8Array[] = [];
  for (const id of s.ids) {
    if (id === s.me) {
      w.push(s.w);
      C.push(s.C);
      continue;
    }
    const [wj, Cj] = blame(id, () => {
      const f = decodeFields(msgs.get(id)?.broadcast as Uint8Array, 2, 'dkg round 1');
      return [fixedBytes(f[0], 32, 'w'), fixedBytes(f[1], 32, 'C')];
    });
    w.push(wj as Uint8Array);
    C.push(Cj as Uint8Array);
  }
  const sid = H256('dkg/sid', s.cfgHash, list(w));
  const E1 = H256('dkg/echo1', sid, list(C));
  const a0 = s.coeffs[0] as bigint;
  const pi0 = fischlinProve(
    g,
    a0,
    g.decodeOwn(s.F[0] as Uint8Array),
    [text('dkg/pok0'), sid, u32be(s.me)],
    rng
  );
  const out: Outgoing[] = [{ to: 0, body: enc(list(s.F), s.cc, s.salt, pi0, E1) }];
  const ecdsa = s.scheme === 'ecdsa';
  const offers: Record<string, PairwiseOffer> = {};
  for (const id of s.ids) {
    if (id === s.me) continue;
    const y = g.encodeScalar(evalPoly(g, s.coeffs, BigInt(id)));
    if (!ecdsa) {
      out.push({ to: id, body: enc(y) });
      continue;
    }
    // Pairwise setup, round 2: our zero-seed contribution and base-OT message 1 for (me→id).
    const offer = pairwiseOffer(sid, s.me, id, rng);
    offers[id] = offer;
    out.push({ to: id, body: enc(y, offer.z, offer.msg1) });
  }
  const next: DkgState = { ...s, sid, E1, commits: C };
  return { state: ecdsa ? { ...next, offers } : next, out };
}

function handleRound2(
  g: Group,
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<DkgState, KeyShare> {
  const sid = s.sid as Uint8Array;
  const E1 = s.E1 as Uint8Array;
  const Fs: GroupPoint[][] = [];
  const ccs: Uint8Array[] = [];
  const pairwiseIn: { id: PartyId; z: Uint8Array; otMsg1: Uint8Array }[] = [];
  let x = evalPoly(g, s.coeffs, BigInt(s.me));
  for (const id of s.ids) {
    if (id === s.me) {
      Fs.push(s.F.map((b) => g.decodeOwn(b)));
      ccs.push(s.cc);
      continue;
    }
    const m = msgs.get(id) as PeerMessages;
    const { F, Fraw, cc, salt, proof, E1j, y, z, otMsg1 } = blame(id, () => {
      const f = decodeFields(m.broadcast as Uint8Array, 5, 'dkg round 2');
      const F = decodePointList(g, f[0], s.t, 'F');
      const p2p = decodeFields(
        m.p2p as Uint8Array,
        s.scheme === 'ecdsa' ? 3 : 1,
        'dkg round 2 share'
      );
      return {
        F,
        Fraw: f[0],
        cc: fixedBytes(f[1], 32, 'cc'),
        salt: fixedBytes(f[2], 32, 'salt'),
        proof: f[3],
        E1j: fixedBytes(f[4], 32, 'E1'),
        y: g.decodeScalar(p2p[0], 'y'),
        z: p2p.length === 3 ? fixedBytes(p2p[1], 32, 'z') : undefined,
        otMsg1: p2p[2],
      };
    });
    if (!ctEqual(E1j, E1)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s.ids, id),
        `party ${id} saw different round-1 commitments`
      );
    }
    const Cj = (s.commits as Uint8Array[])[s.ids.indexOf(id)] as Uint8Array;
    if (!openCommitment(Cj, 'dkg/commit', s.cfgHash, id, [Fraw, cc], salt)) {
      throw new ProtocolAbort(
        'CommitmentOpen',
        id,
        `party ${id}'s round-2 values do not open its round-1 commitment`
      );
    }
    const pokOk = blame(id, () =>
      fischlinVerify(g, F[0] as GroupPoint, [text('dkg/pok0'), sid, u32be(id)], proof)
    );
    if (!pokOk)
      throw new ProtocolAbort(
        'PoKInvalid',
        id,
        `party ${id}'s proof of knowledge of its constant term is invalid`
      );
    if (!g.base(y).equals(evalCommitment(F, BigInt(s.me)))) {
      throw new ProtocolAbort(
        'FeldmanShare',
        id,
        `party ${id}'s share for us does not match its Feldman commitments`
      );
    }
    x = g.mod(x + y);
    Fs.push(F);
    ccs.push(cc);
    if (z && otMsg1) pairwiseIn.push({ id, z, otMsg1 });
  }
  const Fsum = sumCommitments(g, Fs);
  const PK = Fsum[0] as GroupPoint;
  if (PK.is0())
    throw new ProtocolAbort('DegenerateKey', null, 'the group public key is the identity');
  const X = s.ids.map((k) => evalCommitment(Fsum, BigInt(k)));
  if (!g.base(x).equals(X[s.ids.indexOf(s.me)] as GroupPoint)) {
    throw new ProtocolAbort(
      'ShareConfirm',
      null,
      'our share does not match our verification share'
    );
  }
  const PKb = g.encodePoint(PK);
  const chainCode = H256('dkg/chaincode', sid, list(ccs));
  const E2 = H256('dkg/echo2', sid, E1, list(g.encodePoints(Fs.flat())), list(ccs), PKb);
  // The polynomial is no longer needed: erase it before anything else leaves.
  s.coeffs.fill(0n);
  const out: Outgoing[] = [{ to: 0, body: enc(E2) }];
  const next: DkgState = { ...s, coeffs: [], x, PK: PKb, X: g.encodePoints(X), chainCode, E2 };
  if (s.scheme !== 'ecdsa') return { state: next, out };
  // Pairwise setup, round 3: for each peer j we are the base-OT sender of (j→me).
  const zeroSeeds: Record<string, Uint8Array> = {};
  const receivers: Record<string, OteReceiverSetup> = {};
  const offers = s.offers as Record<string, PairwiseOffer>;
  for (const { id, z, otMsg1 } of pairwiseIn) {
    const mine = (offers[id] as PairwiseOffer).z;
    const r = blame(id, () => pairwiseAnswer(sid, s.me, id, mine, z, otMsg1, rng));
    mine.fill(0);
    zeroSeeds[id] = r.zeroSeed;
    receivers[id] = r.receiver;
    out.push({ to: id, body: r.answer });
  }
  return { state: { ...next, zeroSeeds, receivers }, out };
}

/**
 * Round 4, first step: for each peer j, finish the base OTs and the all-but-one OT of (me→j),
 * where we are the base-OT receiver (and later the OT-extension sender).
 */
function finishOtReceivers(
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>
): Record<string, OteSenderSetup> {
  const senders: Record<string, OteSenderSetup> = {};
  const offers = s.offers as Record<string, PairwiseOffer>;
  for (const id of s.ids) {
    if (id === s.me) continue;
    senders[id] = blame(id, () =>
      pairwiseFinish(
        s.sid as Uint8Array,
        s.me,
        id,
        offers[id] as PairwiseOffer,
        msgs.get(id)?.p2p as Uint8Array
      )
    );
  }
  return senders;
}

function handleRound3(
  g: Group,
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<DkgState, KeyShare> {
  for (const id of s.ids) {
    if (id === s.me) continue;
    checkEcho2(
      id,
      msgs.get(id)?.broadcast,
      s.E2 as Uint8Array,
      echoCulprit(s.ids, id),
      'dkg round 3'
    );
  }
  const senders = s.scheme === 'ecdsa' ? finishOtReceivers(s, msgs) : undefined;
  const Xme = (s.X as Uint8Array[])[s.ids.indexOf(s.me)] as Uint8Array;
  const pix = fischlinProve(
    g,
    s.x as bigint,
    g.decodeOwn(Xme),
    [text('dkg/pokx'), s.sid as Uint8Array, u32be(s.me), s.E2 as Uint8Array],
    rng
  );
  if (!senders) return { state: s, out: [{ to: 0, body: enc(Xme, pix) }] };
  const peers = s.ids.filter((id) => id !== s.me);
  const { confirms, field } = confirmSetups(
    s.sid as Uint8Array,
    s.me,
    peers,
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
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  _rng: Rng
): HandlerResult<DkgState, KeyShare> {
  const X = s.X as Uint8Array[];
  for (const id of s.ids) {
    if (id === s.me) continue;
    checkConfirmation(g, id, msgs.get(id)?.broadcast, X[s.ids.indexOf(id)] as Uint8Array, {
      tag: 'dkg/pokx',
      sid: s.sid as Uint8Array,
      E2: s.E2 as Uint8Array,
      what: 'dkg round 4',
      ...(s.confirms
        ? {
            setups: {
              me: s.me,
              peers: s.ids.filter((p) => p !== id),
              mine: s.confirms[id] as Uint8Array,
            },
          }
        : {}),
    });
  }
  const sid = s.sid as Uint8Array;
  const PK = s.PK as Uint8Array;
  const share = new KeyShare({
    scheme: s.scheme,
    partyId: s.me,
    threshold: s.t,
    parties: s.ids,
    keyId: H256('dkg/keyid', sid, PK),
    epoch: H256('key/epoch', sid, PK, list(X)),
    chainCode: s.chainCode as Uint8Array,
    groupKey: PK,
    verificationShares: X,
    secret: s.x as bigint,
    pairwise:
      s.scheme === 'ecdsa'
        ? collectPairwise(
            s,
            s.ids.filter((id) => id !== s.me)
          )
        : [],
  });
  return { state: s, out: [], result: share };
}

const ROUNDS = [handleRound1, handleRound2, handleRound3, handleRound4];

/** The DKG of FROST keys (`ed25519`, `bip340`). */
export const dkgProtocol: ProtocolDef<DkgState, KeyShare> = keyProtocol('dkg', false, ROUNDS);
/** The DKG of `ecdsa` keys: adds the DKLs23 pairwise setup in rounds 2 and 3. */
export const dkgEcdsaProtocol: ProtocolDef<DkgState, KeyShare> = keyProtocol(
  'dkg.ecdsa',
  true,
  ROUNDS
);

/** The protocol definition for a scheme. */
export const dkgProtocolFor = (scheme: Scheme): ProtocolDef<DkgState, KeyShare> =>
  scheme === 'ecdsa' ? dkgEcdsaProtocol : dkgProtocol;

/** Starts one party's key generation: returns the session and its round-1 broadcast. */
export function dkgStart(params: DkgParams, opts: { rng?: Rng } = {}): Step<DkgSession, never> {
  validateParams(params);
  const rng = opts.rng ?? systemRng;
  const g = groupOfScheme(params.scheme);
  const ids = Array.from({ length: params.parties }, (_, k) => k + 1);
  const cfgHash = dkgConfigHash(params);
  const coeffs = Array.from({ length: params.threshold }, () => g.randomScalar(rng));
  const F = coeffs.map((a) => g.encodePoint(g.base(a)));
  const cc = rng(32);
  const salt = rng(32);
  const w = rng(32);
  const C = commit('dkg/commit', cfgHash, params.me, [list(F), cc], salt);
  const state: DkgState = {
    scheme: params.scheme,
    t: params.threshold,
    ids,
    me: params.me,
    cfgHash,
    coeffs,
    F,
    cc,
    salt,
    w,
    C,
  };
  const peers = ids.filter((i) => i !== params.me);
  return openSession(dkgProtocolFor(params.scheme), bytesToHex(cfgHash), params.me, peers, state, [
    { to: 0, body: enc(w, C) },
  ]);
}

const api = keyProtocolApi(dkgProtocol, dkgEcdsaProtocol);

/** Feeds one envelope to a key-generation session. The result is this party's `KeyShare`. */
export const dkgReceive: (
  session: DkgSession,
  env: Envelope,
  opts?: ReceiveOptions
) => Step<DkgSession, KeyShare> = api.receive;

/** The DKG protocol: `start`, `receive`, and session (de)serialisation. */
export const dkg = { start: dkgStart, ...api } as const;
