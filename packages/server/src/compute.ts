/**
 * The protocol arithmetic of a session step (and of an ECDSA signing start), run either on the
 * caller's thread or on a pool of worker threads (`workers` in the configuration).
 *
 * A 2-of-2 ECDSA signature costs the server ≈ 23 ms of CPU in the core, a key generation several
 * seconds. On the event loop that caps a server at one core and stalls every other request while
 * a DKG round runs; in workers the loop only does I/O and the store, and the arithmetic uses every
 * core. Nothing about the protocol changes: a job carries the opened session state, the client's
 * envelopes, the server's share (plaintext, in this process's memory only) and what the
 * pending-check pair marker found (docs/protocols/ecdsa.md); it returns the next state, the reply
 * envelopes, the single-use ids consumed and whether a check banned the pair. The store, custody,
 * markers and commits stay on the loop.
 *
 * A sign request's payload (typed data, a transaction) is parsed and hashed here too, under a
 * time budget: a job over it terminates its worker, and a replacement takes the next job. So is
 * the check of a verifiable backup (≈ 100 ms of CPU on a ciphertext the caller chose), with the
 * long steps.
 *
 * Each worker takes one job at a time from a queue kept on the loop: signing jobs before key
 * generation and refresh steps (seconds each), and subjects in turn within each. By default the
 * long steps also run on a worker of their own (`bulkWorkers`), so that one tenant's key
 * generations never make another's signature wait for a step of theirs to end.
 * @module
 */
import { Worker } from 'node:worker_threads';
import {
  type ProtocolNameValue,
  type SchemeName,
  type SigningInput,
  type SignPayload,
  signingInput,
} from '@tessera/api';
import {
  BoundedCache,
  decodeEnvelope,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  errorFromData,
  KeyShare,
  noGuardedCheck,
  type PairGuard,
  type PairGuardState,
  type PartyId,
  type PveBackupKey,
  pveVerify,
  type ReshareResult,
  StagedLedger,
} from '@tessera/core';
import { ComputeFailed, ComputeTimeout } from './compute-errors.ts';
import { type CoreResult, isReshareResult, type SessionCodec } from './sessions/protocol.ts';
import { codecOf } from './sessions/protocols/index.ts';

export { ComputeFailed, ComputeTimeout };

/**
 * The share a job runs with: a digest naming it in worker caches, and its plaintext encoding
 * (sent to a worker only when that worker does not hold it decoded already).
 */
export interface ShareInput {
  digest: string;
  bytes?: Uint8Array;
}

/** A worker was sent a share digest it no longer holds: send the bytes. */
class ShareMissing extends Error {}

/**
 * What the pair marker of this step found (`PairGuardState`), `refuse` for a step that took no
 * marker (it carries no guarded round; a check that consults the guard anyway throws), or
 * `none` for a session without a share.
 */
export type GuardInput = PairGuardState | 'refuse' | 'none';

export interface StepJob {
  protocol: ProtocolNameValue;
  /** The session as its codec encoded it (opened). */
  state: Uint8Array;
  /** The client's envelopes, in order, as received (and the peer node's, opened). */
  envelopes: Uint8Array[];
  share?: ShareInput;
  guard: GuardInput;
  /** Who the transport authenticated as the sender: one party for all, or one per envelope. */
  sender: PartyId | PartyId[];
}

export interface SignStartJob {
  share: ShareInput;
  signers: PartyId[];
  rid: Uint8Array;
  digest: Uint8Array;
}

/** What a sign request's payload signs (`signingInput`), for a key of `scheme`. */
export interface PayloadJob {
  scheme: SchemeName;
  payload: SignPayload;
}

/**
 * A verifiable backup to check (`pveVerify`), against the statement the server made from its own
 * record of the key: the client's public share and the label, never the ciphertext's claims.
 */
export interface BackupJob {
  pve: Uint8Array;
  publicShare: Uint8Array;
  backupKey: PveBackupKey;
  label: Uint8Array;
}

/**
 * Where a job runs and whose it is: jobs of one `affinity` (a key id, a session id) go to one
 * worker, whose caches then serve them; `subject` takes its turn with other subjects' jobs.
 */
export interface JobRoute {
  affinity: string;
  subject: string;
}

/** A job handed to a worker (the `onDispatch` test hook). */
export interface Dispatch {
  worker: number;
  kind: JobRequest['kind'];
  /** The protocol of a step. */
  protocol?: ProtocolNameValue;
  subject: string;
}

interface Effects {
  /** Single-use ids the core consumed; the store commits them with the step. */
  nonces: string[];
  /** A check banned the pair: the marker must become a ban. */
  banned: boolean;
  /** The share, re-encoded, when a ban was recorded on it (persist it). */
  bannedShare?: Uint8Array;
}

export type StepOutcome = Effects &
  (
    | {
        kind: 'ok';
        /** The next session state, or null when the protocol finished. */
        state: Uint8Array | null;
        round: number;
        out: Uint8Array[];
        result?: CoreResult;
      }
    /** An envelope for another round than the session's, or one after the result. */
    | { kind: 'violation'; why: string }
    | { kind: 'error'; error: Error }
  );

export interface StartOutcome {
  state: Uint8Array;
  round: number;
  out: Uint8Array[];
  nonces: string[];
}

const SHARE_CACHE_SIZE = 64;
/** Decoded shares by digest: decoding and validating one costs ≈ 2 ms, more than a round's bookkeeping. */
const shares = new BoundedCache<string, KeyShare>(SHARE_CACHE_SIZE);

function shareOf(input: ShareInput): KeyShare {
  const cached = shares.get(input.digest);
  if (cached) return cached;
  if (!input.bytes) throw new ShareMissing();
  const share = KeyShare.fromBytes(input.bytes);
  shares.set(input.digest, share);
  return share;
}

/**
 * Runs a step's envelopes through the core, on this thread. `codec`: the session's, when the
 * caller has it (a worker looks it up by the job's protocol).
 */
export function runStep(
  job: StepJob,
  given?: KeyShare,
  codec: SessionCodec = codecOf(job.protocol)
): StepOutcome {
  const share = given ?? (job.share ? shareOf(job.share) : undefined);
  const bansBefore = share?.bannedPeers.join(',');
  const ledger = new StagedLedger();
  let banned = false;
  const guard: PairGuard | undefined =
    job.guard === 'none'
      ? undefined
      : job.guard === 'refuse'
        ? noGuardedCheck
        : {
            begin: () => job.guard as PairGuardState,
            end: () => {},
            ban: () => {
              banned = true;
            },
          };
  const effects = (): Effects => {
    const changed = share !== undefined && share.bannedPeers.join(',') !== bansBefore;
    if (changed && job.share) shares.delete(job.share.digest);
    return {
      nonces: ledger.take(),
      banned,
      ...(changed ? { bannedShare: (share as KeyShare).toBytes() } : {}),
    };
  };
  let session = codec.decode(job.state);
  const out: Envelope[] = [];
  let result: CoreResult | undefined;
  try {
    for (const [i, raw] of job.envelopes.entries()) {
      const env = decodeEnvelope(raw);
      if (result !== undefined || env.round !== session.round)
        return {
          kind: 'violation',
          why: `round-${env.round} message while the session is in round ${session.round}`,
          ...effects(),
        };
      const s = codec.receive(session, env, {
        sender: Array.isArray(job.sender) ? (job.sender[i] as PartyId) : job.sender,
        ledger,
        ...(share ? { share } : {}),
        ...(guard ? { pairGuard: guard } : {}),
      });
      session = s.session;
      out.push(...s.out);
      if (s.result !== undefined) result = s.result;
    }
  } catch (e) {
    return { kind: 'error', error: e as Error, ...effects() };
  }
  return {
    kind: 'ok',
    state: result !== undefined ? null : codec.encode(session),
    round: session.round,
    out: out.map(encodeEnvelope),
    ...(result !== undefined ? { result } : {}),
    ...effects(),
  };
}

/** Checks a verifiable backup on this thread; throws core's `InputError` when it does not verify. */
export function runBackupCheck(job: BackupJob): void {
  pveVerify(job.pve, job.publicShare, job.backupKey, job.label);
}

/** Round 1 of an ECDSA signing session, on this thread. */
export function runSignStart(job: SignStartJob, given?: KeyShare): StartOutcome {
  const ledger = new StagedLedger();
  const step = ecdsaSign.start(
    {
      share: given ?? shareOf(job.share),
      signers: job.signers,
      rid: job.rid,
      digest: job.digest,
    },
    { ledger }
  );
  return {
    state: ecdsaSign.encodeSession(step.session),
    round: step.session.round,
    out: step.out.map(encodeEnvelope),
    nonces: ledger.take(),
  };
}

// ---- the wire between the loop and a worker ------------------------------------------------

type JobRequest =
  | { kind: 'step'; job: StepJob }
  | { kind: 'start'; job: SignStartJob }
  | { kind: 'payload'; job: PayloadJob }
  | { kind: 'backup'; job: BackupJob };
type Request = JobRequest & { id: number };

/**
 * An error as it crosses threads. A core error travels as its data (`code`, `check`, `culprit`,
 * message) and arrives as a plain copy: the engine dispatches on `code` and `check`, not on a
 * class. The pool's own failures and the payload refusals (no `code`) travel by name.
 */
interface WireError {
  name: string;
  code: string | null;
  message: string;
  check: string | null;
  culprit: PartyId | null;
}

/** A result as it crosses threads: shares as their encoding (a KeyShare is a class instance). */
type WireResult =
  | { keyShare: Uint8Array }
  | { reshare: Omit<ReshareResult, 'share'> & { share: Uint8Array | null } }
  | { value: Exclude<CoreResult, KeyShare | ReshareResult> };

type Response =
  | { id: number; ok: true; kind: 'start'; outcome: StartOutcome }
  | { id: number; ok: true; kind: 'payload'; outcome: SigningInput }
  | { id: number; ok: true; kind: 'backup' }
  | {
      id: number;
      ok: true;
      kind: 'step';
      outcome:
        | (Omit<Extract<StepOutcome, { kind: 'ok' }>, 'result'> & { wire?: WireResult })
        | Extract<StepOutcome, { kind: 'violation' }>
        | (Omit<Extract<StepOutcome, { kind: 'error' }>, 'error'> & { wireError: WireError });
    }
  | { id: number; ok: false; error: WireError }
  | { id: number; ok: false; missingShare: true };

function toWire(e: unknown): WireError {
  const err = e instanceof Error ? e : new Error(String(e));
  const f = err as Error & { code?: unknown; check?: unknown; culprit?: unknown };
  return {
    name: err.name,
    code: typeof f.code === 'string' ? f.code : null,
    message: err.message,
    check: typeof f.check === 'string' ? f.check : null,
    culprit: typeof f.culprit === 'number' ? f.culprit : null,
  };
}

/** A worker's error as the plain copy of its data: callers dispatch on `code` and `check`. */
function fromWire(w: WireError): Error {
  if (w.code !== null) return errorFromData({ ...w, code: w.code });
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Worker side: the answer to one request. */
function answer(r: Request): Response {
  try {
    if (r.kind === 'start')
      return { id: r.id, ok: true, kind: 'start', outcome: runSignStart(r.job) };
    if (r.kind === 'payload')
      return {
        id: r.id,
        ok: true,
        kind: 'payload',
        outcome: signingInput(r.job.scheme, r.job.payload),
      };
    if (r.kind === 'backup') {
      runBackupCheck(r.job);
      return { id: r.id, ok: true, kind: 'backup' };
    }
    const o = runStep(r.job);
    if (o.kind === 'violation') return { id: r.id, ok: true, kind: 'step', outcome: o };
    if (o.kind === 'error') {
      const { error, ...rest } = o;
      return { id: r.id, ok: true, kind: 'step', outcome: { ...rest, wireError: toWire(error) } };
    }
    const { result, ...rest } = o;
    const wire: WireResult | undefined =
      result === undefined
        ? undefined
        : result instanceof KeyShare
          ? { keyShare: result.toBytes() }
          : isReshareResult(result)
            ? { reshare: { ...result, share: result.share?.toBytes() ?? null } }
            : { value: result };
    return { id: r.id, ok: true, kind: 'step', outcome: { ...rest, ...(wire ? { wire } : {}) } };
  } catch (e) {
    if (e instanceof ShareMissing) return { id: r.id, ok: false, missingShare: true };
    return { id: r.id, ok: false, error: toWire(e) };
  }
}

/** Worker side: answers requests with `runStep` / `runSignStart` until terminated. */
export function serve(port: WorkerPort): void {
  // Loaded: from here on a job's time is its own (a budget does not count the worker's start).
  port.postMessage({ ready: true });
  port.on('message', (r) => {
    try {
      port.postMessage(answer(r));
    } finally {
      // The decoded share is kept; this thread's copy of its encoding is not.
      if (r.kind === 'step' || r.kind === 'start') r.job.share?.bytes?.fill(0);
    }
  });
}

/** FNV-1a of a string: spreads key ids over the workers. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The worker's module beside this one: compute-worker.ts when the sources run through tsx (this
 * module is then compute.ts), compute-worker.js in the built package.
 */
const WORKER_ENTRY = import.meta.resolve(
  import.meta.url.endsWith('.ts') ? './compute-worker.ts' : './compute-worker.js'
);

/**
 * A TypeScript entry (the sources, test fixtures) runs through tsx, whose loader a worker thread
 * does not inherit on Node 20: the worker registers it, then loads its entry point. A built entry
 * loads as it is (tsx is a development tool, absent where the package is installed).
 */
const workerBoot = (entry: string) =>
  entry.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`
    : `import(${JSON.stringify(entry)});`;

type WorkerPort = {
  on(e: 'message', f: (r: Request) => void): void;
  postMessage(m: Response | Ready): void;
};

/** A worker's first message: its entry point is loaded. */
type Ready = { ready: true };

/**
 * The jobs waiting for one worker. Signing jobs (steps, starts, payloads: milliseconds) go before
 * key generation and refresh steps (up to seconds of CPU), and within each class subjects take
 * turns, one job each, so no tenant's backlog is ahead of another's next job. Under a steady flow
 * of signatures a waiting long job still gets every `BULK_EVERY`-th turn, so key generations and
 * refreshes cannot be starved; a signature then waits for at most two long jobs.
 */
export class FairQueue<T> {
  readonly #classes = { sign: new Map<string, T[]>(), bulk: new Map<string, T[]>() };
  #size = 0;
  /** Signing jobs taken since the last long one, while long ones waited. */
  #signsInARow = 0;

  get size(): number {
    return this.#size;
  }

  push(cls: JobClass, subject: string, item: T): void {
    const waiting = this.#classes[cls];
    const own = waiting.get(subject);
    if (own) own.push(item);
    else waiting.set(subject, [item]);
    this.#size++;
  }

  shift(): T | undefined {
    const { sign, bulk } = this.#classes;
    const takeBulk = bulk.size > 0 && (sign.size === 0 || this.#signsInARow >= BULK_EVERY);
    const waiting = takeBulk ? bulk : sign;
    this.#signsInARow = takeBulk || bulk.size === 0 ? 0 : this.#signsInARow + 1;
    const next = waiting.entries().next();
    if (next.done) return undefined;
    const [subject, own] = next.value;
    const item = own.shift();
    // The subject goes to the back of the round (Map order is insertion order).
    waiting.delete(subject);
    if (own.length > 0) waiting.set(subject, own);
    this.#size--;
    return item;
  }
}

/** A waiting long job gets at least one turn in this many (see `FairQueue`). */
export const BULK_EVERY = 8;

/** `sign`: a signature's jobs; `bulk`: key generation and refresh steps, backup checks. */
export type JobClass = 'sign' | 'bulk';

const classOf = (req: JobRequest): JobClass =>
  req.kind === 'step' ? codecOf(req.job.protocol).lane : req.kind === 'backup' ? 'bulk' : 'sign';

interface Job {
  req: JobRequest;
  subject: string;
  budgetMs: number | undefined;
  resolve: (r: Response) => void;
}

interface Slot {
  index: number;
  /** Started on first use; null again after it failed or was terminated. */
  worker: Worker | null;
  /** The worker has loaded (budgets run from then on). */
  ready: boolean;
  /** The one job the worker holds (its request id), or null when idle. */
  running: { job: Job; id: number; timer: NodeJS.Timeout | undefined } | null;
  queue: FairQueue<Job>;
  /** Digests of the shares sent to this worker (it may have evicted some since). */
  sent: Set<string>;
}

const failure = (e: Error): Response => ({ id: -1, ok: false, error: toWire(e) });

/** What the engine and protocols run jobs through (a `ComputePool`, or a test's stand-in). */
export type Compute = Pick<ComputePool, 'step' | 'signStart' | 'payload'>;

/**
 * Runs jobs on `size` worker threads (0: on the caller's thread), chosen by affinity, one job
 * per worker at a time. Workers start on first use; `close()` waits for the jobs queued.
 */
export class ComputePool {
  readonly size: number;
  readonly #slots: Slot[];
  /** The workers each class of job runs on: the same ones, or a lane of its own for `bulk`. */
  readonly #lanes: Record<JobClass | 'payload', Slot[]>;
  #next = 0;
  #closed = false;
  readonly #boot: string;
  /** Test hook: each job as it is handed to a worker, in that order. */
  onDispatch: ((d: Dispatch) => void) | undefined;

  /**
   * `size` workers for every job, or, with `bulkWorkers`, for signing jobs only, the long ones
   * (key generation, refresh: seconds of CPU per step) running on `bulkWorkers` workers of their
   * own; with `payloadWorkers`, the hashing of sign payloads runs on workers of its own too, so
   * that a payload over its budget, whose worker is terminated, never makes a signing step wait
   * for a replacement to load. Queues order the jobs of one worker, but a job that started runs to its end: only a
   * separate thread keeps a signature from waiting seconds behind another tenant's key
   * generation (the operating system then shares the cores between them). `entry`: the worker's
   * module (tests substitute one that dies).
   */
  constructor(
    size: number,
    entry = WORKER_ENTRY,
    opts: { bulkWorkers?: number; payloadWorkers?: number } = {}
  ) {
    this.size = size;
    this.#boot = workerBoot(entry);
    const bulk = size === 0 ? 0 : (opts.bulkWorkers ?? 0);
    const payload = size === 0 ? 0 : (opts.payloadWorkers ?? 0);
    this.#slots = Array.from({ length: size + bulk + payload }, (_, index) => ({
      index,
      worker: null,
      ready: false,
      running: null,
      queue: new FairQueue<Job>(),
      sent: new Set<string>(),
    }));
    const signing = this.#slots.slice(0, size);
    this.#lanes = {
      sign: signing,
      bulk: bulk > 0 ? this.#slots.slice(size, size + bulk) : signing,
      payload: payload > 0 ? this.#slots.slice(size + bulk) : signing,
    };
  }

  /** Runs `job`; `share` is the caller's decoded copy of `job.share`, used on the caller's thread. */
  async step(job: StepJob, route: JobRoute, share?: KeyShare): Promise<StepOutcome> {
    if (this.size === 0) return runStep(job, share);
    const r = await this.#submit({ kind: 'step', job }, route);
    if (!r.ok) throw fromWire('error' in r ? r.error : toWire(new Error('share not delivered')));
    if (r.kind !== 'step') throw new Error('compute pool: mismatched reply');
    const o = r.outcome;
    if ('wireError' in o) {
      const { wireError, ...rest } = o;
      return { ...rest, error: fromWire(wireError) };
    }
    if (o.kind === 'violation') return o;
    const { wire, ...rest } = o as typeof o & { wire?: WireResult };
    if (!wire) return rest;
    return { ...rest, result: fromWireResult(wire) };
  }

  async signStart(job: SignStartJob, route: JobRoute, share?: KeyShare): Promise<StartOutcome> {
    if (this.size === 0) return runSignStart(job, share);
    const r = await this.#submit({ kind: 'start', job }, route);
    if (!r.ok) throw fromWire('error' in r ? r.error : toWire(new Error('share not delivered')));
    if (r.kind !== 'start') throw new Error('compute pool: mismatched reply');
    return r.outcome;
  }

  /**
   * What a payload signs. On a worker it has `budgetMs`: past it the worker is terminated and
   * this throws `ComputeTimeout`. With no workers it runs here, without a budget.
   */
  async payload(job: PayloadJob, route: JobRoute, budgetMs: number): Promise<SigningInput> {
    if (this.size === 0) return signingInput(job.scheme, job.payload);
    const r = await this.#submit({ kind: 'payload', job }, route, budgetMs);
    if (!r.ok) throw fromWire('error' in r ? r.error : toWire(new Error('no answer')));
    if (r.kind !== 'payload') throw new Error('compute pool: mismatched reply');
    return r.outcome;
  }

  /**
   * Checks a verifiable backup on the bulk lane (with no workers, here): its ciphertext is the
   * caller's to choose, and ≈ 100 ms of checking must not hold the event loop. Throws core's
   * error data (`code` INVALID_INPUT, `check` Pve…) when it does not verify.
   */
  async checkBackup(job: BackupJob, route: JobRoute): Promise<void> {
    if (this.size === 0) return runBackupCheck(job);
    const r = await this.#submit({ kind: 'backup', job }, route);
    if (!r.ok) throw fromWire('error' in r ? r.error : toWire(new Error('no answer')));
    if (r.kind !== 'backup') throw new Error('compute pool: mismatched reply');
  }

  #submit(req: JobRequest, route: JobRoute, budgetMs?: number): Promise<Response> {
    if (this.#closed) throw new Error('compute pool closed');
    const cls = classOf(req);
    const lane = this.#lanes[req.kind === 'payload' ? 'payload' : cls];
    const slot = lane[fnv1a(route.affinity) % lane.length] as Slot;
    return new Promise((resolve) => {
      slot.queue.push(cls, route.subject, {
        req,
        subject: route.subject,
        budgetMs,
        resolve,
      });
      this.#dispatch(slot);
    });
  }

  /** Hands the worker its next job, if it is idle. */
  #dispatch(slot: Slot): void {
    if (slot.running) return;
    const job = slot.queue.shift();
    if (!job) {
      // An idle worker does not keep the process alive; one with a job does.
      slot.worker?.unref();
      return;
    }
    slot.worker ??= this.#spawn(slot);
    slot.worker.ref();
    const step = job.req.kind === 'step' ? job.req.job : undefined;
    this.onDispatch?.({
      worker: slot.index,
      kind: job.req.kind,
      ...(step ? { protocol: step.protocol } : {}),
      subject: job.subject,
    });
    this.#post(slot, job, false);
  }

  /** Sends the share's bytes only to a worker that was not sent them, or that lost them. */
  #post(slot: Slot, job: Job, withBytes: boolean): void {
    const worker = slot.worker as Worker;
    let req = job.req;
    const share = req.kind === 'step' || req.kind === 'start' ? req.job.share : undefined;
    if (share && !withBytes && slot.sent.has(share.digest))
      req = { ...req, job: { ...req.job, share: { digest: share.digest } } } as typeof req;
    else if (share) {
      if (slot.sent.size >= 4 * SHARE_CACHE_SIZE) slot.sent.clear();
      slot.sent.add(share.digest);
    }
    const id = this.#next++;
    clearTimeout(slot.running?.timer);
    slot.running = { job, id, timer: undefined };
    if (slot.ready) this.#startBudget(slot);
    worker.postMessage({ ...req, id } as Request);
  }

  /** The running job's budget starts once its worker has loaded. */
  #startBudget(slot: Slot): void {
    const run = slot.running;
    if (!run || run.job.budgetMs === undefined || run.timer !== undefined) return;
    run.timer = setTimeout(() => this.#overBudget(slot, run.id), run.job.budgetMs);
  }

  #finish(slot: Slot, r: Response): void {
    const run = slot.running;
    if (!run) return;
    clearTimeout(run.timer);
    slot.running = null;
    run.job.resolve(r);
    this.#dispatch(slot);
  }

  /** The job ran past its budget: its worker is terminated, and the next job gets a new one. */
  #overBudget(slot: Slot, id: number): void {
    if (slot.running?.id !== id) return;
    const worker = slot.worker;
    slot.ready = false;
    slot.sent.clear();
    void worker?.terminate();
    // The replacement starts loading now, not when the next job comes (loading takes seconds).
    slot.worker = this.#spawn(slot);
    slot.worker.unref();
    this.#finish(
      slot,
      failure(new ComputeTimeout(`the job ran over its budget of ${slot.running.job.budgetMs} ms`))
    );
  }

  #spawn(slot: Slot): Worker {
    const worker = new Worker(this.#boot, {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 32 },
    });
    worker.on('message', (r: Response | Ready) => {
      if (slot.worker !== worker) return;
      if ('ready' in r) {
        slot.ready = true;
        this.#startBudget(slot);
        return;
      }
      if (slot.running?.id !== r.id) return;
      const sentDigestOnly = !r.ok && 'missingShare' in r;
      if (sentDigestOnly) this.#post(slot, slot.running.job, true);
      else this.#finish(slot, r);
    });
    const fail = (e: Error) => {
      // A worker terminated or replaced already has nothing to answer for.
      if (slot.worker !== worker) return;
      slot.worker = null;
      slot.ready = false;
      slot.sent.clear();
      // The failed job was never committed; a replacement starts for the next one.
      if (slot.running)
        this.#finish(slot, failure(new ComputeFailed(`compute worker failed: ${e.message}`)));
      else this.#dispatch(slot);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new Error(`exited with code ${code}`));
    });
    return worker;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const busy = () => this.#slots.some((s) => s.running !== null || s.queue.size > 0);
    while (busy()) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.#slots.map((s) => s.worker?.terminate()));
  }
}

function fromWireResult(wire: WireResult): CoreResult {
  if ('keyShare' in wire) return KeyShare.fromBytes(wire.keyShare);
  if ('reshare' in wire) {
    const { share, ...rest } = wire.reshare;
    return { ...rest, share: share ? KeyShare.fromBytes(share) : null };
  }
  return wire.value;
}
