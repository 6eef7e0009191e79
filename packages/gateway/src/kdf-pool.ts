/**
 * Argon2id off the event loop. In pure JS one derivation takes a few hundred milliseconds of
 * CPU: on the loop it would stall `/health` and every other request. A fixed pool of worker
 * threads takes the jobs in order; when the queue is full a new job is refused at once
 * (503 BUSY, `Retry-After`) rather than queued behind minutes of work.
 * @module
 */
import { Worker } from 'node:worker_threads';
import { GatewayError } from './errors.ts';
import type { Kdf, KdfParams } from './secret.ts';

/** What a worker is asked: everything Argon2id takes. */
export interface KdfJob extends KdfParams {
  id: number;
  password: string;
  salt: Uint8Array;
}

export type KdfReply =
  | { id: number; ok: true; key: Uint8Array }
  | { id: number; ok: false; error: string };

interface Pending {
  job: KdfJob;
  resolve: (key: Uint8Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker | null;
  ready: boolean;
  running: Pending | null;
}

/**
 * The worker's module beside this one: kdf-worker.ts when the sources run through tsx (a worker
 * thread does not inherit tsx's loader on Node 20, so it registers it first), kdf-worker.js in
 * the built package.
 */
const WORKER_ENTRY = import.meta.resolve(
  import.meta.url.endsWith('.ts') ? './kdf-worker.ts' : './kdf-worker.js'
);
const BOOT = WORKER_ENTRY.endsWith('.ts')
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_ENTRY)}); });`
  : `import(${JSON.stringify(WORKER_ENTRY)});`;

export class KdfPool {
  readonly #slots: Slot[];
  readonly #queue: Pending[] = [];
  readonly #maxQueue: number;
  #nextId = 1;
  #closed = false;

  constructor(o: { size: number; maxQueue: number }) {
    this.#slots = Array.from({ length: Math.max(1, o.size) }, () => ({
      worker: null,
      ready: false,
      running: null,
    }));
    this.#maxQueue = o.maxQueue;
  }

  /** The pool as the `Kdf` that `secret.ts` takes. */
  readonly derive: Kdf = (password, salt, params) => {
    if (this.#closed) return Promise.reject(new GatewayError('BUSY', 'the gateway is stopping'));
    if (this.#queue.length >= this.#maxQueue)
      return Promise.reject(
        new GatewayError('BUSY', 'too many password operations are waiting; retry shortly', {
          retryAfter: 1,
        })
      );
    return new Promise<Uint8Array>((resolve, reject) => {
      const job: KdfJob = { id: this.#nextId++, password, salt, ...params };
      this.#queue.push({ job, resolve, reject });
      this.#pump();
    });
  };

  /** Jobs waiting for a worker (not counting those running). */
  get queued(): number {
    return this.#queue.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#queue.splice(0))
      p.reject(new GatewayError('BUSY', 'the gateway is stopping'));
    await Promise.all(
      this.#slots.map(async (s) => {
        const w = s.worker;
        s.worker = null;
        s.running?.reject(new GatewayError('BUSY', 'the gateway is stopping'));
        s.running = null;
        await w?.terminate();
      })
    );
  }

  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.running) continue;
      if (!slot.worker) {
        this.#spawn(slot);
        continue;
      }
      if (!slot.ready) continue;
      const next = this.#queue.shift() as Pending;
      slot.running = next;
      slot.worker.ref();
      slot.worker.postMessage(next.job);
    }
  }

  #spawn(slot: Slot): void {
    const worker = new Worker(BOOT, { eval: true });
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (r: KdfReply | { ready: true }) => {
      if (slot.worker !== worker) return;
      if ('ready' in r) {
        slot.ready = true;
      } else if (slot.running?.job.id === r.id) {
        const p = slot.running;
        slot.running = null;
        if (r.ok) p.resolve(r.key);
        else p.reject(new GatewayError('INTERNAL', 'password hashing failed'));
      }
      this.#pump();
      // Idle workers must not keep a stopping process alive; busy ones must.
      if (!slot.running) worker.unref();
    });
    const fail = () => {
      if (slot.worker !== worker) return;
      // A dead worker fails its job (not the others) and is replaced by the next job's start.
      slot.worker = null;
      slot.ready = false;
      slot.running?.reject(new GatewayError('INTERNAL', 'password hashing failed'));
      slot.running = null;
      this.#pump();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
  }
}
