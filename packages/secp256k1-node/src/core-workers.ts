/**
 * A pool of worker threads for core's jobs (`CoreWorkers`): the hashes to the curve of DKLs23's
 * base OTs, which are public and independent, spread over the machine's cores.
 *
 * Core's protocols are synchronous, so the calling thread posts the other threads their parts,
 * computes its own, then blocks (`Atomics.wait`) until each thread raises its flag, and takes the
 * answer with `receiveMessageOnPort`. Threads start before they are needed (`startCoreWorkers`
 * resolves once every thread has loaded), because a cold start costs more than it saves.
 * @module
 */
import { availableParallelism } from 'node:os';
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import type { CoreJob, CoreWorkers } from '@tessera/core';
import { BackendUnavailable } from '@tessera/secp256k1-wasm';
import type { Secp256k1BackendName } from './index.ts';

/** Options of `startCoreWorkers`. */
export interface CoreWorkerOptions {
  /** Threads besides the caller's (default: the machine's cores less one, at least one). */
  threads?: number;
  /** How long a job may take before the caller gives up (default 60 s). */
  timeoutMs?: number;
  /**
   * The secp256k1 backend of the threads, as `installSecp256k1Backend` takes it (default: the
   * process's `TESSERA_SECP256K1`, `auto` when unset: libsecp256k1 when its addon was built).
   * Their jobs see public inputs only and give the same bytes on every backend, so this is a
   * matter of speed: the hash to the curve takes its square roots from libsecp256k1 when it can.
   */
  backend?: Secp256k1BackendName;
}

/** A started pool: install it with `useCoreWorkers(pool)`, and `close` it when done. */
export interface NodeCoreWorkers extends CoreWorkers {
  close(): Promise<void>;
}

const ENTRY = import.meta.resolve(
  import.meta.url.endsWith('.ts') ? './core-worker.ts' : './core-worker.js'
);

/** As the server's compute pool: sources run through tsx, which Node 20 workers do not inherit. */
const boot = (entry: string) =>
  entry.endsWith('.ts')
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`
    : `import(${JSON.stringify(entry)});`;

interface Thread {
  worker: Worker;
  port: MessagePort;
}

/**
 * Starts the threads and resolves when all of them are ready.
 *
 * @throws BackendUnavailable if a thread fails to start.
 */
export async function startCoreWorkers(opts: CoreWorkerOptions = {}): Promise<NodeCoreWorkers> {
  const size = opts.threads ?? Math.max(1, availableParallelism() - 1);
  if (!Number.isInteger(size) || size < 1 || size > 64)
    throw new RangeError('threads must be an integer from 1 to 64');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const flags = new Int32Array(new SharedArrayBuffer(4 * size));
  const threads: Thread[] = [];
  const ready: Promise<void>[] = [];
  for (let index = 0; index < size; index++) {
    const worker = new Worker(boot(ENTRY), { eval: true });
    const { port1, port2 } = new MessageChannel();
    // Never listened to: answers are taken synchronously with receiveMessageOnPort.
    port1.unref();
    threads.push({ worker, port: port1 });
    ready.push(
      new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`core worker exited with code ${code}`)));
      })
    );
    worker.postMessage({ port: port2, flags, index, backend: opts.backend }, [port2]);
  }
  const close = async () => {
    await Promise.all(threads.map((t) => t.worker.terminate()));
  };
  try {
    await Promise.all(ready);
  } catch (e) {
    await close();
    throw new BackendUnavailable('core worker threads did not start', e);
  }
  // A thread that dies later shows as a timeout on the caller's next wait.
  for (const t of threads) {
    t.worker.removeAllListeners('exit');
    t.worker.removeAllListeners('error');
    t.worker.on('error', () => {});
    t.worker.unref();
  }
  let busy = false;
  // After a failed wait, answers may still be queued: the pool is not used again.
  let broken: Error | null = null;
  return {
    size,
    close,
    post(job: CoreJob, inputs: Uint8Array[]): () => Uint8Array[] {
      if (inputs.length > size) throw new RangeError(`at most ${size} inputs per post`);
      // One post at a time: the protocols that post are synchronous, so a second is a bug.
      if (busy) throw new Error('core workers: a post is already waiting');
      if (broken)
        throw new BackendUnavailable('core workers failed earlier; start a new pool', broken);
      busy = true;
      const used = threads.slice(0, inputs.length);
      used.forEach((t, i) => {
        Atomics.store(flags, i, 0);
        t.port.postMessage({ job, input: inputs[i] });
      });
      return () => {
        try {
          return used.map((t, i) => {
            if (Atomics.wait(flags, i, 0, timeoutMs) === 'timed-out')
              throw new BackendUnavailable(
                `core worker ${i} did not answer within ${timeoutMs} ms`
              );
            const got = receiveMessageOnPort(t.port)?.message as
              | { output: Uint8Array; error?: undefined }
              | { error: string }
              | undefined;
            if (!got)
              throw new BackendUnavailable(`core worker ${i} raised its flag without an answer`);
            if (got.error !== undefined)
              throw new BackendUnavailable(`core worker ${i}: ${got.error}`);
            return got.output;
          });
        } catch (e) {
          broken = e as Error;
          throw e;
        } finally {
          busy = false;
        }
      };
    },
  };
}
