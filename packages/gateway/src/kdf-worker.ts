/**
 * The Argon2id worker: one derivation at a time, its output transferred (not copied) back, the
 * password dropped with the message. Loaded by `kdf-pool.ts`.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { argon2id } from '@noble/hashes/argon2.js';
import type { KdfJob, KdfReply } from './kdf-pool.ts';

const port = parentPort;
if (!port) throw new Error('kdf-worker.ts runs as a worker thread');
port.on('message', (job: KdfJob) => {
  let reply: KdfReply;
  try {
    const key = argon2id(job.password.normalize('NFC'), job.salt, {
      m: job.m,
      t: job.t,
      p: job.p,
      dkLen: 32,
      // The pool's ceiling, with room for the block matrix's bookkeeping.
      maxmem: 2 * 1024 * job.m + 1024 * 1024,
    });
    reply = { id: job.id, ok: true, key };
    port.postMessage(reply, [key.buffer as ArrayBuffer]);
  } catch (e) {
    reply = { id: job.id, ok: false, error: (e as Error).name };
    port.postMessage(reply);
  }
});
port.postMessage({ ready: true });
