/**
 * @tessera/secp256k1-node — libsecp256k1 as @tessera/core's secp256k1 arithmetic backend on Node,
 * and worker threads for core's public jobs.
 *
 * The library is the system's libsecp256k1, 0.2.0 or later (Debian and Ubuntu:
 * `libsecp256k1-dev`), reached through this package's own N-API addon (native/addon.c), built at
 * install. Not the `secp256k1` npm package: it vendors a 2019 snapshot whose `ecmult_const`
 * branches on the secret scalar (valgrind shows it; the timing bench measured it), and its main
 * entry silently falls back to `elliptic`.
 *
 * Only entry points that are constant time in the scalar see a secret (file:line in
 * libsecp256k1 v0.2.0):
 * - `mulBase` → `secp256k1_ec_pubkey_create` (src/secp256k1.c:571), whose helper calls
 *   `secp256k1_ecmult_gen` (src/secp256k1.c:566), blinded by a context randomised at load;
 * - `mulPoint` → `secp256k1_ecdh` (src/modules/ecdh/main_impl.h:29), which calls
 *   `secp256k1_ecmult_const` (main_impl.h:53); the addon's hash function copies the shared point
 *   out unhashed, so results are noble's bytes;
 * - `decode` → `secp256k1_ec_pubkey_parse` (src/secp256k1.c:248) and `_serialize` (:266) on
 *   public bytes.
 *
 * `secp256k1_ec_pubkey_tweak_mul` (src/secp256k1.c:703) multiplies with the variable-time
 * `secp256k1_ecmult` (src/eckey_impl.h:91); the addon does not expose it.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nobleSecp256k1, type Secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import { BackendUnavailable, loadLibsecp256k1WasmSync } from '@tessera/secp256k1-wasm';

export { BackendUnavailable } from '@tessera/secp256k1-wasm';
export { type CoreWorkerOptions, type NodeCoreWorkers, startCoreWorkers } from './core-workers.ts';

/** What to do about an addon that is missing or broken. */
const ADDON_HINTS = [
  'reinstall with build tools present (python3, make, a C++ compiler) so npm can compile the secp256k1 addon',
  'or choose another backend explicitly: TESSERA_SECP256K1=libsecp256k1-wasm (the same library in WebAssembly) or noble',
];

/** The addon (native/addon.c): each call returns whether libsecp256k1 accepted its input. */
interface Addon {
  randomize(seed: Uint8Array): boolean;
  mulBase(s: Uint8Array, out: Uint8Array): boolean;
  mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): boolean;
  decode(b: Uint8Array, out: Uint8Array): boolean;
}

/** Where the install step leaves the addon. */
const ADDON = new URL('../build/Release/tessera_secp256k1.node', import.meta.url);

/** Whether the install step built the addon (libsecp256k1 and a compiler were there). */
export function libsecp256k1Built(): boolean {
  return existsSync(ADDON);
}

function loadAddon(): Addon {
  if (!libsecp256k1Built())
    throw new BackendUnavailable(
      'the libsecp256k1 addon was not built at install: install libsecp256k1 0.2.0 or later (apt install libsecp256k1-dev) and run `npm rebuild @tessera/secp256k1-node`',
      undefined,
      ADDON_HINTS
    );
  try {
    return createRequire(import.meta.url)(ADDON.pathname) as Addon;
  } catch (e) {
    throw new BackendUnavailable(
      `the libsecp256k1 addon did not load on ${process.platform}-${process.arch}, Node ${process.versions.node}`,
      e,
      ADDON_HINTS
    );
  }
}

/**
 * Loads the addon and returns it as a backend (not yet installed: see `useSecp256k1Backend` or
 * `installSecp256k1Backend`). Randomises the thread's library context from the platform CSPRNG.
 *
 * @throws BackendUnavailable if the addon is missing or does not load. There is no fallback.
 */
export function loadLibsecp256k1(): Secp256k1Backend {
  const addon = loadAddon();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const randomised = addon.randomize(seed);
  seed.fill(0);
  if (!randomised)
    throw new BackendUnavailable(
      'libsecp256k1: context randomisation failed',
      undefined,
      ADDON_HINTS
    );
  const refused = (what: string): never => {
    // Inputs are in range by the contract, so a refusal means a broken library or a caller bug.
    throw new BackendUnavailable(`libsecp256k1: ${what} refused its input`);
  };
  return Object.freeze({
    name: 'libsecp256k1-node',
    mulBase(s: Uint8Array, out: Uint8Array): void {
      if (!addon.mulBase(s, out)) refused('secp256k1_ec_pubkey_create');
    },
    mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): void {
      if (!addon.mulPoint(p, s, out)) refused('secp256k1_ecdh');
    },
    decode(b: Uint8Array, out: Uint8Array): boolean {
      // The library also parses uncompressed and hybrid forms; the contract is compressed only.
      if (b.length !== 33 || (b[0] !== 0x02 && b[0] !== 0x03)) return false;
      return addon.decode(b, out);
    },
  });
}

/**
 * Backend names `TESSERA_SECP256K1` accepts. `auto` (the default) is libsecp256k1 through the
 * addon if it was built, else the same library in WebAssembly (`@tessera/secp256k1-wasm`).
 */
export const SECP256K1_BACKENDS = ['auto', 'libsecp256k1', 'libsecp256k1-wasm', 'noble'] as const;
export type Secp256k1BackendName = (typeof SECP256K1_BACKENDS)[number];

/** What `installSecp256k1Backend` installed, and why, for the process's startup log. */
export interface InstalledBackend {
  backend: 'libsecp256k1' | 'libsecp256k1-wasm' | 'noble';
  /** Set when `auto` could not take the addon: it was not built at install. */
  warning?: string;
}

/**
 * Installs the backend a Node process (or worker thread) uses: `choice`, else the
 * `TESSERA_SECP256K1` environment variable, else `auto`. `auto` is libsecp256k1 through the addon
 * when it was built at install, and the same library in WebAssembly (with a warning to log) when
 * it was not. An addon that was built but does not load, or an explicit `libsecp256k1` without
 * one, throws: nothing falls back silently, and nothing falls back to noble unasked.
 *
 * @throws BackendUnavailable if the backend required does not load, or the name is unknown.
 */
export function installSecp256k1Backend(
  choice: string | undefined = process.env.TESSERA_SECP256K1
): InstalledBackend {
  const name = choice === undefined || choice === '' ? 'auto' : choice;
  if (!(SECP256K1_BACKENDS as readonly string[]).includes(name))
    throw new BackendUnavailable(
      `TESSERA_SECP256K1 must be one of ${SECP256K1_BACKENDS.join(', ')}: got ${JSON.stringify(name)}`,
      undefined,
      ADDON_HINTS
    );
  if (name === 'noble') {
    useSecp256k1Backend(nobleSecp256k1);
    return { backend: 'noble' };
  }
  if (name === 'libsecp256k1-wasm' || (name === 'auto' && !libsecp256k1Built())) {
    useSecp256k1Backend(loadLibsecp256k1WasmSync());
    return name === 'auto'
      ? {
          backend: 'libsecp256k1-wasm',
          warning:
            'libsecp256k1 addon not built at install: ECDSA runs on libsecp256k1 compiled to WebAssembly, about twice as slow as the addon (apt install libsecp256k1-dev, then npm rebuild @tessera/secp256k1-node; TESSERA_SECP256K1=libsecp256k1-wasm silences this)',
        }
      : { backend: 'libsecp256k1-wasm' };
  }
  useSecp256k1Backend(loadLibsecp256k1());
  return { backend: 'libsecp256k1' };
}
