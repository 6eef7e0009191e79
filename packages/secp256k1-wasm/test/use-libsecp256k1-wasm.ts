/**
 * Preload (`node --import`) that installs libsecp256k1 in WebAssembly before a test file runs, so
 * that core's own tests run on it unchanged (backend.test.ts). Announces itself on stderr.
 */
import { secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import { loadLibsecp256k1Wasm } from '@tessera/secp256k1-wasm';

useSecp256k1Backend(await loadLibsecp256k1Wasm());
process.stderr.write(`secp256k1 backend: ${secp256k1Backend().name}\n`);
