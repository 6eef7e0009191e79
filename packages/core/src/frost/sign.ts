/**
 * FROST signing sessions (docs/protocols/frost.md) around noble's RFC 9591 implementation.
 *
 * Every signer is its own coordinator, so no party takes the commitment list or the group key
 * from anyone else:
 *
 * | round | sends                          | kind      |
 * |-------|--------------------------------|-----------|
 * | 1     | `(D_i, E_i)`                   | broadcast |
 * | 2     | `(z_i, echo)`                  | broadcast |
 * | out   | aggregate, verify, signature   |           |
 *
 * `echo = H256("frost/echo1", sid, list(id ‖ D ‖ E))` makes every signer confirm it used the same
 * commitment list, so an equivocating relay is caught as `EchoMismatch` instead of being blamed on
 * an honest signer. The nonce pair is consumed exactly once: its id goes into the nonce ledger
 * before the signature share is computed, and the nonces are erased from the session.
 * @module
 */
import type { FROST } from '@noble/curves/abstract/frost.js';
import { bytesToHex, concatBytes, copyBytes, ctEqual, hexToBytes, u32be } from '../bytes.ts';
import { decodeFields, fixedBytes } from '../codec.ts';
import { InputError, NonceReuse, type PartyId, ProtocolAbort } from '../errors.ts';
import { KeyShare, shareSecret } from '../keyshare.ts';
import { type Rng, systemRng } from '../rng.ts';
import {
  blame,
  decodeSession,
  echoCulprit,
  encodeSession,
  type HandlerContext,
  type HandlerResult,
  type NonceLedger,
  openSession,
  type PeerMessages,
  type ProtocolDef,
  receiveEnvelope,
  type Session,
} from '../session/driver.ts';
import type { Envelope, Step } from '../session/envelope.ts';
import { enc, H256, list } from '../transcript.ts';
import { type FrostSuiteName, frostSuite } from './suites.ts';

/** Inputs every signer agrees on. */
export interface FrostSignParams {
  /** This signer's share (scheme `ed25519` or `bip340`). */
  share: KeyShare;
  /** Ids of the signers, each holding a share of the same key and epoch; at least t of them. */
  signers: PartyId[];
  /** The message bytes to sign (not a digest). */
  message: Uint8Array;
  /** Fresh 32-byte request id from the coordinator; never reused. */
  rid: Uint8Array;
}

/** Options of `frostSign.start`. */
export interface FrostStartOptions {
  /**
   * This party's durable single-use ledger (required): the session id is recorded before round 1
   * leaves, the nonce pair before the signature share is computed. Record durably before sending
   * what the call returns.
   */
  ledger: NonceLedger;
  /** Randomness (tests only; defaults to the platform CSPRNG). */
  rng?: Rng;
}

/** Options of `frostSign.receive`. */
export interface FrostReceiveOptions {
  /** The durable single-use ledger (see `FrostStartOptions`). */
  ledger: NonceLedger;
  /** Sender authenticated by the transport; a different `env.from` aborts naming this party. */
  sender?: PartyId;
  rng?: Rng;
}

/** The ledger, required wherever a single-use id is recorded. */
function needLedger(ledger: NonceLedger | undefined): NonceLedger {
  if (!ledger || typeof ledger.consume !== 'function')
    throw new InputError('frost.sign: pass a durable NonceLedger as { ledger }', {
      check: 'LedgerMissing',
      hints: ['there is no default ledger: an in-memory one forgets across a restart'],
    });
  return ledger;
}

/** Plain, serialisable state of one signer. */
export interface FrostSignState {
  suite: FrostSuiteName;
  signers: PartyId[];
  t: number;
  n: number;
  secret: bigint;
  groupKey: Uint8Array;
  vshares: Record<string, Uint8Array>;
  message: Uint8Array;
  /** Own nonce pair; null once used. */
  nonces: { hiding: Uint8Array; binding: Uint8Array } | null;
  nonceId: string;
  D: Uint8Array;
  E: Uint8Array;
  commitments?: { id: PartyId; D: Uint8Array; E: Uint8Array }[];
  echo?: Uint8Array;
  /** Own signature share once sent (public from then on). */
  ownShare?: Uint8Array;
}

/** A FROST signing session. */
export type FrostSignSession = Session<FrostSignState>;

const NAME = 'frost.sign';

function publicPackage(s: FrostSignState) {
  const { frost } = frostSuite(s.suite);
  const verifyingShares: Record<string, Uint8Array> = {};
  for (const [id, X] of Object.entries(s.vshares))
    verifyingShares[frost.Identifier.fromNumber(Number(id))] = X;
  return { signers: { min: s.t, max: s.n }, commitments: [s.groupKey], verifyingShares };
}

function secretPackage(s: FrostSignState, me: PartyId) {
  const { frost, group } = frostSuite(s.suite);
  return {
    identifier: frost.Identifier.fromNumber(me),
    signingShare: group.encodeScalar(s.secret),
  };
}

/** The commitment list in the shape noble's FROST takes. */
type CommitmentList = Parameters<FROST['signShare']>[3];

function commitmentList(s: FrostSignState): CommitmentList {
  const { frost } = frostSuite(s.suite);
  return (s.commitments ?? []).map((c) => ({
    identifier: frost.Identifier.fromNumber(c.id),
    hiding: c.D,
    binding: c.E,
  }));
}

function handleCommitments(
  s: FrostSignState,
  msgs: Map<PartyId, PeerMessages>,
  ctx: HandlerContext
): HandlerResult<FrostSignState, Uint8Array> {
  const { group, frost } = frostSuite(s.suite);
  const commitments = s.signers.map((id) => {
    if (id === ctx.me) return { id, D: s.D, E: s.E };
    return blame(id, () => {
      const f = decodeFields(msgs.get(id)?.broadcast as Uint8Array, 2, 'frost round 1');
      // noble re-validates every commitment (subgroup included) inside signShare; the full check
      // here runs only if that fails, to name the sender (see below).
      const D = group.encodePoint(group.decodePoint(f[0], 'D', { subgroup: false }));
      const E = group.encodePoint(group.decodePoint(f[1], 'E', { subgroup: false }));
      return { id, D, E };
    });
  });
  const echo = H256(
    'frost/echo1',
    hexToBytes(ctx.sid),
    list(commitments.map((c) => concatBytes(u32be(c.id), c.D, c.E)))
  );
  const nonces = s.nonces;
  // Single use: the nonce is recorded as used before anything is computed from it, and erased
  // from the session whatever happens next.
  if (!nonces || !needLedger(ctx.ledger).consume(s.nonceId)) throw new NonceReuse({ sid: ctx.sid });
  const next: FrostSignState = { ...s, nonces: null, commitments, echo };
  let z: Uint8Array;
  try {
    z = frost.signShare(
      secretPackage(s, ctx.me),
      publicPackage(s),
      nonces,
      commitmentList(next),
      s.message
    );
  } catch (e) {
    for (const c of commitments) {
      if (c.id === ctx.me) continue;
      blame(c.id, () => {
        group.decodePoint(c.D, 'D');
        group.decodePoint(c.E, 'E');
      });
    }
    throw e;
  } finally {
    nonces.hiding.fill(0);
    nonces.binding.fill(0);
  }
  next.ownShare = z;
  return { state: next, out: [{ to: 0, body: enc(z, echo) }] };
}

function handleShares(
  s: FrostSignState,
  msgs: Map<PartyId, PeerMessages>,
  ctx: HandlerContext
): HandlerResult<FrostSignState, Uint8Array> {
  const { group, frost, verify } = frostSuite(s.suite);
  const shares: Record<string, Uint8Array> = {
    [frost.Identifier.fromNumber(ctx.me)]: s.ownShare as Uint8Array,
  };
  for (const id of s.signers) {
    if (id === ctx.me) continue;
    const { z, echo } = blame(id, () => {
      const f = decodeFields(msgs.get(id)?.broadcast as Uint8Array, 2, 'frost round 2');
      return {
        z: group.encodeScalar(group.decodeScalar(f[0], 'z')),
        echo: fixedBytes(f[1], 32, 'echo'),
      };
    });
    if (!ctEqual(echo, s.echo as Uint8Array)) {
      throw new ProtocolAbort(
        'EchoMismatch',
        echoCulprit(s.signers, id),
        `party ${id} signed over a different commitment list`
      );
    }
    shares[frost.Identifier.fromNumber(id)] = z;
  }
  let sig: Uint8Array;
  try {
    sig = frost.aggregate(publicPackage(s), commitmentList(s), s.message, shares);
  } catch (e) {
    // noble verifies the aggregate and, on failure, every share (RFC 9591 §5.4): name cheaters.
    const cheaters = ((e as { cheaters?: string[] }).cheaters ?? []).map((hex) =>
      s.signers.find((id) => frost.Identifier.fromNumber(id) === hex)
    );
    const culprit = cheaters[0] ?? null;
    throw new ProtocolAbort(
      culprit === null ? 'SignatureInvalid' : 'SignatureShare',
      culprit,
      culprit === null
        ? 'the aggregate signature is invalid and no single share can be blamed'
        : `invalid signature share from part${cheaters.length > 1 ? 'ies' : 'y'} ${cheaters.join(', ')}`
    );
  }
  // Invariant 4: verify with the curve's ordinary verifier before anything is returned.
  if (!verify(sig, s.message, s.groupKey)) {
    throw new ProtocolAbort('SignatureInvalid', null, 'the aggregate signature does not verify');
  }
  return { state: s, out: [], result: sig };
}

/** The FROST signing protocol definition. */
export const frostSignProtocol: ProtocolDef<FrostSignState, Uint8Array> = {
  name: NAME,
  rounds: 2,
  expect: () => ({ broadcast: true, p2p: false }),
  handle: (round, state, msgs, ctx) =>
    round === 1 ? handleCommitments(state, msgs, ctx) : handleShares(state, msgs, ctx),
};

/** @internal Starts a signer with an explicit suite (RFC vectors use `secp256k1-rfc9591`). */
export function frostSignStartWithSuite(
  suiteName: FrostSuiteName,
  p: FrostSignParams,
  opts: FrostStartOptions
): Step<FrostSignSession, never> {
  const { share } = p;
  const ledger = needLedger(opts?.ledger);
  const bad = (why: string): never => {
    throw new InputError(`frost.sign: ${why}`);
  };
  if (!(share instanceof KeyShare)) bad('share must be a KeyShare');
  if (suiteName !== 'secp256k1-rfc9591' && share.scheme !== suiteName)
    bad(`a ${share.scheme} key cannot make ${suiteName} signatures`);
  const signers = [...p.signers].sort((a, b) => a - b);
  if (new Set(signers).size !== signers.length) bad('signer ids must be distinct');
  if (signers.length < share.threshold)
    bad(`need at least ${share.threshold} signers, got ${signers.length}`);
  if (!signers.includes(share.partyId)) bad('the signer set must include this party');
  for (const id of signers)
    if (!share.parties.includes(id)) bad(`party ${id} holds no share of this key`);
  if (!(p.message instanceof Uint8Array)) bad('message must be bytes');
  if (!(p.rid instanceof Uint8Array) || p.rid.length !== 32) bad('rid must be 32 bytes');
  const { frost, group } = frostSuite(suiteName);
  const secret = shareSecret(share);
  const sid = H256(
    'frost/sid',
    share.keyId,
    share.epoch,
    p.rid,
    list(signers.map(u32be)),
    list(share.path.map(u32be)),
    p.message,
    share.groupKey
  );
  // A session id is processed once, recorded before any round-1 message leaves.
  if (!ledger.consume(`frost.sign:${bytesToHex(sid)}:${share.partyId}`)) {
    throw new InputError('frost.sign: this signing session id was already used', {
      check: 'SessionReplay',
      hints: ['every signature needs a fresh request id (rid)'],
    });
  }
  const { nonces, commitments } = frost.commit(
    {
      identifier: frost.Identifier.fromNumber(share.partyId),
      signingShare: group.encodeScalar(secret),
    },
    (n = 32) => Uint8Array.from((opts.rng ?? systemRng)(n))
  );
  const vshares: Record<string, Uint8Array> = {};
  for (const id of share.parties) vshares[id] = share.verificationShare(id);
  const state: FrostSignState = {
    suite: suiteName,
    signers,
    t: share.threshold,
    n: share.parties.length,
    secret,
    groupKey: copyBytes(share.groupKey),
    vshares,
    message: copyBytes(p.message),
    nonces: { hiding: nonces.hiding, binding: nonces.binding },
    nonceId: `frost:${bytesToHex(commitments.hiding)}${bytesToHex(commitments.binding)}`,
    D: commitments.hiding,
    E: commitments.binding,
  };
  const peers = signers.filter((id) => id !== share.partyId);
  return openSession(frostSignProtocol, bytesToHex(sid), share.partyId, peers, state, [
    { to: 0, body: enc(commitments.hiding, commitments.binding) },
  ]);
}

/** Starts one signer: returns the session and its round-1 commitment broadcast. */
export function frostSignStart(
  p: FrostSignParams,
  opts: FrostStartOptions
): Step<FrostSignSession, never> {
  if (p.share?.scheme !== 'ed25519' && p.share?.scheme !== 'bip340') {
    throw new InputError('frost.sign: the share must be an ed25519 or bip340 key');
  }
  return frostSignStartWithSuite(p.share.scheme, p, opts);
}

/** Feeds one envelope to a signer. The result is the verified 64-byte signature. */
export function frostSignReceive(
  session: FrostSignSession,
  env: Envelope,
  opts: FrostReceiveOptions
): Step<FrostSignSession, Uint8Array> {
  // Checked before the session is touched: a missing ledger is the caller's mistake.
  needLedger(opts?.ledger);
  return receiveEnvelope(frostSignProtocol, session, env, opts);
}

/** The FROST signing protocol: `start`, `receive`, and session (de)serialisation. */
export const frostSign = {
  /** Rounds whose messages a party receives. */
  rounds: frostSignProtocol.rounds,
  start: frostSignStart,
  receive: frostSignReceive,
  encodeSession: (s: FrostSignSession): Uint8Array => encodeSession(s as Session<unknown>),
  decodeSession: (b: Uint8Array): FrostSignSession => decodeSession(frostSignProtocol, b),
} as const;
