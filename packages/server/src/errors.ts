/**
 * `ApiError`: every refusal the server answers with, carrying a stable code from `@tessera/api`'s
 * table (which fixes the HTTP status) and a message safe to show the caller.
 * @module
 */
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '@tessera/api';
import { TesseraError } from '@tessera/core';

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
