/**
 * DKLs23 threshold ECDSA signing on secp256k1 (docs/protocols/ecdsa.md), three rounds.
 *
 * | round | party i sends                                                         | kind          |
 * |-------|-----------------------------------------------------------------------|---------------|
 * | 1     | `C_i = Com("sign/commitR", sidS, i, R_i)`; RVOLE `M1` as Bob in (j→i)  | broadcast+p2p |
 * | 2     | `(M2, R_i, salt_i, pk_i, Γ^k, Γ^s, ψ_{i,j}, E1)` as Alice in (i→j)      | p2p           |
 * | 3     | `(u_i, w_i)`                                                          | broadcast     |
 *
 * Rounds 1–2 do not depend on the digest: after round 2 a party holds a *presignature*
 * `(u_i, v_i, φ_i, r)`. The digest is bound in round 3, given at `start` or later with
 * `ecdsaSign.complete(session, digest)`. The presignature is consumed exactly once: its id is
 * recorded in the nonce ledger before `w_i` is computed, and it is erased from the session.
 * Unlike a digest-bound session id, `sidS` does not contain the digest (it binds key,
 * epoch, request id, signer set, derivation path and derived key), so that rounds 1–2 can run
 * ahead; single use of the presignature is what keeps two digests from meeting one nonce.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js';
import { bytesToHex, concatBytes, copyBytes, ctEqual, hexToBytes, u32be } from '../bytes.ts';
import { decodeFields, fixedBytes } from '../codec.ts';
import { InputError, NonceReuse, type PartyId, ProtocolAbort, SessionClosed } from '../errors.ts';
import { secp256k1Group as G, type GroupPoint } from '../group.ts';
import { banPeer, KeyShare, pairwiseSetup, sharePublicDigest, shareSecret } from '../keyshare.ts';
import { lagrange } from '../math/polynomial.ts';
import { secp256k1BackendIsNoble } from '../math/secp256k1-backend.ts';
import {
  M2_BYTES,
  type RvoleBobState,
  rvoleAliceRespond,
  rvoleBobFinish,
  rvoleBobStart,
} from '../ot/rvole.ts';
import { M1_BYTES } from '../ot/softspoken.ts';
import { zeroShare } from '../ot/zero.ts';
import { type Rng, systemRng } from '../rng.ts';
import {
  abortSession,
  advanceSession,
  blame,
  decodeSession,
  echoCulprit,
  encodeSession,
  type HandlerContext,
  type HandlerResult,
  type NonceLedger,
  type Outgoing,
  openSession,
  type PairGuard,
  type PeerMessages,
  type ProtocolDef,
  receiveEnvelope,
  type Session,
  wrapOutgoing,
} from '../session/driver.ts';
import type { Envelope, Step } from '../session/envelope.ts';
import { wipeState } from '../session/state.ts';
import { commit, enc, H256, list, openCommitment } from '../transcript.ts';
import { secp256k1KeyTable } from '../verifying-key.ts';

/** A threshold ECDSA signature (low-s), in the forms chains use. */
export interface EcdsaSignature {
  /** 32-byte big-endian r. */
  r: Uint8Array;
  /** 32-byte big-endian s, normalised to s ≤ (q−1)/2. */
  s: Uint8Array;
  /** Recovery id (0 or 1), flipped when s was negated. */
  recovery: 0 | 1;
  /** DER encoding of (r, s). */
  der: Uint8Array;
  /** `r ‖ s` (64 bytes). */
  compact: Uint8Array;
}

/** Inputs every signer agrees on. */
export interface EcdsaSignParams {
  /** This signer's `ecdsa` key share. */
  share: KeyShare;
  /** Exactly t signer ids (this party included), each holding a share of the same key and epoch. */
  signers: PartyId[];
  /** Fresh 32-byte request id from the coordinator; never reused. */
  rid: Uint8Array;
  /** The 32-byte digest; omit it to presign and supply it later with `complete`. */
  digest?: Uint8Array;
}

/** Options of `ecdsaSign.start`. */
export interface EcdsaStartOptions {
  /**
   * This party's durable single-use ledger (required): the request id and session id are
   * recorded in it before round 1 leaves, and the presignature before `w_i` is computed. Record
   * durably before sending what the call returns.
   */
  ledger: NonceLedger;
  /** Randomness (tests only; defaults to the platform CSPRNG). */
  rng?: Rng;
}

/** Options of `ecdsaSign.receive`: everything is required but the sender and the randomness. */
export interface EcdsaReceiveOptions {
  /** This signer's share: the one the session was started with (checked). */
  share: KeyShare;
  /** The durable single-use ledger (see `EcdsaStartOptions`). */
  ledger: NonceLedger;
  /** Durable pending-check markers for the checks of rounds 1 and 2 (`ecdsaSign.guardedRounds`). */
  pairGuard: PairGuard;
  /** Sender authenticated by the transport; a different `env.from` aborts naming this party. */
  sender?: PartyId;
  rng?: Rng;
}

/**
 * What ECDSA's calls add to the generic handler context: this signer's share and its durable
 * pair guard (docs/protocols/ecdsa.md, "Pending checks"). Optional here because each call checks
 * what it needs (`checkCallOptions`) before the session is touched.
 */
export interface EcdsaCallContext {
  share?: KeyShare;
  pairGuard?: PairGuard;
}

/** The handler context of an ECDSA round. */
type EcdsaContext = HandlerContext & EcdsaCallContext;

/** Options of `ecdsaSign.complete`. */
export interface EcdsaCompleteOptions {
  share: KeyShare;
  ledger: NonceLedger;
  /** Needed only if other signers' round-3 messages are already buffered (never guarded). */
  pairGuard?: PairGuard;
  rng?: Rng;
}

/**
 * Plain, serialisable state of one signer, round by round: each round's state is the previous
 * one plus what that round made (the session's `round` tells which one a session holds; no tag is
 * stored, so saved sessions keep their encoding). Secrets are erased as soon as they are used.
 */
export interface EcdsaRound1State {
  signers: PartyId[];
  keyId: Uint8Array;
  epoch: Uint8Array;
  /**
   * Digest of the public data of the share the session started with (key, epoch, party, path,
   * derived key): every later call must pass that very share.
   */
  shareDigest: Uint8Array;
  /** Derived group key PK' (33 bytes). */
  pk: Uint8Array;
  digest: Uint8Array | null;
  /** Round 1 secrets. */
  k: bigint;
  phi: bigint;
  R: Uint8Array;
  salt: Uint8Array;
  C: Uint8Array;
  bob: Record<string, RvoleBobState>;
}

/** After round 1: the peers' commitments, their echo, and this signer's multiplication shares. */
export interface EcdsaRound2State extends EcdsaRound1State {
  commits: Record<string, Uint8Array>;
  E1: Uint8Array;
  sk: bigint;
  pkShare: Uint8Array;
  alice: Record<string, [bigint, bigint]>;
}

/** After round 2: the presignature (erased, set to null, when used). */
export interface EcdsaPresignedState extends EcdsaRound2State {
  presig: { u: bigint; v: bigint; phi: bigint; r: bigint; R: Uint8Array } | null;
  presigId: string;
}

/** After the online step: the digest is bound and this signer's round-3 values are out. */
export interface EcdsaRound3State extends EcdsaPresignedState {
  digest: Uint8Array;
  /** `H256("sign/digest", sidS, z)`, compared with every peer's. */
  digestHash: Uint8Array;
  /** Own (u_i, w_i) and the combined nonce point R. */
  own: { u: bigint; w: bigint; R: Uint8Array };
}

/**
 * The state of one signer in any round, as a session holds it: round 1's fields, and those of
 * later rounds once made. Each round's handler gets its own round's exact type.
 */
export type EcdsaSignState = EcdsaRound1State &
  Partial<Omit<EcdsaRound3State, keyof EcdsaRound1State>>;

/** An ECDSA signing session. */
export type EcdsaSignSession = Session<EcdsaSignState>;

const NAME = 'ecdsa.sign';
const Q = G.order;

/**
 * `k·PK` for the final verification in the online phase (public values). With a secp256k1
 * backend installed it is one backend multiplication (tens of µs). On noble, the key's point with
 * a small precomputed table (window 4, ≈ 17 ms to build once per key, bounded cache) makes it a
 * table multiplication instead of a full one; `warmKeyTable` builds that table at the end of the
 * presign phase, so that the online phase does not pay for it.
 */
const timesKey = (pk: Uint8Array, k: bigint): GroupPoint =>
  G.mulPublic(secp256k1BackendIsNoble() ? secp256k1KeyTable(pk) : G.decodeOwn(pk), k);

const warmKeyTable = (pk: Uint8Array): void => {
  if (secp256k1BackendIsNoble()) secp256k1KeyTable(pk);
};

/**
 * The share a call passes must be the one the session started with: same key, epoch, party,
 * derivation path and derived key. Another share (the root for a child, another child) would
 * compute a wrong `sk_i` and end in `PublicShareSum`, which with two signers blames the honest
 * peer; refused here as the caller's mistake instead, naming no one (`ShareMismatch`).
 */
function sameShare(share: unknown, s: EcdsaSignState): share is KeyShare {
  return share instanceof KeyShare && ctEqual(sharePublicDigest(share), s.shareDigest);
}

const shareMismatch = () =>
  new InputError('ecdsa.sign: pass the share this session was started with as { share }', {
    check: 'ShareMismatch',
    hints: ['a derived (child) session needs the same child share in every call'],
  });

function needShare(ctx: EcdsaContext, s: EcdsaSignState): KeyShare {
  if (!sameShare(ctx.share, s)) throw shareMismatch();
  return ctx.share;
}

/** The ledger, required wherever a single-use id is recorded. */
function needLedger(ledger: NonceLedger | undefined): NonceLedger {
  if (!ledger || typeof ledger.consume !== 'function')
    throw new InputError('ecdsa.sign: pass a durable NonceLedger as { ledger }', {
      check: 'LedgerMissing',
      hints: ['there is no default ledger: an in-memory one forgets across a restart'],
    });
  return ledger;
}

/**
 * Checks a caller's options before the session is touched: a missing share, ledger or guard is
 * the caller's mistake and must not abort a healthy session.
 */
function checkCallOptions(
  session: EcdsaSignSession,
  opts: { share?: unknown; ledger?: NonceLedger; pairGuard?: PairGuard } | undefined,
  needGuard: boolean
): void {
  const s = session.state;
  if (s && !sameShare(opts?.share, s)) throw shareMismatch();
  needLedger(opts?.ledger);
  if (needGuard && (!opts?.pairGuard || typeof opts.pairGuard.begin !== 'function'))
    throw new InputError('ecdsa.sign: pass a durable PairGuard as { pairGuard }', {
      check: 'PairGuardMissing',
      hints: ['the checks of rounds 1 and 2 need durable markers (docs/protocols/ecdsa.md)'],
    });
}

/** Runs a pairwise check; a failure of an OT or multiplication check bans the pair first. */
/** The name of the pair `{me, peer}` of one key epoch in a `PairGuard`. */
export const pairGuardKey = (share: KeyShare, peer: PartyId): string =>
  `ecdsa:${share.keyIdHex}:${bytesToHex(share.epoch)}:${share.partyId}:${peer}`;

/**
 * Runs a check that can leak secret bits through a selective abort (OT-extension consistency,
 * RVOLE μ) under the pair guard: a durable marker before, cleared after a pass, a ban after a
 * failure, also recorded on the share (docs/protocols/ecdsa.md, "Pending checks", "Bans").
 */
function guarded<T>(ctx: EcdsaContext, share: KeyShare, peer: PartyId, fn: () => T): T {
  const guard = ctx.pairGuard;
  if (!guard) throw new InputError('ecdsa.sign: a guarded check needs a PairGuard');
  const key = pairGuardKey(share, peer);
  const state = guard.begin(key);
  if (state === 'banned') {
    banPeer(share, peer);
    refuseBanned(share, [peer]);
  }
  if (state === 'busy') {
    throw new InputError(`ecdsa.sign: a check of the pair with party ${peer} is in progress`, {
      check: 'PairBusy',
      culprit: null,
      hints: ['checks of one pair run one at a time; sign again with a new request id'],
    });
  }
  try {
    const out = blame(peer, fn);
    guard.end(key);
    return out;
  } catch (e) {
    if (e instanceof ProtocolAbort && (e.check === 'OteConsistency' || e.check === 'RvoleCheck')) {
      guard.ban(key);
      banPeer(share, peer);
    } else {
      // The check itself did not fail (the message was malformed, or a later step): no ban.
      guard.end(key);
    }
    throw e;
  }
}

function refuseBanned(share: KeyShare, signers: readonly PartyId[]): void {
  for (const j of signers) {
    if (j !== share.partyId && share.isBanned(j)) {
      throw new InputError(
        `ecdsa.sign: the pair with party ${j} is banned after a detected cheat`,
        {
          check: 'PairBanned',
          culprit: j,
          hints: ['a banned pair needs a full re-setup (reshare) approved by an operator'],
        }
      );
    }
  }
}

function handleRound1(
  s: EcdsaRound1State,
  msgs: Map<PartyId, PeerMessages>,
  ctx: EcdsaContext
): HandlerResult<EcdsaSignState, EcdsaSignature> {
  const share = needShare(ctx, s);
  const me = ctx.me;
  const sidS = hexToBytes(ctx.sid);
  const commits: Record<string, Uint8Array> = { [me]: s.C };
  const m1: Record<string, Uint8Array> = {};
  for (const j of ctx.peers) {
    const m = msgs.get(j) as PeerMessages;
    blame(j, () => {
      commits[j] = fixedBytes(
        decodeFields(m.broadcast as Uint8Array, 1, 'sign round 1')[0] as Uint8Array,
        32,
        'C'
      );
      m1[j] = fixedBytes(
        decodeFields(m.p2p as Uint8Array, 1, 'sign round 1 p2p')[0] as Uint8Array,
        M1_BYTES,
        'M1'
      );
    });
  }
  const E1 = H256('sign/echo1', sidS, list(s.signers.map((id) => commits[id] as Uint8Array)));
  const lambda = lagrange(G, s.signers, me);
  const zeta = zeroShare(G, me, s.signers, (j) => pairwiseSetup(share, j).zeroSeed, sidS);
  const sk = G.mod(lambda * shareSecret(share) + zeta);
  const pkShare = G.encodePoint(G.base(sk));
  const out: Outgoing[] = [];
  const alice: Record<string, [bigint, bigint]> = {};
  for (const j of ctx.peers) {
    // Re-read the ban right before processing this pair's M1: another session may have set it.
    refuseBanned(share, [j]);
    const { m2, c } = guarded(ctx, share, j, () =>
      rvoleAliceRespond(
        pairwiseSetup(share, j).sender,
        sidS,
        me,
        j,
        m1[j] as Uint8Array,
        [s.k, sk],
        ctx.rng
      )
    );
    alice[j] = c;
    const chi = (s.bob[j] as RvoleBobState).chi;
    const psi = G.mod(s.phi - chi);
    out.push({
      to: j,
      body: enc(
        m2,
        s.R,
        s.salt,
        pkShare,
        G.encodePoint(G.base(c[0])),
        G.encodePoint(G.base(c[1])),
        G.encodeScalar(psi),
        E1
      ),
    });
  }
  return { state: { ...s, commits, E1, sk, pkShare, alice }, out };
}

function handleRound2(
  s: EcdsaRound2State,
  msgs: Map<PartyId, PeerMessages>,
  ctx: EcdsaContext
): HandlerResult<EcdsaSignState, EcdsaSignature> {
  const share = needShare(ctx, s);
  // A ban recorded by another session of this key since round 1 stops this one too (the lock is
  // key-wide).
  refuseBanned(share, s.signers);
  const me = ctx.me;
  const sidS = hexToBytes(ctx.sid);
  let Phi = s.phi;
  let u = 0n;
  let v = 0n;
  const Rs: GroupPoint[] = [G.decodeOwn(s.R)];
  const pks: GroupPoint[] = [G.decodeOwn(s.pkShare)];
  for (const j of ctx.peers) {
    const f = blame(j, () => {
      const f = decodeFields(msgs.get(j)?.p2p as Uint8Array, 8, 'sign round 2');
      return {
        m2: fixedBytes(f[0], M2_BYTES, 'M2'),
        Rraw: f[1],
        R: G.decodePoint(f[1], 'R'),
        salt: fixedBytes(f[2], 32, 'salt'),
        pk: G.decodePoint(f[3], 'pk'),
        gk: G.decodePoint(f[4], 'Γk'),
        gs: G.decodePoint(f[5], 'Γs'),
        psi: G.decodeScalar(f[6], 'ψ'),
        E1: fixedBytes(f[7], 32, 'E1'),
      };
    });
    if (!ctEqual(f.E1, s.E1)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s.signers, j),
        `party ${j} saw different round-1 commitments`
      );
    }
    const Cj = s.commits[j] as Uint8Array;
    if (!openCommitment(Cj, 'sign/commitR', sidS, j, [f.Rraw], f.salt)) {
      throw new ProtocolAbort(
        'CommitmentOpen',
        j,
        `party ${j}'s R does not open its round-1 commitment`
      );
    }
    const bob = s.bob[j] as RvoleBobState;
    const [dk, ds] = guarded(ctx, share, j, () =>
      rvoleBobFinish(pairwiseSetup(share, j).receiver.setupId, bob, f.m2)
    );
    checkGammas(f, bob.chi, dk, ds, j, ctx.rng);
    const [ck, cs] = s.alice[j] as [bigint, bigint];
    Phi += f.psi;
    u += ck + dk;
    v += cs + ds;
    Rs.push(f.R);
    pks.push(f.pk);
  }
  const pkSum = pks.reduce((a, b) => a.add(b));
  if (!ctEqual(pkSum.is0() ? new Uint8Array(33) : G.encodePoint(pkSum), s.pk)) {
    throw new ProtocolAbort(
      'PublicShareSum',
      s.signers.length === 2 ? (ctx.peers[0] as PartyId) : null,
      'the public key shares do not add up to the key'
    );
  }
  const R = Rs.reduce((a, b) => a.add(b));
  const Rx = R.is0() ? 0n : bytesToNumberBE((R.toBytes() as Uint8Array).subarray(1));
  const r = G.mod(Rx);
  if (R.is0() || r === 0n)
    throw new ProtocolAbort('DegenerateR', null, 'the combined nonce is degenerate');
  // x(R) ≥ q would need recovery id 2 or 3, which chains refuse. Known now, before
  // the presignature exists and before anything of round 3 leaves (probability ≈ 2^-127).
  if (Rx >= Q)
    throw new ProtocolAbort(
      'RecoveryIdOverflow',
      null,
      'x(R) ≥ q (probability ≈ 2^-127): sign again'
    );
  Phi = G.mod(Phi);
  // Bob's choice bits and rows, and both sides' multiplication shares, are spent: erase them.
  wipeState(s.bob);
  wipeState(s.alice);
  warmKeyTable(s.pk);
  const presig = {
    u: G.mod(s.k * Phi + u),
    v: G.mod(s.sk * Phi + v),
    phi: s.phi,
    r,
    R: G.encodePoint(R),
  };
  const next: EcdsaPresignedState = {
    ...s,
    k: 0n,
    sk: 0n,
    bob: {},
    alice: {},
    presig,
    presigId: `ecdsa:${ctx.sid}:${me}`,
  };
  if (next.digest === null) return { state: next, out: [] };
  return online(next, next.digest, ctx.sid, needLedger(ctx.ledger));
}

/**
 * The GammaK and GammaS checks, `χ·R_j = d_k·G + Γ^k` and `χ·pk_j = d_s·G + Γ^s`, as one
 * multiplication by the secret χ: with a fresh 128-bit weight ρ drawn after j's message arrived,
 * `χ·(R_j + ρ·pk_j) = (d_k + ρ·d_s)·G + Γ^k + ρ·Γ^s` holds for wrong values with probability at
 * most 2^-128. ρ is not secret (it only has to be unpredictable to j in advance), so its products
 * are variable-time. On a failure the two checks run apart to name the one that failed.
 */
function checkGammas(
  f: { R: GroupPoint; pk: GroupPoint; gk: GroupPoint; gs: GroupPoint },
  chi: bigint,
  dk: bigint,
  ds: bigint,
  j: PartyId,
  rng: Rng
): void {
  const rho = bytesToNumberBE(rng(16)) | 1n;
  const lhs = G.mulSecret(f.R.add(G.mulPublic(f.pk, rho)), chi);
  const rhs = G.base(dk + rho * ds).add(f.gk.add(G.mulPublic(f.gs, rho)));
  if (lhs.equals(rhs)) return;
  if (!G.mulSecret(f.R, chi).equals(G.base(dk).add(f.gk))) {
    throw new ProtocolAbort('GammaK', j, `party ${j}'s multiplication input does not match its R`);
  }
  throw new ProtocolAbort(
    'GammaS',
    j,
    `party ${j}'s multiplication input does not match its key share`
  );
}

/** The online step: consume the presignature once and compute `w_i = e·φ_i + r·v_i`. */
function online(
  s: EcdsaPresignedState,
  digest: Uint8Array,
  sid: string,
  ledger: NonceLedger
): HandlerResult<EcdsaRound3State, EcdsaSignature> {
  const presig = s.presig;
  if (!presig || !ledger.consume(s.presigId)) throw new NonceReuse();
  const e = G.mod(bytesToNumberBE(digest));
  // The digest is bound late (presigning): each signer states which digest it signs, so that a
  // disagreement is reported as such (DigestMismatch) instead of blamed on an honest peer.
  const dz = H256('sign/digest', hexToBytes(sid), digest);
  const w = G.mod(e * presig.phi + presig.r * presig.v);
  const next = {
    ...s,
    presig: null,
    phi: 0n,
    own: { u: presig.u, w, R: presig.R },
  };
  return {
    state: { ...next, digest, digestHash: dz },
    out: [{ to: 0, body: enc(G.encodeScalar(presig.u), G.encodeScalar(w), dz) }],
  };
}

function handleRound3(
  s: EcdsaRound3State,
  msgs: Map<PartyId, PeerMessages>,
  ctx: EcdsaContext
): HandlerResult<EcdsaSignState, EcdsaSignature> {
  const own = s.own;
  let U = own.u;
  let W = own.w;
  for (const j of ctx.peers) {
    const { uj, wj, dz } = blame(j, () => {
      const f = decodeFields(msgs.get(j)?.broadcast as Uint8Array, 3, 'sign round 3');
      return {
        uj: G.decodeScalar(f[0], 'u'),
        wj: G.decodeScalar(f[1], 'w'),
        dz: fixedBytes(f[2], 32, 'digest hash'),
      };
    });
    if (!ctEqual(dz, s.digestHash)) {
      // The signers were given different digests (coordinator or policy layer): no one can be
      // blamed from here, and no signature can result.
      throw new ProtocolAbort('DigestMismatch', null, `party ${j} signed a different digest`);
    }
    U += uj;
    W += wj;
  }
  const blameAll = s.signers.length === 2 ? (ctx.peers[0] as PartyId) : null;
  U = G.mod(U);
  W = G.mod(W);
  if (U === 0n) throw new ProtocolAbort('ZeroDenominator', blameAll, 'the combined u is zero');
  let sig = G.mod(W * G.inv(U));
  if (sig === 0n) throw new ProtocolAbort('SignatureInvalid', blameAll, 'the combined s is zero');
  const rb = own.R;
  const Rx = bytesToNumberBE(rb.subarray(1));
  const r = G.mod(Rx);
  let flip = 0;
  if (sig > Q >> 1n) {
    sig = Q - sig;
    flip = 1;
  }
  const digest = s.digest;
  const compact = concatBytes(numberToBytesBE(r, 32), numberToBytesBE(sig, 32));
  // Invariant 4: the signature must verify against the group key before anything is
  // returned; a failure is terminal and never retried (the Lindell17 abort class,
  // docs/security.md A-07). This is ECDSA verification, R' = (e/s)·G + (r/s)·PK, compared with the
  // whole nonce point (negated when s was) rather than only its x mod q: that is stronger than
  // x(R') ≡ r, and it also proves the recovery id, which is the parity of R'.y.
  const e = G.mod(bytesToNumberBE(digest));
  const sInv = G.inv(sig);
  const Rv = G.basePublic(G.mod(e * sInv)).add(timesKey(s.pk, G.mod(r * sInv)));
  const Rown = G.decodeOwn(rb);
  if (!Rv.equals(flip ? Rown.negate() : Rown)) {
    throw new ProtocolAbort('SignatureInvalid', blameAll, 'the combined signature does not verify');
  }
  const recovery = (((rb[0] as number) & 1) ^ flip) as 0 | 1;
  const sigObj = secp256k1.Signature.fromBytes(compact, 'compact');
  return {
    state: s,
    out: [],
    result: {
      r: compact.slice(0, 32),
      s: compact.slice(32),
      recovery,
      der: sigObj.toBytes('der'),
      compact,
    },
  };
}

/** The ECDSA signing protocol definition. */
export const ecdsaSignProtocol: ProtocolDef<EcdsaSignState, EcdsaSignature, EcdsaCallContext> = {
  name: NAME,
  rounds: 3,
  expect: (round) => ({ broadcast: round !== 2, p2p: round !== 3 }),
  // Round 3 needs our own (u_i, w_i), which exists only once the digest is bound.
  ready: (round, s) => round !== 3 || s.own !== undefined,
  // The session's round says which state it holds: each handler returns the next round's.
  handle(round, state, msgs, ctx) {
    if (round === 1) return handleRound1(state, msgs, ctx);
    if (round === 2) return handleRound2(state as EcdsaRound2State, msgs, ctx);
    if (round === 3) return handleRound3(state as EcdsaRound3State, msgs, ctx);
    throw new InputError(`ecdsa.sign has no round ${round}`);
  },
};

function validateDigest(d: unknown): Uint8Array {
  if (!(d instanceof Uint8Array) || d.length !== 32)
    throw new InputError('ecdsa.sign: the digest must be 32 bytes');
  return copyBytes(d);
}

/** Starts one signer: its round-1 commitment broadcast and one RVOLE M1 per other signer. */
export function ecdsaSignStart(
  p: EcdsaSignParams,
  opts: EcdsaStartOptions
): Step<EcdsaSignSession, never> {
  const { share } = p;
  const ledger = needLedger(opts?.ledger);
  const bad = (why: string): never => {
    throw new InputError(`ecdsa.sign: ${why}`);
  };
  if (!(share instanceof KeyShare) || share.scheme !== 'ecdsa')
    bad('the share must be an ecdsa KeyShare');
  const signers = [...p.signers].sort((a, b) => a - b);
  if (new Set(signers).size !== signers.length) bad('signer ids must be distinct');
  if (signers.length !== share.threshold)
    bad(`exactly ${share.threshold} signers are needed, got ${signers.length}`);
  if (!signers.includes(share.partyId)) bad('the signer set must include this party');
  for (const id of signers)
    if (!share.parties.includes(id)) bad(`party ${id} holds no share of this key`);
  if (!(p.rid instanceof Uint8Array) || p.rid.length !== 32) bad('rid must be 32 bytes');
  const digest = p.digest === undefined ? null : validateDigest(p.digest);
  refuseBanned(share, signers);
  const rng = opts.rng ?? systemRng;
  const me = share.partyId;
  const path = share.path;
  const pk = copyBytes(share.groupKey);
  const sidS = H256(
    'sign/psid',
    share.keyId,
    share.epoch,
    p.rid,
    list(signers.map(u32be)),
    list(path.map(u32be)),
    pk
  );
  // A session id is processed once, recorded before any round-1 message leaves. The request id
  // alone is refused too: a replayed rid with another signer set is still a replay.
  if (
    !ledger.consume(`ecdsa.rid:${bytesToHex(p.rid)}:${me}`) ||
    !ledger.consume(`ecdsa.sign:${bytesToHex(sidS)}:${me}`)
  ) {
    throw new InputError('ecdsa.sign: this request id or signing session id was already used', {
      check: 'SessionReplay',
      hints: ['every signature needs a fresh request id (rid)'],
    });
  }
  const k = G.randomScalar(rng);
  const phi = G.randomScalar(rng);
  const R = G.encodePoint(G.base(k));
  const salt = rng(32);
  const C = commit('sign/commitR', sidS, me, [R], salt);
  const out: Outgoing[] = [{ to: 0, body: enc(C) }];
  const bob: Record<string, RvoleBobState> = {};
  for (const j of signers) {
    if (j === me) continue;
    const { m1, state } = rvoleBobStart(pairwiseSetup(share, j).receiver, sidS, j, me, rng);
    bob[j] = state;
    out.push({ to: j, body: enc(m1) });
  }
  // The state owns every array it holds (it is wiped when the session ends).
  const state: EcdsaSignState = {
    signers,
    keyId: copyBytes(share.keyId),
    epoch: copyBytes(share.epoch),
    shareDigest: copyBytes(sharePublicDigest(share)),
    pk,
    digest,
    k,
    phi,
    R,
    salt,
    C,
    bob,
  };
  return openSession(
    ecdsaSignProtocol,
    bytesToHex(sidS),
    me,
    signers.filter((j) => j !== me),
    state,
    out
  );
}

/** Feeds one envelope to a signer, with its share, ledger and pair guard. */
export function ecdsaSignReceive(
  session: EcdsaSignSession,
  env: Envelope,
  opts: EcdsaReceiveOptions
): Step<EcdsaSignSession, EcdsaSignature> {
  checkCallOptions(session, opts, true);
  return receiveEnvelope(ecdsaSignProtocol, session, env, opts);
}

/**
 * The online phase for a presigned session: binds the digest, consumes the presignature (once,
 * ever: the nonce ledger refuses a second use even through a copy of the session) and returns
 * the round-3 broadcast (and the signature if every other signer's round 3 is already in).
 */
export function ecdsaSignComplete(
  session: EcdsaSignSession,
  digest: Uint8Array,
  opts: EcdsaCompleteOptions
): Step<EcdsaSignSession, EcdsaSignature> {
  if (session.proto !== NAME) throw new InputError(`session is for ${session.proto}, not ${NAME}`);
  if (session.status !== 'active') throw new SessionClosed(session.status, { sid: session.sid });
  const s = session.state as EcdsaSignState;
  if (session.round !== 3 || !s.presig || s.digest !== null) {
    throw new InputError('ecdsa.sign: complete() needs a presigned session without a digest');
  }
  const d = validateDigest(digest);
  checkCallOptions(session, opts, false);
  // A presignature made before a ban is not completed after it (the lock is key-wide):
  // the session is aborted and its presignature erased.
  try {
    refuseBanned(opts.share, s.signers);
  } catch (e) {
    abortSession(session as Session<unknown>, e);
  }
  // A presignature exists only in a state that went through round 2.
  const state = { ...s, digest: d } as EcdsaPresignedState;
  const next: EcdsaSignSession = { ...session, state };
  session.status = 'consumed';
  session.state = null;
  session.inbox = [];
  let res: HandlerResult<EcdsaRound3State, EcdsaSignature>;
  try {
    res = online(state, d, next.sid, opts.ledger);
  } catch (e) {
    abortSession(next as Session<unknown>, e);
  }
  next.state = res.state;
  return advanceSession(
    ecdsaSignProtocol,
    next,
    opts,
    wrapOutgoing(next as Session<unknown>, 3, res.out)
  );
}

/** The ECDSA signing protocol: `start`, `receive`, `complete`, and session (de)serialisation. */
export const ecdsaSign = {
  /** Rounds whose messages a party receives. */
  rounds: ecdsaSignProtocol.rounds,
  start: ecdsaSignStart,
  receive: ecdsaSignReceive,
  complete: ecdsaSignComplete,
  encodeSession: (s: EcdsaSignSession): Uint8Array => encodeSession(s as Session<unknown>),
  decodeSession: (b: Uint8Array): EcdsaSignSession => decodeSession(ecdsaSignProtocol, b),
  /**
   * The rounds whose received messages run a check under the pair guard (round 1: the OT
   * extension's consistency check; round 2: the RVOLE's μ). A caller that keeps durable
   * pending-check markers needs one only for a step that carries messages of these rounds.
   */
  guardedRounds: [1, 2] as readonly number[],
} as const;
