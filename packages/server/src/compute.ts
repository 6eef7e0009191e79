/**
 * The protocol arithmetic of a session step (and of an ECDSA signing start), run either on the
 * caller's thread or on a pool of worker threads (`workers` in the configuration).
 *
 * A 2-of-2 ECDSA signature costs the server ≈ 23 ms of CPU in the core, a key generation several
 * seconds. On the event loop that caps a server at one core and stalls every other request while
 * a DKG round runs; in workers the loop only does I/O and the store, and the arithmetic uses every
 * core. Nothing about the protocol changes: a job carries the opened session state, the client's
 * envelopes, the server's share (plaintext, in this process's memory only) and what the §15.1
 * pair marker found; it returns the next state, the reply envelopes, the single-use ids consumed
 * and whether a check banned the pair. The store, custody, markers and commits stay on the loop.
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { ProtocolNameValue } from '@tessera/api';
import {
  decodeEnvelope,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  KeyShare,
  MessageRejected,
  type NonceLedger,
  type PairGuard,
  type PairGuardState,
  type PartyId,
  ProtocolAbort,
  TesseraError,
} from '@tessera/core';
import { type CoreResult, RUNNERS } from './protocols.ts';

/**
 * The share a job runs with: a digest naming it in worker caches, and its plaintext encoding
 * (sent to a worker only when that worker does not hold it decoded already).
 */
export interface ShareInput {
  digest: string;
  bytes?: Uint8Array;
}

/**
 * The worker running a job died (crash, out of memory, terminated) before answering: whether
 * the job's checks passed is unknown.
 */
export class ComputeFailed extends Error {
  override name = 'ComputeFailed';
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
  /** The session as `runner.encode` wrote it (opened). */
  state: Uint8Array;
  /** The client's envelopes, in order, as received. */
  envelopes: Uint8Array[];
  share?: ShareInput;
  guard: GuardInput;
  sender: PartyId;
}

export interface SignStartJob {
  share: ShareInput;
  signers: PartyId[];
  rid: Uint8Array;
  digest: Uint8Array;
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

/** Collects the single-use ids a core call consumes; the store commits them with the step. */
export class StagedLedger implements NonceLedger {
  readonly ids: string[] = [];
  consume(id: string): boolean {
    if (this.ids.includes(id)) return false;
    this.ids.push(id);
    return true;
  }
}

/** The pair guard of a step that carries no guarded round (`ecdsaSign.guardedRounds`). */
const NO_GUARDED_CHECK: PairGuard = {
  begin: () => {
    throw new Error('a guarded check ran in a step that took no pair marker');
  },
  end: () => {},
  ban: () => {},
};

const SHARE_CACHE_SIZE = 64;
/** Decoded shares by digest: decoding and validating one costs ≈ 2 ms, more than a round's bookkeeping. */
const shares = new Map<string, KeyShare>();

function shareOf(input: ShareInput): KeyShare {
  const cached = shares.get(input.digest);
  if (cached) return cached;
  if (!input.bytes) throw new ShareMissing();
  const share = KeyShare.fromBytes(input.bytes);
  if (shares.size >= SHARE_CACHE_SIZE) shares.delete(shares.keys().next().value as string);
  shares.set(input.digest, share);
  return share;
}

/** Runs a step's envelopes through the core, on this thread. */
export function runStep(job: StepJob, given?: KeyShare): StepOutcome {
  const runner = RUNNERS[job.protocol];
  const share = given ?? (job.share ? shareOf(job.share) : undefined);
  const bansBefore = share?.bannedPeers.join(',');
  const ledger = new StagedLedger();
  let banned = false;
  const guard: PairGuard | undefined =
    job.guard === 'none'
      ? undefined
      : job.guard === 'refuse'
        ? NO_GUARDED_CHECK
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
      nonces: ledger.ids,
      banned,
      ...(changed ? { bannedShare: (share as KeyShare).toBytes() } : {}),
    };
  };
  let session = runner.decode(job.state);
  const out: Envelope[] = [];
  let result: CoreResult | undefined;
  try {
    for (const raw of job.envelopes) {
      const env = decodeEnvelope(raw);
      if (result !== undefined || env.round !== session.round)
        return {
          kind: 'violation',
          why: `round-${env.round} message while the session is in round ${session.round}`,
          ...effects(),
        };
      const s = runner.receive(session, env, {
        sender: job.sender,
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
    state: result !== undefined ? null : runner.encode(session),
    round: session.round,
    out: out.map(encodeEnvelope),
    ...(result !== undefined ? { result } : {}),
    ...effects(),
  };
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
    nonces: ledger.ids,
  };
}

// ---- the wire between the loop and a worker ------------------------------------------------

type Request =
  | { id: number; kind: 'step'; job: StepJob }
  | { id: number; kind: 'start'; job: SignStartJob };

/** An error as it crosses threads: enough to rebuild the class the engine dispatches on. */
interface WireError {
  name: string;
  code: string | null;
  message: string;
  check: string | null;
  culprit: PartyId | null;
}

type WireResult = { keyShare: Uint8Array } | { value: Exclude<CoreResult, KeyShare> };

type Response =
  | { id: number; ok: true; kind: 'start'; outcome: StartOutcome }
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
  const t = err instanceof TesseraError ? err : null;
  return {
    name: err.name,
    code: t?.code ?? null,
    message: err.message,
    check: t?.check ?? (err as { check?: string }).check ?? null,
    culprit: t?.culprit ?? null,
  };
}

function fromWire(w: WireError): Error {
  if (w.name === 'ComputeFailed') return new ComputeFailed(w.message);
  if (w.name === 'ProtocolAbort')
    return new ProtocolAbort(w.check ?? 'unknown', w.culprit, w.message);
  if (w.name === 'MessageRejected')
    return new MessageRejected(w.check ?? 'unknown', w.culprit, w.message);
  if (w.code !== null)
    return new TesseraError(w.code, w.message, {
      ...(w.check !== null ? { check: w.check } : {}),
      ...(w.culprit !== null ? { culprit: w.culprit } : {}),
    });
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Worker side: the answer to one request. */
function answer(r: Request): Response {
  try {
    if (r.kind === 'start')
      return { id: r.id, ok: true, kind: 'start', outcome: runSignStart(r.job) };
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
          : { value: result };
    return { id: r.id, ok: true, kind: 'step', outcome: { ...rest, ...(wire ? { wire } : {}) } };
  } catch (e) {
    if (e instanceof ShareMissing) return { id: r.id, ok: false, missingShare: true };
    return { id: r.id, ok: false, error: toWire(e) };
  }
}

/** Worker side: answers requests with `runStep` / `runSignStart` until terminated. */
export function serve(port: WorkerPort): void {
  port.on('message', (r) => {
    try {
      port.postMessage(answer(r));
    } finally {
      // The decoded share is kept; this thread's copy of its encoding is not.
      r.job.share?.bytes?.fill(0);
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
 * The sources are TypeScript run through tsx, whose loader a worker thread does not inherit on
 * Node 20: the worker registers it, then loads its entry point.
 */
const workerBoot = (entry: string) =>
  `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;

interface Slot {
  worker: Worker;
  pending: Map<number, (r: Response) => void>;
  /** Digests of the shares sent to this worker (it may have evicted some since). */
  sent: Set<string>;
}

type WorkerPort = {
  on(e: 'message', f: (r: Request) => void): void;
  postMessage(m: Response): void;
};

/**
 * Runs jobs on `size` worker threads (0: on the caller's thread), chosen by affinity. Workers
 * start on first use; `close()` waits for the jobs in flight.
 */
export class ComputePool {
  readonly size: number;
  /** One entry per worker; null until its first job, or after it failed. */
  readonly #slots: (Slot | null)[];
  #next = 0;
  #closed = false;

  readonly #boot: string;

  /** `entry`: the worker's module (tests substitute one that dies). */
  constructor(size: number, entry = import.meta.resolve('./compute-worker.ts')) {
    this.size = size;
    this.#boot = workerBoot(entry);
    this.#slots = Array.from({ length: size }, () => null);
  }

  /**
   * Runs `job`; `share` is the caller's decoded copy of `job.share`, used on the caller's thread.
   * Jobs with the same `affinity` (a key id, a session id) go to the same worker, whose caches
   * (decoded share, verification table, gadget vector) then serve them.
   */
  async step(job: StepJob, affinity: string, share?: KeyShare): Promise<StepOutcome> {
    if (this.size === 0) return runStep(job, share);
    const r = await this.#send({ kind: 'step', job }, affinity);
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
    return {
      ...rest,
      result: 'keyShare' in wire ? KeyShare.fromBytes(wire.keyShare) : wire.value,
    };
  }

  async signStart(job: SignStartJob, affinity: string, share?: KeyShare): Promise<StartOutcome> {
    if (this.size === 0) return runSignStart(job, share);
    const r = await this.#send({ kind: 'start', job }, affinity);
    if (!r.ok) throw fromWire('error' in r ? r.error : toWire(new Error('share not delivered')));
    if (r.kind !== 'start') throw new Error('compute pool: mismatched reply');
    return r.outcome;
  }

  /** Sends the share's bytes only to a worker that was not sent them, or that lost them. */
  async #send(req: Omit<Request, 'id'>, affinity: string): Promise<Response> {
    if (this.#closed) throw new Error('compute pool closed');
    const index = fnv1a(affinity) % this.size;
    let slot = this.#slots[index];
    if (!slot) {
      slot = this.#spawn(index);
      this.#slots[index] = slot;
    }
    const share = req.job.share;
    if (!share) return this.#post(slot, req);
    if (slot.sent.has(share.digest)) {
      const r = await this.#post(slot, {
        ...req,
        job: { ...req.job, share: { digest: share.digest } },
      } as typeof req);
      if (r.ok || !('missingShare' in r)) return r;
    }
    if (slot.sent.size >= 4 * SHARE_CACHE_SIZE) slot.sent.clear();
    slot.sent.add(share.digest);
    return this.#post(slot, req);
  }

  #post(slot: Slot, req: Omit<Request, 'id'>): Promise<Response> {
    const id = this.#next++;
    return new Promise((resolve) => {
      // An idle worker does not keep the process alive; one with a job does.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, resolve);
      slot.worker.postMessage({ ...req, id } as Request);
    });
  }

  #spawn(index: number): Slot {
    const worker = new Worker(this.#boot, {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 32 },
    });
    const slot: Slot = { worker, pending: new Map(), sent: new Set() };
    worker.on('message', (r: Response) => {
      const done = slot.pending.get(r.id);
      slot.pending.delete(r.id);
      if (slot.pending.size === 0) worker.unref();
      done?.(r);
    });
    const fail = (e: Error) => {
      for (const done of slot.pending.values())
        done({
          id: -1,
          ok: false,
          error: toWire(new ComputeFailed(`compute worker failed: ${e.message}`)),
        });
      slot.pending.clear();
      // A replacement starts with the next job; the failed jobs were never committed.
      if (this.#slots[index] === slot) this.#slots[index] = null;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new Error(`exited with code ${code}`));
    });
    worker.unref();
    return slot;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (s) => {
        if (!s) return;
        while (s.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
        await s.worker.terminate();
      })
    );
  }
}
