/**
 * Errors of @tessera/chains: one class, `ChainError`, a `TesseraError` whose `code` is one of
 * `ChainErrorCode` (stable: callers tell failures apart by code, never by message text).
 *
 * | code                      | meaning                                                               |
 * |---------------------------|-----------------------------------------------------------------------|
 * | `INVALID_PARAMS`          | a malformed argument (address, amount, key bytes, network name…)      |
 * | `UNSUPPORTED_SCHEME`      | a key of another signature scheme than the chain or output type needs |
 * | `UNSUPPORTED_TRANSACTION` | a transaction type the adapter does not sign                          |
 * | `SIGNATURE_INVALID`       | the backend returned a signature that does not verify; nothing used   |
 * | `INVALID_PSBT`            | a PSBT does not parse, lacks previous outputs, or cannot be finalised |
 * | `SIGHASH_NOT_ALLOWED`     | a PSBT input asks for a sighash type the adapter refuses to sign      |
 * | `TAPROOT_KEY_UNTWEAKED`   | a Taproot backend holds the internal key, not the tweaked output key  |
 * | `NOTHING_TO_SIGN`         | no PSBT input belongs to the keys given                               |
 * | `KEY_MISMATCH`            | the server's record of a key differs from the client's stored one     |
 * @module
 */
import { TesseraError } from '@tessera/core';

/** Stable codes of `ChainError`. */
export type ChainErrorCode =
  | 'INVALID_PARAMS'
  | 'UNSUPPORTED_SCHEME'
  | 'UNSUPPORTED_TRANSACTION'
  | 'SIGNATURE_INVALID'
  | 'INVALID_PSBT'
  | 'SIGHASH_NOT_ALLOWED'
  | 'TAPROOT_KEY_UNTWEAKED'
  | 'NOTHING_TO_SIGN'
  | 'KEY_MISMATCH';

export interface ChainErrorOptions {
  cause?: unknown;
  hints?: string[];
  /** The transaction input the error is about (PSBT signing). */
  inputIndex?: number;
}

/** A chain adapter refused or failed; `code` says why. */
export class ChainError extends TesseraError {
  override name = 'ChainError';
  declare readonly code: ChainErrorCode;
  /** The transaction input concerned (PSBT signing), or null. */
  readonly inputIndex: number | null;

  constructor(code: ChainErrorCode, message: string, opts: ChainErrorOptions = {}) {
    const { inputIndex, ...rest } = opts;
    super(code, message, { ...rest, check: code });
    this.inputIndex = inputIndex ?? null;
  }
}
