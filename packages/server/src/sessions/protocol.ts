/**
 * What a protocol the server runs must say about itself, so that the session engine can run it
 * without knowing which one it is: how a session starts, what its result does to the store,
 * which of its steps need the share and a durable pair marker, and on which worker lane its
 * steps run. Each protocol is one file in `protocols/`, listed once in `protocols/index.ts`.
 *
 * Two layers: a `SessionCodec` is a core protocol as the server stores and steps its sessions
 * (the session record's `protocol` column: `dkg`, `reshare`, `ecdsa.sign`, `frost.sign`); a
 * `ServerProtocol` is what a client starts (keygen, sign, refresh, recover) and may open
 * sessions of one or more codecs (signing: one per scheme family; recover: refresh's).
 * @module
 */
import type { ProtocolNameValue, SessionStartedResponse, StepReplyResponse } from '@tessera/api';
import {
  type EcdsaCallContext,
  type EcdsaSignature,
  type Envelope,
  encodeEnvelope,
  KeyShare,
  type ReceiveOptions,
  type ReshareResult,
  type Scheme,
  type Session,
  type Step,
} from '@tessera/core';
import type { Logger } from 'pino';
import type { Static, TSchema } from 'typebox';
import type { Compute } from '../compute.ts';
import type { ServerConfig } from '../config.ts';
import type { ApiError } from '../errors.ts';
import type { KeyVault } from '../keys/vault.ts';
import type { NodeIdentity } from '../node/identity.ts';
import type {
  AuditEvent,
  KeyEffect,
  KeyRecord,
  SessionKind,
  SessionRecord,
  Store,
} from '../store/store.ts';

export { CLIENT_PARTY, PARTIES, SERVER_PARTY } from '../keys/parties.ts';

/** The kinds of session a key has at most one of at a time. */
export type ExclusiveKind = Parameters<Store['activeSession']>[1];

export type CoreResult = KeyShare | EcdsaSignature | Uint8Array | ReshareResult;

export const isKeyShare = (r: CoreResult): r is KeyShare => r instanceof KeyShare;
export const isEcdsaSignature = (r: CoreResult): r is EcdsaSignature =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'der' in r;
export const isReshareResult = (r: CoreResult): r is ReshareResult =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'epoch' in r && 'keyId' in r;

/**
 * A core protocol as stored sessions of it are stepped, here or on a compute worker (which
 * looks codecs up by name, so a codec holds no server state).
 */
export interface SessionCodec {
  /** The session record's `protocol`, and the metrics label. */
  name: ProtocolNameValue;
  kind: SessionKind;
  /** Rounds of client messages the session takes (the core protocol's round count). */
  totalRounds: number;
  /**
   * Whether a step runs with the server's share (decoded by the vault, its locks checked). Only
   * such a step can run a guarded check.
   */
  loadsShare: boolean;
  /**
   * The rounds whose messages run a check under the pair guard: a step carrying one takes a
   * durable pair marker first (docs/protocols/ecdsa.md, "Pending checks"); any other step gets a
   * guard that refuses.
   */
  guardedRounds: readonly number[];
  /**
   * The worker lane its steps queue in: `sign` for millisecond steps, `bulk` for the ones that
   * cost seconds of CPU (kept off the signing workers when `bulkWorkers` is set).
   */
  lane: 'sign' | 'bulk';
  receive(
    s: Session<unknown>,
    env: Envelope,
    o: PartyCallOptions
  ): Step<Session<unknown>, CoreResult>;
  encode(s: Session<unknown>): Uint8Array;
  decode(b: Uint8Array): Session<unknown>;
}

/** What the server passes to any protocol's `receive`; ECDSA's share and guard where it signs. */
export type PartyCallOptions = ReceiveOptions & EcdsaCallContext;

/** The part of a core protocol's API a codec drives, whatever its state and result types. */
interface CoreProtocol<S> {
  /** Rounds whose messages a party receives: the session's round count comes from core. */
  readonly rounds: number;
  receive(s: S, env: Envelope, o: PartyCallOptions): Step<S, CoreResult>;
  encodeSession(s: S): Uint8Array;
  decodeSession(b: Uint8Array): S;
}

/** A codec over a core protocol, its session type erased: the engine only stores and feeds it. */
export function sessionCodec<S>(
  traits: Omit<SessionCodec, 'totalRounds' | 'receive' | 'encode' | 'decode'>,
  api: CoreProtocol<S>
): SessionCodec {
  return {
    ...traits,
    totalRounds: api.rounds,
    receive: (s, env, o) =>
      api.receive(s as S, env, o) as unknown as Step<Session<unknown>, CoreResult>,
    encode: (s) => api.encodeSession(s as S),
    decode: (b) => api.decodeSession(b) as Session<unknown>,
  };
}

/** What the engine gives a protocol to start and finish sessions with. */
export interface ProtocolContext {
  readonly config: ServerConfig;
  /** Shares, anchors, locks: the only way to a share. */
  readonly vault: KeyVault;
  /** Where arithmetic runs when it should not run on the event loop. */
  readonly compute: Compute;
  /** This node's identity, when the server runs as a node of the 2-of-3 topology. */
  readonly identity: NodeIdentity | undefined;
  readonly log: Logger;
  now(): number;
  /** Signing sessions of the key started since `since` (a policy's daily count). */
  signaturesSince(keyId: string, since: number): Promise<number>;
  /** KEY_BUSY while the key has an unexpired active session of `kind`. */
  refuseBusy(keyId: string, kind: ExclusiveKind): Promise<void>;
  /** An audit row, stamped with the engine's clock. */
  event(
    subject: string,
    keyId: string | null,
    sessionId: string | null,
    action: string,
    outcome: string,
    details?: Record<string, unknown>
  ): AuditEvent;
  /** Writes the audit row (`action`) of a refused start; the refusal stands if the store cannot. */
  auditRefusal(
    subject: string,
    keyId: string,
    action: string,
    refusal: ApiError,
    details: Record<string, unknown>
  ): Promise<void>;
}

/** A started core session, as the engine stores it and answers the start with. */
export interface Opening {
  codec: SessionCodec;
  scheme: Scheme;
  keyId: string | null;
  epoch: string | null;
  /** The session's first state, encoded, its round, and the first envelopes, encoded. */
  state: Uint8Array;
  round: number;
  out: Uint8Array[];
  /** Single-use ids the start consumed (committed with the session). */
  nonces: string[];
  params: Omit<SessionStartedResponse['params'], 'sid'>;
  /** One such session per key at a time (KEY_BUSY). */
  exclusive: boolean;
  audit: { action: string; details?: Record<string, unknown> };
}

/** The core's first step of a session, encoded as `Opening` carries it. */
export function encodedStart(
  codec: SessionCodec,
  step: { session: unknown; out: Envelope[] }
): Pick<Opening, 'state' | 'round' | 'out'> {
  const session = step.session as Session<unknown>;
  return { state: codec.encode(session), round: session.round, out: step.out.map(encodeEnvelope) };
}

/** The last step's public result and what it does to the store, committed with the step. */
export interface Finished {
  result: NonNullable<StepReplyResponse['result']>;
  effects: KeyEffect[];
  audit: AuditEvent[];
}

/**
 * A protocol a client starts. `I`: what the route hands `start`. Where its arithmetic runs:
 * `start` runs on the event loop unless it hands the work to `ctx.compute` (ECDSA signing does,
 * its first round costing milliseconds of CPU); every step runs through the compute pool, in its
 * codec's `lane`.
 */
export interface ServerProtocol<I = unknown> {
  /** What the client asks for (the refresh and recover routes are named by it). */
  name: string;
  /** How a client starts it over HTTP: `routes/keys.ts` registers one start route per protocol. */
  route: StartRoute<I>;
  /** The codecs its sessions run: steps of a stored session find their protocol by these. */
  sessions: readonly SessionCodec[];
  /**
   * For a protocol sharing a codec with another: whether a session with these params is its own
   * (to finish). Without it, every session of its codecs is.
   */
  owns?(params: Readonly<Record<string, unknown>>): boolean;
  start(ctx: ProtocolContext, subject: string, input: I): Promise<Opening>;
  /** Turns the core's result into the reply and the durable effects (before the commit). */
  finish(
    ctx: ProtocolContext,
    rec: SessionRecord,
    key: KeyRecord | null,
    result: CoreResult
  ): Finished;
  /** After the final step committed (not part of the commit: may fail without undoing it). */
  committed?(ctx: ProtocolContext, rec: SessionRecord, key: KeyRecord | null): Promise<void>;
}

/**
 * A protocol's start route: `POST /v1{path}`, answered `201` with the session. Every start is
 * idempotent by its request nonce and charged to one of the subject's hourly quotas.
 */
export interface StartRoute<I, B extends TSchema = TSchema> {
  /** The path after `/v1`, e.g. `/keys/:keyId/sign`. */
  path: string;
  description?: string;
  /** The path parameters' schema, when the path has any. */
  params?: TSchema;
  /** The body's schema (its `nonce` and `timestamp` make the start idempotent). */
  body: B;
  /** The quota a start counts against, and its hourly limit. */
  quota(limits: ServerConfig['limits']): { scope: string; max: number };
  /** The protocol's input, from the validated path parameters and body. */
  input(params: Readonly<Record<string, string>>, body: Static<B>): I;
}

/**
 * Declares a start route with its body's type: the route's schema has validated the body before
 * `input` sees it, so the list of protocols can hold routes of different bodies.
 */
export const startRoute = <I, B extends TSchema>(r: StartRoute<I, B>): StartRoute<I> =>
  r as unknown as StartRoute<I>;
