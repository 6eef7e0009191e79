/**
 * Pairing two devices with a short authentication string (docs/protocols/pairing.md).
 *
 * A sans-IO state machine. The initiator I commits to its ephemeral X25519 key before it sees the
 * responder's; the responder R reveals its key after seeing only that commitment; then I reveals
 * and R checks the commitment. Neither side can choose its ephemeral key after seeing the other's,
 * so a man in the middle matches the two 6-digit codes with probability 10^-6 per attempt.
 *
 * ```
 * I → R  PairStart  { roomId, I identity, nameI, C_I = H256("pair/commit", roomId, E_I, I identity, nameI) }
 * R → I  PairAccept { roomId, R identity, nameR, E_R }
 * I → R  PairReveal { roomId, E_I }                         R checks C_I
 *        both show code = HKDF(X25519(e, E_peer), salt = th, "…/sas") mod 10^6
 * I ⇄ R  PairConfirm { roomId, role, HMAC(k_role, th) }      after the user confirms
 *   or   PairRefuse  { roomId, role }                        after the user refuses
 * ```
 *
 * Every message is signed by its sender's identity key over the running hash of the messages so
 * far (`pair/chain`). Culprits are roles: `PAIR_INITIATOR` (1) and `PAIR_RESPONDER` (2).
 * @module
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ctEqual, readU32be, utf8ToBytes, wipe } from './bytes.ts';
import { InputError, MessageRejected, ProtocolAbort, SessionClosed } from './errors.ts';
import {
  checkPartyPublic,
  fingerprint,
  type PartyIdentity,
  type PartyPublic,
  samePartyPublic,
} from './relay-envelope.ts';
import { type Rng, systemRng } from './rng.ts';
import { enc, H256, TAGS } from './transcript.ts';

const LABEL = utf8ToBytes('tessera/pair/v1');
const SIG_LABEL = utf8ToBytes('tessera/pair/v1/sig');
const SAS_INFO = utf8ToBytes('tessera/pair/v1/sas');
const CONFIRM_LABEL = utf8ToBytes('tessera/pair/v1/confirm');
const CONFIRM_INFO = [
  utf8ToBytes('tessera/pair/v1/confirm/initiator'),
  utf8ToBytes('tessera/pair/v1/confirm/responder'),
] as const;

/** The initiator's role id (the culprit of errors about its messages). */
export const PAIR_INITIATOR = 1;
/** The responder's role id. */
export const PAIR_RESPONDER = 2;
/** The longest device name, in UTF-8 bytes. */
export const PAIR_MAX_NAME = 64;
/** Digits of the code the users compare. */
export const PAIR_CODE_DIGITS = 6;

type Role = typeof PAIR_INITIATOR | typeof PAIR_RESPONDER;

const KIND = { start: 1, accept: 2, reveal: 3, confirm: 4, refuse: 5 } as const;
type Kind = (typeof KIND)[keyof typeof KIND];

/** Where a pairing session stands. */
export type PairingStatus =
  | 'awaitAccept'
  | 'awaitReveal'
  | 'awaitUser'
  | 'awaitPeerConfirm'
  | 'done'
  | 'refused'
  | 'aborted'
  | 'consumed';

/** What a device needs to pair. */
export interface PairingParams {
  identity: PartyIdentity;
  /** The name the peer will show for this device (1..64 UTF-8 bytes, no control characters). */
  name: string;
  /** The relay room (or LAN session) both devices joined, 16 bytes. */
  roomId: Uint8Array;
}

/** The outcome of a successful pairing: what to pin for the peer. */
export interface PairingResult {
  peer: PartyPublic;
  fingerprint: string;
  name: string;
}

/** A pairing session. Plain data; `receive` and `confirm` consume it. */
export interface PairingSession {
  status: PairingStatus;
  readonly role: Role;
  readonly roomId: Uint8Array;
  readonly identity: PartyIdentity;
  readonly name: string;
  /** The code to show the user, once both ephemeral keys are known. */
  readonly code: string | null;
  readonly peer: PartyPublic | null;
  readonly peerName: string | null;
  /** True once the peer's valid confirmation arrived. */
  readonly peerConfirmed: boolean;
  /** @internal Secret and transcript state. */
  readonly st: {
    ephemeralSecret: Uint8Array | null;
    ephemeral: Uint8Array;
    commitment: Uint8Array | null;
    peerEphemeral: Uint8Array | null;
    /** The running hash after the last of the first three messages. */
    chain: Uint8Array;
    /** The SAS transcript hash `th`. */
    th: Uint8Array | null;
    shared: Uint8Array | null;
  };
}

/** One step: the new session, messages to send, and the code or result when there is one. */
export interface PairingStep {
  session: PairingSession;
  out: Uint8Array[];
  code?: string;
  result?: PairingResult;
}

// --- Names ---------------------------------------------------------------------------------

/** Strict UTF-8 decoding of a display name: no overlong forms, surrogates or control chars. */
function decodeName(b: Uint8Array): string | null {
  let s = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    let cp: number;
    let n: number;
    if (c < 0x80) [cp, n] = [c, 1];
    else if (c >= 0xc2 && c < 0xe0) [cp, n] = [c & 0x1f, 2];
    else if (c >= 0xe0 && c < 0xf0) [cp, n] = [c & 0x0f, 3];
    else if (c >= 0xf0 && c < 0xf5) [cp, n] = [c & 0x07, 4];
    else return null;
    if (i + n > b.length) return null;
    for (let k = 1; k < n; k++) {
      const d = b[i + k] as number;
      if ((d & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n === 3 && cp < 0x800) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) return null;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return null;
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}

const nameOk = (b: Uint8Array) =>
  b.length >= 1 && b.length <= PAIR_MAX_NAME && decodeName(b) !== null;

// --- Hashes and keys ------------------------------------------------------------------------

/** `C_I = H256("pair/commit", roomId, E_I, I.ed25519, I.x25519, nameI)`. */
export function pairCommitment(
  roomId: Uint8Array,
  ephemeral: Uint8Array,
  initiator: PartyPublic,
  name: Uint8Array
): Uint8Array {
  return H256(TAGS.pairCommit, roomId, ephemeral, initiator.publicKey, initiator.x25519, name);
}

/** The SAS transcript hash `th`: the room, both identities, both names, both ephemeral keys. */
export function pairTranscript(t: {
  roomId: Uint8Array;
  initiator: PartyPublic;
  initiatorName: Uint8Array;
  responder: PartyPublic;
  responderName: Uint8Array;
  initiatorEphemeral: Uint8Array;
  responderEphemeral: Uint8Array;
}): Uint8Array {
  return H256(
    TAGS.pairTranscript,
    t.roomId,
    t.initiator.publicKey,
    t.initiator.x25519,
    t.initiatorName,
    t.responder.publicKey,
    t.responder.x25519,
    t.responderName,
    t.initiatorEphemeral,
    t.responderEphemeral
  );
}

/**
 * The code: `OS2IP(HKDF-SHA256(ikm = shared, salt = th, info = "tessera/pair/v1/sas", 8)) mod
 * 10^digits`, zero-padded (the bias of a 64-bit value reduced mod 10^6 is below 2^-44).
 */
export function pairCode(shared: Uint8Array, th: Uint8Array, digits = PAIR_CODE_DIGITS): string {
  const okm = hkdf(sha256, shared, th, SAS_INFO, 8);
  const v = (BigInt(readU32be(okm, 0)) << 32n) | BigInt(readU32be(okm, 4));
  wipe(okm);
  return (v % 10n ** BigInt(digits)).toString().padStart(digits, '0');
}

function confirmMac(shared: Uint8Array, th: Uint8Array, role: Role): Uint8Array {
  const k = hkdf(sha256, shared, th, CONFIRM_INFO[role - 1], 32);
  const mac = hmac(sha256, k, enc(CONFIRM_LABEL, Uint8Array.of(role), th));
  wipe(k);
  return mac;
}

const chainStart = (roomId: Uint8Array) => H256(TAGS.pairChain, roomId);
const chainNext = (prev: Uint8Array, m: Uint8Array) => H256(TAGS.pairChain, prev, m);
const sign = (id: PartyIdentity, h: Uint8Array) => ed25519.sign(enc(SIG_LABEL, h), id.signingKey);
function verifies(sig: Uint8Array, h: Uint8Array, pub: Uint8Array): boolean {
  try {
    return ed25519.verify(sig, enc(SIG_LABEL, h), pub);
  } catch {
    return false;
  }
}

// --- Messages -------------------------------------------------------------------------------

const body = (kind: Kind, roomId: Uint8Array, ...fields: Uint8Array[]) =>
  enc(LABEL, Uint8Array.of(kind), roomId, ...fields);

/** Strict `enc` decoding into exactly `n` fields (null when it does not parse). */
function fields(b: Uint8Array, n: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < b.length && out.length <= n) {
    if (b.length - at < 4) return null;
    const len = readU32be(b, at);
    at += 4;
    if (len > b.length - at) return null;
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return at === b.length && out.length === n ? out : null;
}

/** The number of fields after label, kind and roomId, per kind. */
const ARITY: Record<Kind, number> = { 1: 4, 2: 4, 3: 1, 4: 2, 5: 1 };

interface Parsed {
  kind: Kind;
  /** The signed body `m`. */
  m: Uint8Array;
  rest: Uint8Array[];
  sig: Uint8Array;
}

const NAMES: Record<Kind, string> = {
  1: 'PairStart',
  2: 'PairAccept',
  3: 'PairReveal',
  4: 'PairConfirm',
  5: 'PairRefuse',
};

/**
 * Parses a wire message. The version, kind and room are header checks (`MessageRejected`: the
 * message is dropped, the session untouched); a body that does not parse is `MalformedMessage`.
 */
function parse(
  wire: Uint8Array,
  roomId: Uint8Array,
  allowed: readonly Kind[],
  culprit: Role
): Parsed {
  const outer = wire instanceof Uint8Array ? fields(wire, 2) : null;
  const inner = outer ? fieldsAtLeast(outer[0] as Uint8Array) : null;
  if (!outer || !inner)
    throw new ProtocolAbort('MalformedMessage', culprit, 'pairing: a message does not parse');
  const [m, sig] = outer as [Uint8Array, Uint8Array];
  const [label, kindB, room] = inner as [Uint8Array, Uint8Array, Uint8Array];
  if (!ctEqual(label, LABEL))
    throw new MessageRejected('BadVersion', culprit, 'pairing: unknown message version');
  const kind = (kindB.length === 1 ? kindB[0] : 0) as Kind;
  if (!allowed.includes(kind))
    throw new MessageRejected(
      'WrongRound',
      culprit,
      `pairing: ${NAMES[kind] ?? 'an unknown message'} is not expected now (${allowed.map((k) => NAMES[k]).join(' or ')} is)`
    );
  if (!ctEqual(room, roomId))
    throw new MessageRejected('WrongSession', culprit, 'pairing: a message of another room');
  const rest = fields(m, 3 + ARITY[kind])?.slice(3);
  if (!rest || sig.length !== 64)
    throw new ProtocolAbort('MalformedMessage', culprit, `pairing: ${NAMES[kind]} does not parse`);
  return { kind, m, rest, sig };
}

/** The first three fields of a body (label, kind, room), whatever follows. */
function fieldsAtLeast(b: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  while (out.length < 3) {
    if (b.length - at < 4) return null;
    const len = readU32be(b, at);
    at += 4;
    if (len > b.length - at) return null;
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return out;
}

/**
 * The sender's identity, name and 32-byte key (commitment or ephemeral) that open `PairStart`
 * and `PairAccept`: lengths, name and points checked, else an abort naming `culprit`.
 */
function peerOf(
  rest: Uint8Array[],
  culprit: number,
  what: 'PairStart' | 'PairAccept'
): { peer: PartyPublic; peerName: Uint8Array; key: Uint8Array } {
  const [ed, x, peerName, key] = rest as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  if (ed.length !== 32 || x.length !== 32 || key.length !== 32 || !nameOk(peerName))
    throw new ProtocolAbort('MalformedMessage', culprit, `pairing: ${what} does not parse`);
  const peer = party(ed, x);
  const why = checkPartyPublic(peer);
  if (why) throw new ProtocolAbort('BadPoint', culprit, `pairing: ${what}: ${why}`);
  return { peer, peerName, key };
}

const party = (ed: Uint8Array, x: Uint8Array): PartyPublic => ({
  publicKey: ed.slice(),
  x25519: x.slice(),
});

// --- The state machine ----------------------------------------------------------------------

function checkParams(p: PairingParams): Uint8Array {
  const bad = (m: string) => new InputError(`pairing: ${m}`, { check: 'PairingInput' });
  if (!(p.roomId instanceof Uint8Array) || p.roomId.length !== 16)
    throw bad('roomId must be 16 bytes');
  if (typeof p.name !== 'string') throw bad('name must be a string');
  const name = utf8ToBytes(p.name);
  if (!nameOk(name) || decodeName(name) !== p.name)
    throw bad(`name must be 1..${PAIR_MAX_NAME} UTF-8 bytes without control characters`);
  const why = p.identity?.public ? checkPartyPublic(p.identity.public) : 'no identity';
  if (why) throw bad(`identity: ${why}`);
  return name;
}

function session(
  base: Omit<PairingSession, 'status' | 'st' | 'code' | 'peer' | 'peerName' | 'peerConfirmed'>,
  status: PairingStatus,
  st: PairingSession['st'],
  more: Partial<Pick<PairingSession, 'code' | 'peer' | 'peerName' | 'peerConfirmed'>> = {}
): PairingSession {
  return {
    status,
    role: base.role,
    roomId: base.roomId,
    identity: base.identity,
    name: base.name,
    code: null,
    peer: null,
    peerName: null,
    peerConfirmed: false,
    ...more,
    st,
  };
}

function erase(s: PairingSession): void {
  wipe(
    s.st.ephemeralSecret ?? undefined,
    s.st.shared ?? undefined,
    s.st.th ?? undefined,
    s.st.chain
  );
  s.st.ephemeralSecret = null;
  s.st.shared = null;
}

function take(s: PairingSession, allowed: readonly PairingStatus[], what: string): void {
  if (allowed.includes(s.status)) return;
  if (['consumed', 'done', 'aborted', 'refused'].includes(s.status))
    throw new SessionClosed(s.status);
  throw new InputError(`pairing: ${what} is not possible while ${s.status}`, {
    check: 'PairingInput',
  });
}

/** Parses a message for a live session: a header refusal leaves it untouched, an abort ends it. */
function parseFor(
  s: PairingSession,
  wire: Uint8Array,
  allowed: readonly Kind[],
  from: Role
): Parsed {
  try {
    return parse(wire, s.roomId, allowed, from);
  } catch (e) {
    if (e instanceof ProtocolAbort) {
      s.status = 'aborted';
      erase(s);
    }
    throw e;
  }
}

/** Runs `f` on a consumed session; a failed check aborts and erases it. */
function consume<T>(s: PairingSession, f: () => T): T {
  s.status = 'consumed';
  try {
    return f();
  } catch (e) {
    s.status = 'aborted';
    erase(s);
    throw e;
  }
}

function sharedSecret(secret: Uint8Array, peer: Uint8Array, culprit: Role): Uint8Array {
  try {
    return x25519.getSharedSecret(secret, peer);
  } catch {
    throw new ProtocolAbort('BadPoint', culprit, 'pairing: the ephemeral key is of low order');
  }
}

function result(s: PairingSession): PairingResult {
  const peer = s.peer as PartyPublic;
  return { peer, fingerprint: fingerprint(peer), name: s.peerName as string };
}

/** Pairing with codes of `digits` digits. Production uses `pairing` (6 digits). @internal */
export function makePairing(digits: number) {
  const peerRole = (r: Role): Role => (r === PAIR_INITIATOR ? PAIR_RESPONDER : PAIR_INITIATOR);

  return {
    /** The initiator's first step: `PairStart`, which commits to its ephemeral key. */
    initiate(params: PairingParams, opts: { rng?: Rng } = {}): PairingStep {
      const name = checkParams(params);
      const rng = opts.rng ?? systemRng;
      const e = rng(32);
      const E = x25519.getPublicKey(e);
      const C = pairCommitment(params.roomId, E, params.identity.public, name);
      const me = params.identity.public;
      const m = body(KIND.start, params.roomId, me.publicKey, me.x25519, name, C);
      const chain = chainNext(chainStart(params.roomId), m);
      const wire = enc(m, sign(params.identity, chain));
      const base = { role: PAIR_INITIATOR as Role, roomId: params.roomId.slice(), ...pick(params) };
      const s = session(base, 'awaitAccept', {
        ephemeralSecret: e,
        ephemeral: E,
        commitment: C,
        peerEphemeral: null,
        chain,
        th: null,
        shared: null,
      });
      return { session: s, out: [wire] };
    },

    /**
     * The responder's first step, on the initiator's `PairStart`: `PairAccept`, which reveals
     * the responder's ephemeral key (the initiator's is still hidden behind its commitment).
     */
    respond(params: PairingParams, start: Uint8Array, opts: { rng?: Rng } = {}): PairingStep {
      const name = checkParams(params);
      const I = PAIR_INITIATOR;
      const p = parse(start, params.roomId, [KIND.start], I);
      const { peer, peerName, key: C } = peerOf(p.rest, I, 'PairStart');
      if (samePartyPublic(peer, params.identity.public))
        throw new MessageRejected('SelfMessage', I, 'pairing: PairStart carries our own identity');
      const chain1 = chainNext(chainStart(params.roomId), p.m);
      if (!verifies(p.sig, chain1, peer.publicKey))
        throw new ProtocolAbort('PairSignature', I, 'pairing: PairStart signature fails');
      const rng = opts.rng ?? systemRng;
      const e = rng(32);
      const E = x25519.getPublicKey(e);
      const me = params.identity.public;
      const m = body(KIND.accept, params.roomId, me.publicKey, me.x25519, name, E);
      const chain = chainNext(chain1, m);
      const wire = enc(m, sign(params.identity, chain));
      const base = { role: PAIR_RESPONDER as Role, roomId: params.roomId.slice(), ...pick(params) };
      const s = session(
        base,
        'awaitReveal',
        {
          ephemeralSecret: e,
          ephemeral: E,
          commitment: C.slice(),
          peerEphemeral: null,
          chain,
          th: null,
          shared: null,
        },
        { peer, peerName: decodeName(peerName) as string }
      );
      return { session: s, out: [wire] };
    },

    /** Takes the peer's next message. */
    receive(s: PairingSession, wire: Uint8Array): PairingStep {
      take(s, ['awaitAccept', 'awaitReveal', 'awaitUser', 'awaitPeerConfirm'], 'receive');
      const from = peerRole(s.role);
      if (s.status === 'awaitAccept') {
        const p = parseFor(s, wire, [KIND.accept], from);
        return consume(s, () => onAccept(s, p));
      }
      if (s.status === 'awaitReveal') {
        const p = parseFor(s, wire, [KIND.reveal], from);
        return consume(s, () => onReveal(s, p));
      }
      const p = parseFor(
        s,
        wire,
        s.peerConfirmed ? [KIND.refuse] : [KIND.confirm, KIND.refuse],
        from
      );
      const waiting = s.status === 'awaitPeerConfirm';
      return consume(s, () => onFinal(s, p, waiting));
    },

    /**
     * The local user's decision on the code. `true` sends `PairConfirm` (and finishes when the
     * peer's confirmation is already in); `false` sends `PairRefuse` and ends the session
     * (`refused`): nothing is pinned.
     */
    confirm(s: PairingSession, accepted: boolean): PairingStep {
      take(s, ['awaitUser'], 'confirm');
      return consume(s, () => {
        const h = s.st.chain;
        if (!accepted) {
          const m = body(KIND.refuse, s.roomId, Uint8Array.of(s.role));
          const wire = enc(m, sign(s.identity, chainNext(h, m)));
          const next = session(s, 'refused', s.st, pickSession(s));
          erase(next);
          return { session: next, out: [wire] };
        }
        const mac = confirmMac(s.st.shared as Uint8Array, s.st.th as Uint8Array, s.role);
        const m = body(KIND.confirm, s.roomId, Uint8Array.of(s.role), mac);
        const wire = enc(m, sign(s.identity, chainNext(h, m)));
        if (s.peerConfirmed) {
          const next = session(s, 'done', s.st, pickSession(s));
          erase(next);
          return { session: next, out: [wire], result: result(next) };
        }
        return {
          session: session(s, 'awaitPeerConfirm', s.st, pickSession(s)),
          out: [wire],
        };
      });
    },
  };

  /** The initiator, on `PairAccept`: checks it, then reveals its key and shows the code. */
  function onAccept(s: PairingSession, p: Parsed): PairingStep {
    const R = PAIR_RESPONDER;
    const { peer, peerName, key: E } = peerOf(p.rest, R, 'PairAccept');
    if (samePartyPublic(peer, s.identity.public))
      throw new ProtocolAbort('MalformedMessage', R, 'pairing: PairAccept carries our identity');
    const chain2 = chainNext(s.st.chain, p.m);
    if (!verifies(p.sig, chain2, peer.publicKey))
      throw new ProtocolAbort('PairSignature', R, 'pairing: PairAccept signature fails');
    const shared = sharedSecret(s.st.ephemeralSecret as Uint8Array, E, R);
    // Invariant 1: every check on PairAccept passed before E_I is released.
    const me = s.identity.public;
    const th = pairTranscript({
      roomId: s.roomId,
      initiator: me,
      initiatorName: utf8ToBytes(s.name),
      responder: peer,
      responderName: peerName,
      initiatorEphemeral: s.st.ephemeral,
      responderEphemeral: E,
    });
    const code = pairCode(shared, th, digits);
    const m = body(KIND.reveal, s.roomId, s.st.ephemeral);
    const chain = chainNext(chain2, m);
    const wire = enc(m, sign(s.identity, chain));
    wipe(s.st.ephemeralSecret as Uint8Array);
    const next = session(
      s,
      'awaitUser',
      { ...s.st, ephemeralSecret: null, peerEphemeral: E.slice(), chain, th, shared },
      { code, peer, peerName: decodeName(peerName) as string }
    );
    return { session: next, out: [wire], code };
  }

  /** The responder, on `PairReveal`: checks the commitment, then shows the code. */
  function onReveal(s: PairingSession, p: Parsed): PairingStep {
    const I = PAIR_INITIATOR;
    const [E] = p.rest as [Uint8Array];
    if (E.length !== 32)
      throw new ProtocolAbort('MalformedMessage', I, 'pairing: PairReveal does not parse');
    const peer = s.peer as PartyPublic;
    const chain = chainNext(s.st.chain, p.m);
    if (!verifies(p.sig, chain, peer.publicKey))
      throw new ProtocolAbort('PairSignature', I, 'pairing: PairReveal signature fails');
    const peerName = utf8ToBytes(s.peerName as string);
    if (!ctEqual(pairCommitment(s.roomId, E, peer, peerName), s.st.commitment as Uint8Array))
      throw new ProtocolAbort(
        'CommitmentOpen',
        I,
        'pairing: the revealed ephemeral key does not open the PairStart commitment'
      );
    const shared = sharedSecret(s.st.ephemeralSecret as Uint8Array, E, I);
    const th = pairTranscript({
      roomId: s.roomId,
      initiator: peer,
      initiatorName: peerName,
      responder: s.identity.public,
      responderName: utf8ToBytes(s.name),
      initiatorEphemeral: E,
      responderEphemeral: s.st.ephemeral,
    });
    const code = pairCode(shared, th, digits);
    wipe(s.st.ephemeralSecret as Uint8Array);
    const next = session(
      s,
      'awaitUser',
      { ...s.st, ephemeralSecret: null, peerEphemeral: E.slice(), chain, th, shared },
      { code, peer, peerName: s.peerName as string }
    );
    return { session: next, out: [], code };
  }

  /** Either side, on the peer's `PairConfirm` or `PairRefuse`. */
  function onFinal(s: PairingSession, p: Parsed, waiting: boolean): PairingStep {
    const from = peerRole(s.role);
    const name = NAMES[p.kind];
    const [role, mac] = p.rest as [Uint8Array, Uint8Array | undefined];
    if (role.length !== 1 || role[0] !== from || (mac !== undefined && mac.length !== 32))
      throw new ProtocolAbort('MalformedMessage', from, `pairing: ${name} does not parse`);
    const peer = s.peer as PartyPublic;
    if (!verifies(p.sig, chainNext(s.st.chain, p.m), peer.publicKey))
      throw new ProtocolAbort('PairSignature', from, `pairing: ${name} signature fails`);
    if (p.kind === KIND.refuse)
      throw new ProtocolAbort('PairRefused', from, "pairing: the peer's user refused the code");
    const expected = confirmMac(s.st.shared as Uint8Array, s.st.th as Uint8Array, from);
    if (!ctEqual(mac as Uint8Array, expected))
      throw new ProtocolAbort(
        'PairConfirm',
        from,
        'pairing: the peer confirmed another transcript (a man in the middle, or tampering)'
      );
    if (waiting) {
      const next = session(s, 'done', s.st, { ...pickSession(s), peerConfirmed: true });
      erase(next);
      return { session: next, out: [], result: result(next) };
    }
    return {
      session: session(s, 'awaitUser', s.st, { ...pickSession(s), peerConfirmed: true }),
      out: [],
    };
  }
}

function pick(p: PairingParams) {
  return { identity: p.identity, name: p.name };
}

function pickSession(s: PairingSession) {
  return { code: s.code, peer: s.peer, peerName: s.peerName, peerConfirmed: s.peerConfirmed };
}

/**
 * Pairing two devices (docs/protocols/pairing.md):
 * - `initiate(params)` → `{ out: [PairStart] }`
 * - `respond(params, start)` → `{ out: [PairAccept] }`
 * - `receive(session, msg)` → the next step; `code` once both keys are known
 * - `confirm(session, accepted)` → `{ out: [PairConfirm | PairRefuse] }`, and `result` when both
 *   users confirmed the same transcript.
 */
export const pairing = makePairing(PAIR_CODE_DIGITS);

// --- Lockout --------------------------------------------------------------------------------

/** The serialisable state of a `PairingLockout`. Persist it durably after every change. */
export interface PairingLockoutState {
  v: 1;
  /** Per peer key: times (ms) of recent failures, and when a lock ends. */
  peers: Record<string, { failures: number[]; lockedUntil: number | null }>;
}

/**
 * Limits pairing attempts: three failures (a code mismatch, a refusal, a failed confirmation)
 * with one peer within 10 minutes lock pairing with that peer for 10 minutes. Pure: the clock is
 * injected and the state is plain data (`toJSON`), so callers persist it where it survives a
 * restart.
 */
export class PairingLockout {
  static readonly MAX_FAILURES = 3;
  static readonly WINDOW_MS = 10 * 60 * 1000;
  static readonly LOCK_MS = 10 * 60 * 1000;
  readonly #clock: () => number;
  readonly #peers: PairingLockoutState['peers'];

  constructor(clock: () => number, state?: PairingLockoutState) {
    this.#clock = clock;
    this.#peers = Object.create(null) as PairingLockoutState['peers'];
    if (state === undefined) return;
    const bad = () =>
      new InputError('PairingLockout: the saved state is malformed', { check: 'PairingInput' });
    if (state?.v !== 1 || typeof state.peers !== 'object' || state.peers === null) throw bad();
    for (const [k, e] of Object.entries(state.peers)) {
      const finite = (n: unknown) => typeof n === 'number' && Number.isFinite(n);
      if (!Array.isArray(e?.failures) || !e.failures.every(finite)) throw bad();
      if (e.lockedUntil !== null && !finite(e.lockedUntil)) throw bad();
      this.#peers[k] = {
        failures: e.failures.slice(-PairingLockout.MAX_FAILURES),
        lockedUntil: e.lockedUntil,
      };
    }
  }

  #now(): number {
    const t = this.#clock();
    if (!Number.isFinite(t)) throw new InputError('PairingLockout: the clock is not a number');
    return t;
  }

  /** Whether pairing with `peer` is locked now, and until when. */
  status(peer: string): { locked: boolean; until: number | null; failures: number } {
    const now = this.#now();
    const e = this.#peers[peer];
    if (!e) return { locked: false, until: null, failures: 0 };
    if (e.lockedUntil !== null && now < e.lockedUntil)
      return { locked: true, until: e.lockedUntil, failures: e.failures.length };
    const recent = e.failures.filter((t) => now - t < PairingLockout.WINDOW_MS);
    return { locked: false, until: null, failures: recent.length };
  }

  /** Throws `InputError` (`PairingLocked`) while pairing with `peer` is locked. */
  assertUnlocked(peer: string): void {
    const s = this.status(peer);
    if (s.locked)
      throw new InputError(
        `pairing with this peer is locked for ${Math.ceil(((s.until as number) - this.#now()) / 1000)} s after repeated failures`,
        { check: 'PairingLocked' }
      );
  }

  /** Records a failed attempt with `peer`; the third within the window locks it. */
  recordFailure(peer: string): { locked: boolean; until: number | null } {
    const now = this.#now();
    this.#prune(now);
    const e = this.#peers[peer] ?? { failures: [], lockedUntil: null };
    if (e.lockedUntil !== null && now < e.lockedUntil)
      return { locked: true, until: e.lockedUntil };
    e.lockedUntil = null;
    e.failures = [...e.failures.filter((t) => now - t < PairingLockout.WINDOW_MS), now];
    if (e.failures.length >= PairingLockout.MAX_FAILURES) {
      e.failures = [];
      e.lockedUntil = now + PairingLockout.LOCK_MS;
    }
    this.#peers[peer] = e;
    return { locked: e.lockedUntil !== null, until: e.lockedUntil };
  }

  /** A successful pairing with `peer` clears its failures (not an active lock). */
  recordSuccess(peer: string): void {
    const e = this.#peers[peer];
    if (e && (e.lockedUntil === null || this.#now() >= e.lockedUntil)) delete this.#peers[peer];
  }

  /** Drops entries with no recent failure and no active lock (keeps the state small). */
  #prune(now: number): void {
    for (const [k, e] of Object.entries(this.#peers)) {
      const locked = e.lockedUntil !== null && now < e.lockedUntil;
      if (!locked && e.failures.every((t) => now - t >= PairingLockout.WINDOW_MS))
        delete this.#peers[k];
    }
  }

  /** The state as plain data. */
  toJSON(): PairingLockoutState {
    const peers: PairingLockoutState['peers'] = {};
    for (const [k, e] of Object.entries(this.#peers))
      peers[k] = { failures: e.failures.slice(), lockedUntil: e.lockedUntil };
    return { v: 1, peers };
  }
}
