/**
 * The errors of computing what a payload signs, in a module of their own so that the payload
 * and typed-data modules both throw them without importing each other. Both are `TesseraError`s
 * whose codes are the API's own (`BAD_PAYLOAD`, `PAYLOAD_TOO_COMPLEX`), so they keep their
 * meaning when copied across a worker boundary as data.
 * @module
 */
import { TesseraError } from '@tessera/core';
import type { TypedDataLimit } from './typed-data.ts';

/** `BAD_PAYLOAD`: a payload that does not parse, or does not fit the key's scheme. */
export class PayloadError extends TesseraError {
  override name = 'PayloadError';
  constructor(
    message: string,
    code: 'BAD_PAYLOAD' | 'PAYLOAD_TOO_COMPLEX' = 'BAD_PAYLOAD',
    check: string | null = null
  ) {
    super(code, message, { check });
  }
}

/**
 * `PAYLOAD_TOO_COMPLEX`: a payload refused for the work its hashing would take: typed data past
 * one of `TYPED_DATA_LIMITS`, or (on the server) hashing that ran over its time budget. The limit
 * exceeded is its `check`.
 */
export class PayloadTooComplex extends PayloadError {
  override name = 'PayloadTooComplex';
  /** The limit exceeded (`budget`: the server's time budget for hashing). */
  readonly limit: TypedDataLimit | 'budget';
  constructor(limit: TypedDataLimit | 'budget', message: string) {
    super(message, 'PAYLOAD_TOO_COMPLEX', limit);
    this.limit = limit;
  }
}
