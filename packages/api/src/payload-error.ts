/**
 * The errors of computing what a payload signs, in a module of their own so that the payload
 * and typed-data modules both throw them without importing each other.
 * @module
 */
import type { TypedDataLimit } from './typed-data.ts';

/** A payload that does not parse, or does not fit the key's scheme. */
export class PayloadError extends Error {
  override name = 'PayloadError';
}

/**
 * A payload refused for the work its hashing would take: typed data past one of
 * `TYPED_DATA_LIMITS`, or (on the server) hashing that ran over its time budget.
 */
export class PayloadTooComplex extends PayloadError {
  override name = 'PayloadTooComplex';
  /** The limit exceeded (`budget`: the server's time budget for hashing). */
  readonly limit: TypedDataLimit | 'budget';
  constructor(limit: TypedDataLimit | 'budget', message: string) {
    super(message);
    this.limit = limit;
  }
}
