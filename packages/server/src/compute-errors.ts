/**
 * How a compute job can fail without an answer (kept apart from `compute.ts`, which loads the
 * protocol registry, so that protocols can name these failures without an import cycle). Both are
 * `TesseraError`s with a code of their own: callers dispatch on `code`, on either side of the
 * worker boundary.
 * @module
 */
import { TesseraError } from '@tessera/core';

/**
 * `COMPUTE_FAILED`: the worker running a job died (crash, out of memory, terminated) before
 * answering, so whether the job's checks passed is unknown.
 */
export class ComputeFailed extends TesseraError {
  override name = 'ComputeFailed';
  constructor(message: string, code: 'COMPUTE_FAILED' | 'COMPUTE_TIMEOUT' = 'COMPUTE_FAILED') {
    super(code, message);
  }
}

/** `COMPUTE_TIMEOUT`: a job ran over its time budget, and its worker was terminated. */
export class ComputeTimeout extends ComputeFailed {
  override name = 'ComputeTimeout';
  constructor(message: string) {
    super(message, 'COMPUTE_TIMEOUT');
  }
}

/** Whether `e` is a job that ended without an answer (`ComputeFailed` or `ComputeTimeout`). */
export const isComputeFailure = (e: unknown): e is TesseraError =>
  e instanceof TesseraError && (e.code === 'COMPUTE_FAILED' || e.code === 'COMPUTE_TIMEOUT');
