/**
 * Distributed key generation, protocol-spec §4 (the DKLs23 pairwise OT setup is added by the
 * ECDSA work). Commit–reveal Feldman VSS with Fischlin proofs of knowledge and echo hashes:
 *
 * | round | sends                                    | kind           |
 * |-------|------------------------------------------|----------------|
 * | 1     | `(w_i, C_i)`                             | broadcast      |
 * | 2     | `(F_i, cc_i, salt_i, π0_i, E1)`; `y_i→j` | broadcast; p2p |
 * | 3     | `E2`                                     | broadcast      |
 * | 4     | `(X_i, πx_i)`                            | broadcast      |
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
import { fischlinProve, fischlinVerify } from '../proofs/fischlin.ts';
import { type Rng, systemRng } from '../rng.ts';
import {
  blame,
  decodeSession,
  encodeSession,
  type HandlerResult,
  type Outgoing,
  openSession,
  type PeerMessages,
  type ProtocolDef,
  type ReceiveOptions,
  receiveEnvelope,
  type Session,
} from '../session/driver.ts';
import type { Envelope, Step } from '../session/envelope.ts';
import { commit, enc, H256, list, openCommitment, text } from '../transcript.ts';

/** Parameters every party of one key generation must agree on. */
export interface DkgParams {
  /** `ed25519` or `bip340` (FROST keys). `ecdsa` keys come with the DKLs23 pairwise setup. */
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
}

/** A key-generation session. */
export type DkgSession = Session<DkgState>;

const CFG_VERSION = 1;
const NAME = 'dkg';

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
    // §15.5: each (id, pid) pair is u32be(id) ‖ pid inside one list field.
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
  if (p.scheme === 'ecdsa') {
    bad('ecdsa keys need the DKLs23 pairwise OT setup, which this build does not include yet');
  }
  if (p.scheme !== 'ed25519' && p.scheme !== 'bip340') bad(`unknown scheme ${String(p.scheme)}`);
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

const echoCulprit = (s: DkgState, j: PartyId): PartyId | null => (s.ids.length === 2 ? j : null);

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
      return [fixedBytes(f[0] as Uint8Array, 32, 'w'), fixedBytes(f[1] as Uint8Array, 32, 'C')];
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
  for (const id of s.ids) {
    if (id !== s.me)
      out.push({ to: id, body: enc(g.encodeScalar(evalPoly(g, s.coeffs, BigInt(id)))) });
  }
  return { state: { ...s, sid, E1, commits: C }, out };
}

function handleRound2(
  g: Group,
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  _rng: Rng
): HandlerResult<DkgState, KeyShare> {
  const sid = s.sid as Uint8Array;
  const E1 = s.E1 as Uint8Array;
  const Fs: GroupPoint[][] = [];
  const ccs: Uint8Array[] = [];
  let x = evalPoly(g, s.coeffs, BigInt(s.me));
  for (const id of s.ids) {
    if (id === s.me) {
      Fs.push(s.F.map((b) => g.decodeOwn(b)));
      ccs.push(s.cc);
      continue;
    }
    const m = msgs.get(id) as PeerMessages;
    const { F, Fraw, cc, salt, proof, E1j, y } = blame(id, () => {
      const f = decodeFields(m.broadcast as Uint8Array, 5, 'dkg round 2');
      const F = decodePointList(g, f[0] as Uint8Array, s.t, 'F');
      const p2p = decodeFields(m.p2p as Uint8Array, 1, 'dkg round 2 share');
      return {
        F,
        Fraw: f[0] as Uint8Array,
        cc: fixedBytes(f[1] as Uint8Array, 32, 'cc'),
        salt: fixedBytes(f[2] as Uint8Array, 32, 'salt'),
        proof: f[3] as Uint8Array,
        E1j: fixedBytes(f[4] as Uint8Array, 32, 'E1'),
        y: g.decodeScalar(p2p[0] as Uint8Array, 'y'),
      };
    });
    if (!ctEqual(E1j, E1)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s, id),
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
  return {
    state: { ...s, coeffs: [], x, PK: PKb, X: g.encodePoints(X), chainCode, E2 },
    out: [{ to: 0, body: enc(E2) }],
  };
}

function handleRound3(
  g: Group,
  s: DkgState,
  msgs: Map<PartyId, PeerMessages>,
  rng: Rng
): HandlerResult<DkgState, KeyShare> {
  for (const id of s.ids) {
    if (id === s.me) continue;
    const E2j = blame(id, () =>
      fixedBytes(
        decodeFields(msgs.get(id)?.broadcast as Uint8Array, 1, 'dkg round 3')[0] as Uint8Array,
        32,
        'E2'
      )
    );
    if (!ctEqual(E2j, s.E2 as Uint8Array)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s, id),
        `party ${id} saw a different round-2 transcript`
      );
    }
  }
  const Xme = (s.X as Uint8Array[])[s.ids.indexOf(s.me)] as Uint8Array;
  const pix = fischlinProve(
    g,
    s.x as bigint,
    g.decodeOwn(Xme),
    [text('dkg/pokx'), s.sid as Uint8Array, u32be(s.me), s.E2 as Uint8Array],
    rng
  );
  return { state: s, out: [{ to: 0, body: enc(Xme, pix) }] };
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
    const { Xj, proof } = blame(id, () => {
      const f = decodeFields(msgs.get(id)?.broadcast as Uint8Array, 2, 'dkg round 4');
      return { Xj: fixedBytes(f[0] as Uint8Array, g.pointLength, 'X'), proof: f[1] as Uint8Array };
    });
    // Comparing with our own canonical X_j validates the point without decoding it.
    const mine = X[s.ids.indexOf(id)] as Uint8Array;
    if (!ctEqual(Xj, mine)) {
      throw new ProtocolAbort(
        'ShareConfirm',
        id,
        `party ${id} confirmed a different verification share`
      );
    }
    const ok = blame(id, () =>
      fischlinVerify(
        g,
        g.decodeOwn(mine),
        [text('dkg/pokx'), s.sid as Uint8Array, u32be(id), s.E2 as Uint8Array],
        proof
      )
    );
    if (!ok)
      throw new ProtocolAbort(
        'PoKInvalid',
        id,
        `party ${id}'s proof of knowledge of its share is invalid`
      );
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
  });
  return { state: s, out: [], result: share };
}

const HANDLERS = [handleRound1, handleRound2, handleRound3, handleRound4];

/** The DKG protocol definition. */
export const dkgProtocol: ProtocolDef<DkgState, KeyShare> = {
  name: NAME,
  rounds: 4,
  expect: (round) => ({ broadcast: true, p2p: round === 2 }),
  handle(round, state, msgs, ctx) {
    const h = HANDLERS[round - 1];
    if (!h) throw new InputError(`dkg has no round ${round}`);
    return h(groupOfScheme(state.scheme), state, msgs, ctx.rng);
  },
};

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
  return openSession(dkgProtocol, bytesToHex(cfgHash), params.me, peers, state, [
    { to: 0, body: enc(w, C) },
  ]);
}

/** Feeds one envelope to a key-generation session. The result is this party's `KeyShare`. */
export function dkgReceive(
  session: DkgSession,
  env: Envelope,
  opts?: ReceiveOptions
): Step<DkgSession, KeyShare> {
  return receiveEnvelope(dkgProtocol, session, env, opts);
}

/** The DKG protocol: `start`, `receive`, and session (de)serialisation. */
export const dkg = {
  start: dkgStart,
  receive: dkgReceive,
  encodeSession: (s: DkgSession): Uint8Array => encodeSession(s as Session<unknown>),
  decodeSession: (b: Uint8Array): DkgSession => decodeSession(dkgProtocol, b),
} as const;
