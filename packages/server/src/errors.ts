/**
 * `ApiError`: every refusal the server answers with, carrying a stable code from `@tessera/api`'s
 * table (which fixes the HTTP status) and a message safe to show the caller.
 * @module
 */
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '@tessera/api';
import { TesseraError } from '@tessera/core';
import { StoreUnavailable } from './store/store.ts';

/** An `ApiError` is core's shape (`code`, `message`, `culprit`): callers dispatch on `code`. */
export class ApiError extends TesseraError {
  override name = 'ApiError';
  declare readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds to wait before retrying (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { details?: Record<string, unknown>; retryAfter?: number } = {}
  ) {
    const culprit = opts.details?.culprit;
    super(code, message, typeof culprit === 'number' ? { culprit } : {});
    this.status = ERROR_STATUS[code];
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export const notFound = (what: string) => new ApiError('NOT_FOUND', `${what} not found`);

/** Maps anything thrown to an API error; unknown faults become INTERNAL with a generic message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
  if (e.validation)
    return new ApiError('SCHEMA', `invalid request: ${e.message ?? 'schema mismatch'}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP'))
    return new ApiError('SCHEMA', `invalid request body: ${e.message}`);
  if (e.statusCode === 429) return new ApiError('RATE_LIMITED', e.message ?? 'too many requests');
  // The store is locked, full or unreachable: transient, nothing was half-written (transactions).
  if (
    err instanceof StoreUnavailable ||
    (typeof e.code === 'string' && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/.test(e.code))
  )
    return new ApiError('UNAVAILABLE', 'the store is unavailable; retry shortly', {
      retryAfter: 1,
    });
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new ApiError('SCHEMA', e.message ?? 'bad request');
  return new ApiError('INTERNAL', 'internal error');
}
