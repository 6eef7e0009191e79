/**
 * Preload (`node --import`) that installs libsecp256k1 and a core worker thread before a test
 * file runs, so that core's own tests run on both unchanged (backend.test.ts). Announces itself
 * on stderr for that test to see.
 */
import { secp256k1Backend, useCoreWorkers } from '@tessera/core';
import { installSecp256k1Backend, startCoreWorkers } from '@tessera/secp256k1-node';

installSecp256k1Backend('libsecp256k1');
// Unreferenced threads: the test process exits when its tests are done.
const pool = await startCoreWorkers({ threads: 1 });
useCoreWorkers(pool);
process.stderr.write(`secp256k1 backend: ${secp256k1Backend().name}, core workers: ${pool.size}\n`);
