/**
 * libsecp256k1 in WebAssembly as core's secp256k1 backend: the module is the committed build of
 * its sources and exposes nothing but the four calls; byte-identical to @noble/curves on random
 * inputs for every operation; core's whole ECDSA suite passes with it installed. The web wallet's
 * tests run it in Chromium.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { nobleSecp256k1, secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import {
  BackendUnavailable,
  loadLibsecp256k1Wasm,
  loadLibsecp256k1WasmSync,
  WASM_SHA256,
} from '@tessera/secp256k1-wasm';
import {
  describeSameAsNoble,
  runCoreEcdsaSuiteWith,
} from '../../core/test/fixtures/secp256k1-backend-suite.ts';
import { WASM_BASE64 } from '../src/libsecp256k1.wasm.ts';

const lib = await loadLibsecp256k1Wasm();
const Point = secp256k1.Point;

test('@tessera/secp256k1-wasm exports', async () => {
  assert.deepEqual(Object.keys(await import('@tessera/secp256k1-wasm')).sort(), [
    'BackendUnavailable',
    'WASM_SHA256',
    'loadLibsecp256k1Wasm',
    'loadLibsecp256k1WasmSync',
  ]);
});

test('the module: its stated digest, no imports, only the four calls exported', () => {
  const bytes = Buffer.from(WASM_BASE64, 'base64');
  assert.equal(createHash('sha256').update(bytes).digest('hex'), WASM_SHA256);
  // @types/node declares WebAssembly's types but not its values.
  const { Module } = (
    globalThis as unknown as {
      WebAssembly: {
        Module: {
          new (b: Uint8Array): object;
          imports(m: object): unknown[];
          exports(m: object): { name: string }[];
        };
      };
    }
  ).WebAssembly;
  const mod = new Module(bytes);
  assert.deepEqual(Module.imports(mod), []);
  assert.deepEqual(
    Module.exports(mod)
      .map((e) => e.name)
      .sort(),
    ['decode', 'init', 'io', 'memory', 'mul_base', 'mul_point', 'randomize']
  );
});

test('both loaders give a backend that core installs (its self-test against noble passes)', () => {
  for (const backend of [lib, loadLibsecp256k1WasmSync()]) {
    assert.equal(backend.name, 'libsecp256k1-wasm');
    useSecp256k1Backend(backend);
    assert.equal(secp256k1Backend(), backend);
    useSecp256k1Backend(nobleSecp256k1);
  }
});

test('a scalar outside 1..n-1 is refused loudly, and the module keeps working after', () => {
  const out = new Uint8Array(65);
  const P = Point.BASE.multiply(7n).toBytes(false);
  for (const bad of [new Uint8Array(32), Point.Fn.toBytes(Point.Fn.ORDER - 1n).fill(0xff)]) {
    assert.throws(() => lib.mulBase(bad, out), BackendUnavailable);
    assert.throws(() => lib.mulPoint(P, bad, out), BackendUnavailable);
  }
  assert.throws(() => lib.mulBase(new Uint8Array(31), out), BackendUnavailable);
  lib.mulBase(Point.Fn.toBytes(2n), out);
  assert.deepEqual(out, Point.BASE.double().toBytes(false));
});

describeSameAsNoble(() => lib, { skip: false });

test('core ECDSA suite with libsecp256k1 in WebAssembly installed (vectors, frozen transcripts, adversarial, properties)', () =>
  runCoreEcdsaSuiteWith(
    new URL('./use-libsecp256k1-wasm.ts', import.meta.url),
    'secp256k1 backend: libsecp256k1-wasm'
  ));
