/**
 * How a compute job can fail without an answer (kept apart from `compute.ts`, which loads the
 * protocol registry, so that protocols can name these failures without an import cycle).
 * @module
 */

/**
 * The worker running a job died (crash, out of memory, terminated) before answering: whether
 * the job's checks passed is unknown.
 */
export class ComputeFailed extends Error {
  override name = 'ComputeFailed';
}

/** A job ran over its time budget: its worker was terminated. */
export class ComputeTimeout extends ComputeFailed {
  override name = 'ComputeTimeout';
}
