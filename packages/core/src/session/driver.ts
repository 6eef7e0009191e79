/**
 * The generic sans-IO driver every protocol runs on.
 *
 * A protocol declares its rounds (which kinds of message it expects from each peer in each round)
 * and one pure handler per round. The driver owns everything else: header checks, the round
 * collector (duplicates, wrong rounds, unknown or self senders, wrong sid or recipient), buffering
 * of early messages, abort semantics and single use of sessions:
 *
 * - `receive` consumes the session it is given (its status becomes `consumed`) and returns the
 *   next one, so a stale copy cannot be driven twice by accident.
 * - A `ProtocolAbort` marks the session `aborted` and erases its secret state; every later call
 *   throws `SessionClosed`. Nothing computed from secrets leaves an aborted session.
 * - A header mismatch throws `MessageRejected` and leaves the session untouched (the message is
 *   dropped and counts as missing; docs/protocols/common.md, "Sessions, envelopes and delivery").
 * @module
 */

import { copyBytes, ctEqual } from '../bytes.ts';
import type { CheckName } from '../checks.ts';
import {
  CheckFailed,
  DecodeError,
  InputError,
  InternalError,
  MessageRejected,
  type PartyId,
  ProtocolAbort,
  SessionClosed,
  TesseraError,
} from '../errors.ts';
import { type Rng, systemRng } from '../rng.ts';
import type { Envelope, Step } from './envelope.ts';
import { decodeState, encodeState, wipeState } from './state.ts';

/** What a round expects from every peer: a broadcast, a p2p message to us, or both. */
export interface RoundSpec {
  broadcast: boolean;
  p2p: boolean;
}

/** The messages of one round from one peer. */
export interface PeerMessages {
  broadcast?: Uint8Array;
  p2p?: Uint8Array;
}

/** An outgoing message before the driver wraps it in an envelope. */
export interface Outgoing {
  to: PartyId | 0;
  body: Uint8Array;
}

/** Records that a single-use secret (a signing nonce) was used; false if it already was. */
export interface NonceLedger {
  consume(nonceId: string): boolean;
}

/** Options of `receive`. */
export interface ReceiveOptions {
  /** Sender authenticated by the transport; a different `env.from` aborts naming this party. */
  sender?: PartyId;
  /** Randomness (tests only; defaults to the platform CSPRNG). */
  rng?: Rng;
  /**
   * Durable single-use ledger for signing nonces and session ids. Required by the signing
   * protocols (there is no default: an in-memory ledger forgets across a restart, and a saved
   * session completed twice would reuse its nonce).
   */
  ledger?: NonceLedger;
}

/** What `PairGuard.begin` found. */
export type PairGuardState = 'ok' | 'banned' | 'busy';

/**
 * Durable per-pair state for the DKLs23 checks that can leak secret bits through a selective
 * abort (OT-extension consistency, RVOLE μ; docs/protocols/ecdsa.md, "Bans" and "Pending checks"),
 * kept by the caller's store. `pair` names one pair of one key epoch from this party's side.
 *
 * Protocol: `begin` before the check, atomically and durably; `end` after it passed; `ban` when
 * it failed. A marker that was never ended (the process died during the check) MUST make
 * `begin` answer `banned` after a restart: the check may have failed and been observed.
 */
export interface PairGuard {
  /** `ok` after writing the marker; `banned`; or `busy` (another check of the pair is running). */
  begin(pair: string): PairGuardState;
  /** The check passed: clears the marker. */
  end(pair: string): void;
  /** The check failed: bans the pair (until a reshare gives it new setups). */
  ban(pair: string): void;
}

/**
 * An in-memory `PairGuard`, for tests and `simulate` only: it forgets everything when the process
 * ends. `restart()` models a crash: markers still pending become bans, as the pair-guard contract
 * requires of a durable store.
 */
export function memoryPairGuardForTests(): PairGuard & {
  restart(): void;
  isBanned(pair: string): boolean;
} {
  const pending = new Set<string>();
  const banned = new Set<string>();
  return {
    begin(pair) {
      if (banned.has(pair)) return 'banned';
      if (pending.has(pair)) return 'busy';
      pending.add(pair);
      return 'ok';
    },
    end: (pair) => void pending.delete(pair),
    ban(pair) {
      pending.delete(pair);
      banned.add(pair);
    },
    restart() {
      for (const p of pending) banned.add(p);
      pending.clear();
    },
    isBanned: (pair) => banned.has(pair),
  };
}

/**
 * The ledger of a caller whose durable store is asynchronous (the core's calls are synchronous):
 * it collects the ids one call consumes, refusing an id twice within it, and records nothing. The
 * caller then records `take()` durably, refusing if any id was used before, and sends what the
 * call returned only after that (the server commits them with the step, the client in its store).
 */
export class StagedLedger implements NonceLedger {
  #ids: string[] = [];
  consume(id: string): boolean {
    if (this.#ids.includes(id)) return false;
    this.#ids.push(id);
    return true;
  }
  /** The ids consumed since the last `take`. */
  take(): string[] {
    const ids = this.#ids;
    this.#ids = [];
    return ids;
  }
}

/**
 * The pair guard of a call that took no durable marker because it carries no guarded round
 * (`ecdsaSign.guardedRounds`): a guarded check that runs anyway fails loudly, never unguarded.
 */
export const noGuardedCheck: PairGuard = {
  begin: () => {
    throw new InternalError('a guarded check ran in a step that took no pair marker');
  },
  end: () => {},
  ban: () => {},
};

/**
 * What a round handler can use besides its state and messages. A protocol whose calls carry more
 * (ECDSA: the share and the pair guard) declares it as its definition's `X`, and gets it here.
 */
export interface HandlerContext {
  rng: Rng;
  ledger: NonceLedger | undefined;
  sid: string;
  me: PartyId;
  peers: readonly PartyId[];
}

/** Handler output. */
export interface HandlerResult<S, R> {
  state: S;
  out: Outgoing[];
  result?: R;
}

/**
 * A protocol definition: name, round layout and one handler per round. `X` is what the
 * protocol's own call options add to the handler context (nothing for most protocols).
 */
export interface ProtocolDef<S, R, X = unknown> {
  name: string;
  /** Number of rounds whose messages this party receives (1..rounds). */
  rounds: number;
  expect(round: number): RoundSpec;
  /** Whether the handler of `round` may run yet (default: as soon as its messages are in). */
  ready?(round: number, state: S): boolean;
  /** Handles the complete set of round-`round` messages from every peer. */
  handle(
    round: number,
    state: S,
    msgs: Map<PartyId, PeerMessages>,
    ctx: HandlerContext & X
  ): HandlerResult<S, R>;
}

interface InboxItem {
  round: number;
  from: PartyId;
  kind: 'broadcast' | 'p2p';
  body: Uint8Array;
}

/** Session status. */
export type SessionStatus = 'active' | 'done' | 'aborted' | 'consumed';

/** A protocol session: plain data, serialisable with `encodeSession`. */
export interface Session<S> {
  v: 1;
  proto: string;
  sid: string;
  me: PartyId;
  peers: PartyId[];
  /** The round whose messages are being collected. */
  round: number;
  status: SessionStatus;
  inbox: InboxItem[];
  state: S | null;
}

/**
 * An in-memory nonce ledger, for tests and `simulate` only: it forgets everything when the
 * process ends, so a saved session could use its nonce again after a restart. Real parties pass
 * a durable ledger.
 */
export function memoryLedgerForTests(): NonceLedger & { size(): number } {
  const used = new Set<string>();
  return {
    consume(id) {
      if (used.has(id)) return false;
      used.add(id);
      return true;
    },
    size: () => used.size,
  };
}

/** Starts a session: header plus the state and round-1 messages a protocol's `init` made. */
export function openSession<S, X>(
  def: ProtocolDef<S, unknown, X>,
  sid: string,
  me: PartyId,
  peers: PartyId[],
  state: S,
  out: Outgoing[]
): Step<Session<S>, never> {
  const session: Session<S> = {
    v: 1,
    proto: def.name,
    sid,
    me,
    peers,
    round: 1,
    status: 'active',
    inbox: [],
    state,
  };
  return { session, out: wrap(session, 1, out) };
}

function wrap(s: Session<unknown>, round: number, out: Outgoing[]): Envelope[] {
  return out.map((o) => ({
    v: 1,
    proto: s.proto,
    sid: s.sid,
    round,
    from: s.me,
    to: o.to,
    body: o.body,
  }));
}

/** Turns decode and check failures on a peer's data into an abort naming that peer. */
export function blame<T>(culprit: PartyId, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DecodeError || e instanceof CheckFailed)
      throw new ProtocolAbort(e.check, culprit, `party ${culprit}: ${e.message}`);
    throw e;
  }
}

/**
 * The culprit of a mismatch that only `sender` and this party can see (an echo of the round's
 * broadcasts that differs from ours): with two parties it must be the other one; with more,
 * nobody can tell who lied, so no one is named (docs/protocols/common.md, "Echo hashes and whom
 * to blame").
 */
export const echoCulprit = (parties: readonly PartyId[], sender: PartyId): PartyId | null =>
  parties.length === 2 ? sender : null;

/** Parties the session still waits for in its current round. */
export function pendingSenders(
  session: Session<unknown>,
  def: ProtocolDef<never, unknown>
): PartyId[] {
  if (session.status !== 'active') return [];
  const spec = def.expect(session.round);
  return session.peers.filter((p) => {
    const has = (k: 'broadcast' | 'p2p') =>
      session.inbox.some((m) => m.round === session.round && m.from === p && m.kind === k);
    return (spec.broadcast && !has('broadcast')) || (spec.p2p && !has('p2p'));
  });
}

/**
 * Feeds one envelope to a session. Returns the next session (the given one is consumed), the
 * envelopes to send, and the result once the last round completes.
 */
export function receiveEnvelope<S, R, X>(
  def: ProtocolDef<S, R, X>,
  session: Session<S>,
  env: Envelope,
  opts: ReceiveOptions & X
): Step<Session<S>, R> {
  if (session.proto !== def.name)
    throw new InputError(`session is for ${session.proto}, not ${def.name}`);
  if (session.status !== 'active') throw new SessionClosed(session.status, { sid: session.sid });
  const reject = (check: CheckName, why: string): never => {
    throw new MessageRejected(check, env.from ?? null, `message rejected: ${why}`, {
      sid: session.sid,
    });
  };
  if (opts.sender !== undefined && opts.sender !== env.from) {
    abort(
      session,
      new ProtocolAbort(
        'SenderMismatch',
        opts.sender,
        `party ${opts.sender} sent a message claiming to be from party ${env.from}`
      )
    );
  }
  if (env.v !== 1) reject('BadVersion', `envelope version ${String(env.v)}`);
  if (env.proto !== def.name)
    reject('WrongProtocol', `protocol ${env.proto}, expected ${def.name}`);
  if (env.sid !== session.sid) reject('WrongSession', 'session id does not match');
  if (env.from === session.me) reject('SelfMessage', 'message from ourselves');
  if (!session.peers.includes(env.from))
    reject('UnknownSender', `party ${env.from} is not in this session`);
  if (env.to !== 0 && env.to !== session.me)
    reject('WrongRecipient', `addressed to party ${env.to}`);
  if (!Number.isInteger(env.round) || env.round < session.round || env.round > def.rounds) {
    reject('WrongRound', `round ${env.round} while collecting round ${session.round}`);
  }
  if (!(env.body instanceof Uint8Array)) reject('BadBody', 'body is not bytes');
  const kind = env.to === 0 ? 'broadcast' : 'p2p';
  if (!def.expect(env.round)[kind])
    reject('UnexpectedKind', `no ${kind} message is expected in round ${env.round}`);
  const dup = session.inbox.find(
    (m) => m.round === env.round && m.from === env.from && m.kind === kind
  );
  if (dup) {
    if (ctEqual(dup.body, env.body))
      reject('Duplicate', `second copy of party ${env.from}'s round-${env.round} ${kind} message`);
    abort(
      session,
      new ProtocolAbort(
        'Equivocation',
        env.from,
        `party ${env.from} sent two different round-${env.round} ${kind} messages`
      )
    );
  }

  const next: Session<S> = {
    ...session,
    inbox: [
      ...session.inbox,
      { round: env.round, from: env.from, kind, body: copyBytes(env.body) },
    ],
  };
  // The given object is spent: it keeps no reference to secret state (otherwise a caller
  // holding the old object could otherwise still serialise the secrets).
  session.status = 'consumed';
  session.state = null;
  session.inbox = [];
  return advanceSession(def, next, opts);
}

/**
 * Runs every round handler whose messages are complete (and that is `ready`), starting from
 * `next`, which the caller owns. Used by `receive` and by protocols that resume a waiting round
 * (ECDSA's online phase).
 */
export function advanceSession<S, R, X>(
  def: ProtocolDef<S, R, X>,
  next: Session<S>,
  opts: ReceiveOptions & X,
  initialOut: Envelope[] = []
): Step<Session<S>, R> {
  const ctx: HandlerContext & X = {
    ...opts,
    rng: opts.rng ?? systemRng,
    ledger: opts.ledger,
    sid: next.sid,
    me: next.me,
    peers: next.peers,
  };
  const out: Envelope[] = [...initialOut];
  let result: R | undefined;
  // A round may already be complete with buffered messages, so advance while we can.
  while (
    next.status === 'active' &&
    pendingSenders(next as Session<unknown>, def as ProtocolDef<never, unknown>).length === 0 &&
    (def.ready?.(next.round, next.state as S) ?? true)
  ) {
    const round = next.round;
    const msgs = new Map<PartyId, PeerMessages>();
    for (const p of next.peers) msgs.set(p, {});
    for (const m of next.inbox)
      if (m.round === round) (msgs.get(m.from) as PeerMessages)[m.kind] = m.body;
    let res: HandlerResult<S, R>;
    try {
      res = def.handle(round, next.state as S, msgs, ctx);
    } catch (e) {
      abort(next, e);
    }
    next.inbox = next.inbox.filter((m) => m.round > round);
    out.push(...wrap(next, round + 1, res.out));
    next.state = res.state;
    if (res.result !== undefined) {
      result = res.result;
      next.status = 'done';
      wipeState(res.state);
      next.state = null;
      next.inbox = [];
    } else if (round === def.rounds) {
      abort(next, new InternalError(`${def.name}: last round produced no result`));
    } else {
      next.round = round + 1;
    }
  }
  return result === undefined ? { session: next, out } : { session: next, out, result };
}

/** Wraps outgoing messages of a round in envelopes. */
export function wrapOutgoing(s: Session<unknown>, round: number, out: Outgoing[]): Envelope[] {
  return wrap(s, round, out);
}

/**
 * For a caller that gives up on a session for a reason of its own (the transport failed, a
 * message was refused before the core saw it): the session is aborted and its state erased, as
 * after a `ProtocolAbort`. Does nothing to a session that already ended.
 */
export function discardSession(session: Session<unknown>): void {
  if (session.status !== 'active') return;
  session.status = 'aborted';
  wipeState(session.state);
  session.state = null;
  session.inbox = [];
}

/** Marks a session aborted, erases its state and throws the error (with the sid filled in). */
export function abortSession(session: Session<unknown>, e: unknown): never {
  return abort(session, e);
}

function abort(session: Session<unknown>, e: unknown): never {
  session.status = 'aborted';
  wipeState(session.state);
  session.state = null;
  session.inbox = [];
  const err =
    e instanceof TesseraError
      ? e
      : new InternalError(`${session.proto}: unexpected failure`, { cause: e });
  err.sid ??= session.sid;
  throw err;
}

/** Serialises a session (contains secrets: store it sealed). */
export function encodeSession(session: Session<unknown>): Uint8Array {
  return encodeState(session);
}

/** Restores a session written by `encodeSession`, checking it belongs to `def`. */
export function decodeSession<S, X>(
  def: ProtocolDef<S, unknown, X>,
  bytes: Uint8Array
): Session<S> {
  const s = decodeState(bytes) as Session<S>;
  if (s === null || typeof s !== 'object' || s.v !== 1 || s.proto !== def.name) {
    throw new InputError(`session bytes are not a ${def.name} session`);
  }
  return s;
}
