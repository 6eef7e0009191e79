/**
 * Errors of @tessera/core.
 *
 * One base class, `TesseraError`, with a stable `code`, the `check` that failed and the `culprit`
 * (a party id, or null when nobody can be blamed). Callers tell the kinds apart by `code`/`name`,
 * never by message text:
 *
 * | class              | code               | meaning                                                   |
 * |--------------------|--------------------|-----------------------------------------------------------|
 * | `InputError`       | `INVALID_INPUT`    | the caller passed something wrong; nothing was sent        |
 * | `ProtocolAbort`    | `PROTOCOL_ABORT`   | a peer misbehaved (cheat); terminal, names the culprit     |
 * | `MessageRejected`  | `MESSAGE_REJECTED` | an envelope's header does not fit this session; dropped    |
 * | `MessageMissing`   | `MESSAGE_MISSING`  | transient: a peer's message never came (no blame, no ban)  |
 * | `SessionClosed`    | `SESSION_CLOSED`   | the session finished, aborted or was already consumed      |
 * | `NonceReuse`       | `NONCE_REUSED`     | a nonce-bearing state was offered for a second use         |
 * | `InternalError`    | `INTERNAL`         | a bug in Tessera                                           |
 *
 * Messages never contain secret values: only party ids, check names and lengths.
 * @module
 */

import type { CheckName } from './checks.ts';

/** Party identifier, 1..255. */
export type PartyId = number;

/** Options shared by every Tessera error. */
export interface TesseraErrorOptions {
  /** The failed check: for core's own errors a name from `CHECKS` (docs/errors.md). */
  check?: string | null;
  culprit?: PartyId | null;
  sid?: string | null;
  cause?: unknown;
  hints?: string[];
}

/** Options of core's own errors: their checks are from `CHECKS`. */
export interface CoreErrorOptions extends TesseraErrorOptions {
  check?: CheckName | null;
}

/**
 * The shape every Tessera package's errors share (core's, the server's `ApiError`, the client's
 * `ServerError` and `ClientError`, the CLI's): a stable `code` to dispatch on, a message for
 * people, and the party to blame where one is.
 */
export interface ErrorShape {
  readonly code: string;
  readonly message: string;
  readonly culprit?: PartyId | null;
}

/** A Tessera error as plain data, as it crosses a thread or process boundary. */
export interface ErrorData {
  name: string;
  code: string;
  message: string;
  check: string | null;
  culprit: PartyId | null;
}

/** Base class of every error thrown by Tessera. */
export class TesseraError extends Error implements ErrorShape {
  override name = 'TesseraError';
  /** Stable machine-readable code (see the module table). */
  readonly code: string;
  /** Name of the failed check (e.g. `CommitmentOpen`), or null. */
  readonly check: string | null;
  /** Party at fault, or null when unknown or not applicable. */
  readonly culprit: PartyId | null;
  /** Session id (hex) the error belongs to, when known. */
  sid: string | null;
  /** Short hints for the person reading the error. */
  readonly hints: string[];

  constructor(code: string, message: string, opts: TesseraErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.check = opts.check ?? null;
    this.culprit = opts.culprit ?? null;
    this.sid = opts.sid ?? null;
    this.hints = opts.hints ?? [];
  }
}

/** The caller's input is wrong (bad parameters, wrong share, bad lengths). */
export class InputError extends TesseraError {
  override name = 'InputError';
  constructor(message: string, opts: CoreErrorOptions = {}) {
    super('INVALID_INPUT', message, opts);
  }
}

/**
 * A peer's message failed a protocol check. Terminal for the session; `culprit` names the party
 * whose message failed (null when the failure cannot be attributed, e.g. an echo mismatch among
 * more than two parties).
 */
export class ProtocolAbort extends TesseraError {
  override name = 'ProtocolAbort';
  constructor(
    check: CheckName,
    culprit: PartyId | null,
    message: string,
    opts: CoreErrorOptions = {}
  ) {
    super('PROTOCOL_ABORT', message, { ...opts, check, culprit });
  }
}

/** An envelope whose header does not match the session (wrong sid, round, recipient...). */
export class MessageRejected extends TesseraError {
  override name = 'MessageRejected';
  constructor(
    check: CheckName,
    culprit: PartyId | null,
    message: string,
    opts: CoreErrorOptions = {}
  ) {
    super('MESSAGE_REJECTED', message, { ...opts, check, culprit });
  }
}

/** Transient failure: expected messages did not arrive. Not a cheat: no blame, no ban. */
export class MessageMissing extends TesseraError {
  override name = 'MessageMissing';
  /** Every party whose message is missing. */
  readonly missing: PartyId[];
  constructor(missing: PartyId[], round: number, opts: CoreErrorOptions = {}) {
    super(
      'MESSAGE_MISSING',
      `round ${round}: no message from part${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')}`,
      { ...opts, check: 'MessageMissing', culprit: missing[0] ?? null }
    );
    this.missing = missing;
  }
}

/** The session is finished, aborted, or was already consumed by an earlier `receive`. */
export class SessionClosed extends TesseraError {
  override name = 'SessionClosed';
  constructor(status: string, opts: CoreErrorOptions = {}) {
    super('SESSION_CLOSED', `session is ${status}: it accepts no further messages`, {
      ...opts,
      hints: [
        'receive() consumes the session it is given; continue with the session it returns',
        'after an abort, start a new session',
      ],
    });
  }
}

/** A nonce (or presignature) was offered for a second use. */
export class NonceReuse extends TesseraError {
  override name = 'NonceReuse';
  constructor(opts: CoreErrorOptions = {}) {
    super('NONCE_REUSED', 'this signing nonce was already used; it is never used twice', {
      ...opts,
      check: 'NonceSingleUse',
      hints: ['a copy of a serialised signing session cannot be resumed after its nonce was used'],
    });
  }
}

/** A bug in Tessera: an invariant that should always hold did not. */
export class InternalError extends TesseraError {
  override name = 'InternalError';
  constructor(message: string, opts: CoreErrorOptions = {}) {
    super('INTERNAL', message, opts);
  }
}

/**
 * Thrown by decoders; protocol code turns it into a `ProtocolAbort` naming the sender.
 * `check` is `MalformedMessage`, `BadPoint` or `BadScalar`.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
  readonly check: 'MalformedMessage' | 'BadPoint' | 'BadScalar';
  constructor(check: 'MalformedMessage' | 'BadPoint' | 'BadScalar', message: string) {
    super(message);
    this.check = check;
  }
}

/**
 * Thrown by building blocks (OT, RVOLE…) when a check on a peer's data fails; the protocol
 * handler, which knows who sent the data, turns it into a `ProtocolAbort` naming the sender.
 */
export class CheckFailed extends Error {
  override name = 'CheckFailed';
  readonly check: CheckName;
  constructor(check: CheckName, message: string) {
    super(message);
    this.check = check;
  }
}

/** The data of a Tessera error, to send where its class cannot go (a worker's reply). */
export function errorData(e: TesseraError): ErrorData {
  return { name: e.name, code: e.code, message: e.message, check: e.check, culprit: e.culprit };
}

/**
 * A `TesseraError` that carries copied data, as `errorData` made it: a plain copy (the base
 * class, with the original's name, code, check and culprit). Receivers dispatch on `code` and
 * `check`, never on the class, so one rule holds on either side of a thread boundary.
 */
export function errorFromData(d: ErrorData): TesseraError {
  const e = new TesseraError(d.code, d.message, { check: d.check, culprit: d.culprit });
  e.name = d.name;
  return e;
}
