/**
 * Entry point of a core worker thread (core-workers.ts): installs the pool's secp256k1 backend,
 * then runs core's jobs as they arrive on its port and raises its flag after each answer, for the
 * blocked caller to wake.
 */
import { type MessagePort, parentPort } from 'node:worker_threads';
import { type CoreJob, runCoreJob } from '@tessera/core';
import { installSecp256k1Backend, type Secp256k1BackendName } from './index.ts';

if (!parentPort) throw new Error('core-worker.ts runs only as a worker thread');

interface Setup {
  port: MessagePort;
  flags: Int32Array;
  index: number;
  /** Undefined: the process's TESSERA_SECP256K1, which the thread inherits. */
  backend: Secp256k1BackendName | undefined;
}

parentPort.once('message', ({ port, flags, index, backend }: Setup) => {
  // Throws (the thread fails to start) if the chosen backend does not load.
  installSecp256k1Backend(backend);
  port.on('message', ({ job, input }: { job: CoreJob; input: Uint8Array }) => {
    try {
      const output = runCoreJob(job, input);
      port.postMessage({ output }, [output.buffer as ArrayBuffer]);
    } catch (e) {
      // Only the message: jobs see public inputs, and nothing else of the error is needed.
      port.postMessage({ error: e instanceof Error ? e.message : String(e) });
    }
    Atomics.store(flags, index, 1);
    Atomics.notify(flags, index);
  });
  parentPort?.postMessage('ready');
});
