/**
 * @tessera/secp256k1-wasm — libsecp256k1 compiled to WebAssembly as @tessera/core's secp256k1
 * arithmetic backend, for browsers (the web wallet's worker) and for Node where the native addon
 * of @tessera/secp256k1-node was not built.
 *
 * The module is libsecp256k1 v0.2.0, built reproducibly from Debian's source package by
 * native/build.sh (CI rebuilds it and compares the bytes), with a small glue file
 * (native/glue.c). It imports nothing. Only entry points that are constant time in the scalar
 * see a secret (file:line in libsecp256k1 v0.2.0):
 * - `mulBase` → `secp256k1_ec_pubkey_create` (src/secp256k1.c:571), whose helper calls
 *   `secp256k1_ecmult_gen` (src/secp256k1.c:566), blinded by a context randomised at load;
 * - `mulPoint` → `secp256k1_ecdh` (src/modules/ecdh/main_impl.h:29), which calls
 *   `secp256k1_ecmult_const` (main_impl.h:53);
 * - `decode` → `secp256k1_ec_pubkey_parse` (src/secp256k1.c:248) on public bytes.
 *
 * The variable-time `secp256k1_ec_pubkey_tweak_mul` (src/secp256k1.c:703) is never called and
 * is not in the module.
 * @module
 */
import { randomBytes } from '@noble/hashes/utils.js';
import type { Secp256k1Backend } from '@tessera/core';
import { BackendUnavailable } from './errors.ts';
import { WASM_BASE64, WASM_SHA256 } from './libsecp256k1.wasm.ts';

export { BackendUnavailable } from './errors.ts';
export { WASM_SHA256 };

/** What the module exports (native/glue.c): each call returns 1 when the library accepted. */
interface ModuleExports {
  memory: { readonly buffer: ArrayBuffer };
  io(): number;
  init(): number;
  randomize(): number;
  mul_base(): number;
  mul_point(): number;
  decode(): number;
}

/** Offsets in the module's I/O area (native/glue.c). */
const IO_SCALAR = 0;
const IO_POINT_IN = 32;
const IO_POINT_OUT = 97;
const IO_SIZE = 162;

/**
 * The platform's WebAssembly and base64, the same in browsers and Node: typed here because the
 * package compiles against ES2022 alone (no DOM library), so that nothing else slips in.
 */
interface Instance {
  readonly exports: unknown;
}
const platform = globalThis as unknown as {
  atob(data: string): string;
  WebAssembly: {
    instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: Instance }>;
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: object) => Instance;
  };
};

const HINTS = [
  'a Content-Security-Policy must allow WebAssembly (script-src ... wasm-unsafe-eval)',
  'or choose the pure-JS backend: @noble/curves, the default when nothing is installed',
];

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const raw = platform.atob(WASM_BASE64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/**
 * Compiles and instantiates the module and returns it as a backend (not yet installed: see
 * core's `useSecp256k1Backend`). The library context is randomised from the platform CSPRNG.
 *
 * @throws BackendUnavailable if WebAssembly is unavailable or refused. There is no fallback.
 */
export async function loadLibsecp256k1Wasm(): Promise<Secp256k1Backend> {
  let instance: Instance;
  try {
    instance = (await platform.WebAssembly.instantiate(moduleBytes(), {})).instance;
  } catch (e) {
    throw new BackendUnavailable('libsecp256k1 (WebAssembly) did not compile', e, HINTS);
  }
  return backendOf(instance);
}

/**
 * As `loadLibsecp256k1Wasm`, compiling synchronously: for Node and for Web Workers (a browser's
 * main thread refuses to compile a module this large synchronously).
 *
 * @throws BackendUnavailable if WebAssembly is unavailable or refused.
 */
export function loadLibsecp256k1WasmSync(): Secp256k1Backend {
  let instance: Instance;
  try {
    instance = new platform.WebAssembly.Instance(
      new platform.WebAssembly.Module(moduleBytes()),
      {}
    );
  } catch (e) {
    throw new BackendUnavailable('libsecp256k1 (WebAssembly) did not compile', e, HINTS);
  }
  return backendOf(instance);
}

function backendOf(instance: Instance): Secp256k1Backend {
  const m = instance.exports as unknown as ModuleExports;
  if (m.init() !== 1) throw new BackendUnavailable('libsecp256k1 (WebAssembly): no context');
  // The module allocates only in init(), so its memory never grows and this view stays valid.
  const io = new Uint8Array(m.memory.buffer, m.io(), IO_SIZE);
  const seed = randomBytes(32);
  io.set(seed, IO_SCALAR);
  seed.fill(0);
  if (m.randomize() !== 1)
    throw new BackendUnavailable('libsecp256k1 (WebAssembly): context randomisation failed');
  const refused = (what: string): never => {
    // Inputs are in range by the contract, so a refusal means a broken module or a caller bug.
    throw new BackendUnavailable(`libsecp256k1 (WebAssembly): ${what} refused its input`);
  };
  const out65 = (out: Uint8Array) => {
    out.set(io.subarray(IO_POINT_OUT, IO_SIZE));
    io.fill(0, IO_POINT_OUT, IO_SIZE);
  };
  return Object.freeze({
    name: 'libsecp256k1-wasm',
    mulBase(s: Uint8Array, out: Uint8Array): void {
      if (s.length !== 32 || out.length !== 65) refused('mulBase');
      io.set(s, IO_SCALAR);
      // The module wipes the scalar from its I/O area; the result is wiped once copied.
      if (m.mul_base() !== 1) refused('secp256k1_ec_pubkey_create');
      out65(out);
    },
    mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): void {
      if (p.length !== 65 || s.length !== 32 || out.length !== 65) refused('mulPoint');
      io.set(p, IO_POINT_IN);
      io.set(s, IO_SCALAR);
      if (m.mul_point() !== 1) refused('secp256k1_ecdh');
      out65(out);
    },
    decode(b: Uint8Array, out: Uint8Array): boolean {
      // The library also parses uncompressed and hybrid forms; the contract is compressed only.
      if (b.length !== 33 || (b[0] !== 0x02 && b[0] !== 0x03) || out.length !== 65) return false;
      io.set(b, IO_POINT_IN);
      if (m.decode() !== 1) return false;
      out65(out);
      return true;
    },
  });
}
