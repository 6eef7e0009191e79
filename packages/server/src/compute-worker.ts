/** Entry point of a compute worker thread (compute.ts): serves jobs until terminated. */
import { parentPort } from 'node:worker_threads';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';
import { serve } from './compute.ts';

if (!parentPort) throw new Error('compute-worker.ts runs only as a worker thread');
// Each thread installs its own backend (the server's main thread checked the same choice first).
installSecp256k1Backend();
serve(parentPort);
