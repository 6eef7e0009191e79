/**
 * Client errors: `ServerError` carries the server's stable code; `ClientError` is a refusal the
 * client makes itself (the server asked it to sign something else, a signature did not verify).
 * @module
 */
import type { ErrorBody } from '@tessera/api';

export class ServerError extends Error {
  override name = 'ServerError';
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds the server asked us to wait (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(status: number, body: ErrorBody | null, retryAfter?: number) {
    super(body?.error.message ?? `server answered ${status}`);
    this.status = status;
    this.code = body?.error.code ?? (status >= 500 ? 'INTERNAL' : 'UNKNOWN');
    this.details = body?.error.details;
    this.retryAfter = retryAfter;
  }
}

export type ClientErrorCode =
  | 'DIGEST_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'NO_SHARE'
  | 'TRANSPORT'
  | 'SESSION_INCOMPLETE'
  | 'BAD_INPUT';

export class ClientError extends Error {
  override name = 'ClientError';
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.code = code;
  }
}
