/** Entry point of a compute worker thread (compute.ts): serves jobs until terminated. */
import { parentPort } from 'node:worker_threads';
import { serve } from './compute.ts';

if (!parentPort) throw new Error('compute-worker.ts runs only as a worker thread');
serve(parentPort);
