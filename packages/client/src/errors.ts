/**
 * Client errors: `ServerError` carries the server's stable code; `ClientError` is a refusal the
 * client makes itself (the server asked it to sign something else, a signature did not verify).
 * Both are `TesseraError`s, core's shape: callers dispatch on `code`.
 * @module
 */
import type { ErrorBody } from '@tessera/api';
import { type PartyId, TesseraError } from '@tessera/core';

/** The culprit a server's `PROTOCOL_ABORT` names in its details, if any. */
function culpritIn(details: Record<string, unknown> | undefined): PartyId | null {
  const c = details?.culprit;
  return typeof c === 'number' && Number.isInteger(c) ? c : null;
}

export class ServerError extends TesseraError {
  override name = 'ServerError';
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds the server asked us to wait (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(status: number, body: ErrorBody | null, retryAfter?: number) {
    super(
      body?.error.code ?? (status >= 500 ? 'INTERNAL' : 'UNKNOWN'),
      body?.error.message ?? `server answered ${status}`,
      { culprit: culpritIn(body?.error.details) }
    );
    this.status = status;
    this.details = body?.error.details;
    this.retryAfter = retryAfter;
  }
}

/**
 * | code                 | meaning                                                                  |
 * |----------------------|--------------------------------------------------------------------------|
 * | `DIGEST_MISMATCH`    | the server asked to sign something other than the request                |
 * | `BAD_SIGNATURE`      | the joint signature does not verify under the stored public key          |
 * | `NO_SHARE`           | no share of the key (or epoch) in this client's store                    |
 * | `TRANSPORT`          | the server cannot be reached, or the connection broke for good           |
 * | `SESSION_INCOMPLETE` | the session ended before both parties finished                           |
 * | `PROTOCOL_VIOLATION` | the server sent a message that is not for this session (header checks)   |
 * | `KEY_LOCKED`         | the pair with the server is banned after a failed check: no signing until a refresh that clears the ban |
 * | `REFRESH_REQUIRED`   | the share was restored from a backup: `recover` it before it signs       |
 * | `NONCE_REUSED`       | a single-use id of this session was used before: nothing was sent        |
 * | `SHARE_CORRUPTED`    | a stored share is damaged (its checksum or OT seeds do not check)        |
 * | `WEAK_PASSPHRASE`    | a backup passphrase is too short or too guessable                        |
 * | `STORE_BUSY`         | another process holds the store's lock for too long                      |
 * | `BAD_INPUT`          | a caller's argument or a store file is wrong                             |
 * | `RECOVERY_PENDING`   | 2-of-3 recovery: a node's delay runs until `details.readyAt` (ms)        |
 */
export type ClientErrorCode =
  | 'DIGEST_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'NO_SHARE'
  | 'TRANSPORT'
  | 'SESSION_INCOMPLETE'
  | 'PROTOCOL_VIOLATION'
  | 'KEY_LOCKED'
  | 'REFRESH_REQUIRED'
  | 'NONCE_REUSED'
  | 'SHARE_CORRUPTED'
  | 'WEAK_PASSPHRASE'
  | 'STORE_BUSY'
  | 'BAD_INPUT'
  | 'RECOVERY_PENDING';

export class ClientError extends TesseraError {
  override name = 'ClientError';
  declare readonly code: ClientErrorCode;
  /** Facts about the refusal (`readyAt` of a pending recovery). */
  readonly details: Record<string, unknown> | undefined;
  constructor(
    code: ClientErrorCode,
    message: string,
    opts?: { cause?: unknown; details?: Record<string, unknown> }
  ) {
    super(code, message, opts?.cause === undefined ? {} : { cause: opts.cause });
    this.details = opts?.details;
  }
}
