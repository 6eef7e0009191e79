/**
 * Work that core may hand to other threads: pure jobs on public inputs, each a function from
 * bytes to bytes, so that a thread pool needs nothing but `runCoreJob` (docs/protocols/ecdsa.md,
 * "How the base OT computes").
 *
 * Protocols stay synchronous and sans-IO: a pool installed with `useCoreWorkers` blocks the
 * calling thread while its threads run their share, and the caller runs its own share meanwhile.
 * Results are the same bytes with or without a pool. The pool itself (threads, how they are
 * started and waited for) belongs to the platform: `@tessera/secp256k1-node` has one for Node.
 * @module
 */
import { InputError } from './errors.ts';
import { hashToCurveJob } from './math/h2c-secp256k1.ts';

/** The jobs a pool runs. Inputs and outputs are public: no secret crosses a thread. */
const JOBS = {
  /** Base OT's RFC 9380 hashes to secp256k1 (`Hc`): the bulk of key generation's time. */
  hashToCurveSecp256k1: hashToCurveJob,
} as const;

export type CoreJob = keyof typeof JOBS;

/** Threads that run core's jobs for the thread that installed them. */
export interface CoreWorkers {
  /** How many other threads take jobs. */
  readonly size: number;
  /**
   * Starts `inputs[i]` on thread `i` (at most `size` inputs) and returns a function that blocks
   * until every thread has answered, returning the outputs in order. It throws if a thread fails
   * or does not answer in time.
   */
  post(job: CoreJob, inputs: Uint8Array[]): () => Uint8Array[];
}

let installed: CoreWorkers | null = null;

/** Installs (or with null removes) the pool this thread hands core's jobs to. */
export function useCoreWorkers(workers: CoreWorkers | null): void {
  installed = workers;
}

/**
 * Runs one job here: what a pool's thread calls with what `post` gave it.
 *
 * @throws InputError for an unknown job.
 */
export function runCoreJob(job: CoreJob, input: Uint8Array): Uint8Array {
  const run = Object.hasOwn(JOBS, job) ? JOBS[job] : undefined;
  if (!run) throw new InputError(`unknown core job ${JSON.stringify(job)}`);
  return run(input);
}

/**
 * Splits `items` into the pool's threads and this one, runs `job` on the others' parts while
 * `here` computes the first, and returns every result in order. Without a pool (or with fewer
 * items than `minimum`) everything runs here.
 */
export function spread<T>(
  items: Uint8Array[],
  minimum: number,
  here: (part: Uint8Array[]) => T[],
  job: CoreJob,
  encode: (part: Uint8Array[]) => Uint8Array,
  decode: (output: Uint8Array, count: number) => T[]
): T[] {
  const pool = installed;
  if (!pool || pool.size === 0 || items.length < minimum) return here(items);
  const ways = pool.size + 1;
  const per = Math.ceil(items.length / ways);
  const parts: Uint8Array[][] = [];
  for (let i = 0; i < items.length; i += per) parts.push(items.slice(i, i + per));
  const [mine = [], ...theirs] = parts;
  const wait = pool.post(job, theirs.map(encode));
  let local: T[];
  try {
    local = here(mine);
  } catch (e) {
    // The threads' answers are still collected, so that the pool is free for the next post.
    try {
      wait();
    } catch {}
    throw e;
  }
  const outputs = wait();
  return [...local, ...outputs.flatMap((o, i) => decode(o, (theirs[i] as Uint8Array[]).length))];
}
