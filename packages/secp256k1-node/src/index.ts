/**
 * @tessera/secp256k1-node — libsecp256k1 as @tessera/core's secp256k1 arithmetic backend on Node.
 *
 * The library is Bitcoin Core's libsecp256k1 as built by the `secp256k1` npm package (5.0.2: a
 * prebuilt N-API addon for common platforms, compiled at install elsewhere). Only its addon is
 * loaded, never the package's main entry, which silently falls back to `elliptic` (not constant
 * time) when the addon is missing; if the addon does not load, `loadLibsecp256k1` throws.
 *
 * Only entry points that are constant time in the scalar see a secret (file and line in the
 * library as vendored in secp256k1@5.0.2, `src/secp256k1/`):
 * - `mulBase` → `secp256k1_ec_pubkey_create` (src/secp256k1.c:508), which calls
 *   `secp256k1_ecmult_gen` (src/secp256k1.c:523): a fixed-base comb over the whole scalar, with
 *   the context's blinding, randomised at load;
 * - `mulPoint` → `secp256k1_ecdh` (src/modules/ecdh/main_impl.h:29), which calls
 *   `secp256k1_ecmult_const` (main_impl.h:51); its hash callback copies the shared point out
 *   unhashed, so results are noble's bytes.
 * - `decode` → `secp256k1_ec_pubkey_parse` and `_serialize` (through `publicKeyConvert`) on
 *   public bytes.
 *
 * `secp256k1_ec_pubkey_tweak_mul` (`publicKeyTweakMul`, src/secp256k1.c:628) multiplies with the
 * variable-time `secp256k1_ecmult` (src/eckey_impl.h:95) and is never called here.
 * @module
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { nobleSecp256k1, type Secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import { BackendUnavailable } from './errors.ts';

export { type CoreWorkerOptions, type NodeCoreWorkers, startCoreWorkers } from './core-workers.ts';
export { BackendUnavailable } from './errors.ts';

/** The subset of the addon's `Secp256k1Addon` class used here (return 0 means success). */
interface Addon {
  contextRandomize(seed: Uint8Array): number;
  publicKeyCreate(out: Uint8Array, seckey: Uint8Array): number;
  publicKeyConvert(out: Uint8Array, pubkey: Uint8Array): number;
  ecdh(
    out: Uint8Array,
    pubkey: Uint8Array,
    seckey: Uint8Array,
    data: undefined,
    hashfn: () => Uint8Array,
    xbuf: Uint8Array,
    ybuf: Uint8Array
  ): number;
}

function loadAddon(): Addon {
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('secp256k1/package.json'));
    const gypBuild = require('node-gyp-build') as (dir: string) => { Secp256k1: new () => Addon };
    return new (gypBuild(dir).Secp256k1)();
  } catch (e) {
    throw new BackendUnavailable(
      `libsecp256k1's native addon (npm package secp256k1) did not load on ${process.platform}-${process.arch}, Node ${process.versions.node}`,
      e
    );
  }
}

/**
 * Loads libsecp256k1's addon and returns it as a backend (not yet installed: see
 * `installSecp256k1Backend`). Each call makes its own library context, with blinding randomised
 * from the platform CSPRNG.
 *
 * @throws BackendUnavailable if the addon cannot be loaded. There is no fallback.
 */
export function loadLibsecp256k1(): Secp256k1Backend {
  const addon = loadAddon();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const randomised = addon.contextRandomize(seed);
  seed.fill(0);
  if (randomised !== 0) throw new BackendUnavailable('libsecp256k1: context randomisation failed');
  const x = new Uint8Array(32);
  const y = new Uint8Array(32);
  const none = new Uint8Array(0);
  const keepPoint = () => none;
  const failed = (what: string): never => {
    // Inputs are in range by the contract, so a refusal means a broken library or a caller bug.
    throw new BackendUnavailable(`libsecp256k1: ${what} refused its input`);
  };
  return Object.freeze({
    name: 'libsecp256k1-node',
    mulBase(s: Uint8Array, out: Uint8Array): void {
      if (addon.publicKeyCreate(out, s) !== 0) failed('secp256k1_ec_pubkey_create');
    },
    mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): void {
      if (addon.ecdh(none, p, s, undefined, keepPoint, x, y) !== 0) failed('secp256k1_ecdh');
      out[0] = 0x04;
      out.set(x, 1);
      out.set(y, 33);
      x.fill(0);
      y.fill(0);
    },
    decode(b: Uint8Array, out: Uint8Array): boolean {
      // The library also parses uncompressed and hybrid forms; the contract is compressed only.
      if (b.length !== 33 || (b[0] !== 0x02 && b[0] !== 0x03)) return false;
      return addon.publicKeyConvert(out, b) === 0;
    },
  });
}

/** Backend names `TESSERA_SECP256K1` accepts. */
export const SECP256K1_BACKENDS = ['libsecp256k1', 'noble'] as const;
export type Secp256k1BackendName = (typeof SECP256K1_BACKENDS)[number];

/**
 * Installs the backend a Node process (or worker thread) should use: `choice`, else the
 * `TESSERA_SECP256K1` environment variable, else libsecp256k1. An unknown name or an addon that
 * does not load throws; nothing falls back silently.
 *
 * @returns the name of the installed backend, for the process's startup log.
 * @throws BackendUnavailable if libsecp256k1 is chosen and does not load, or the name is unknown.
 */
export function installSecp256k1Backend(
  choice: string | undefined = process.env.TESSERA_SECP256K1
): Secp256k1BackendName {
  const name = choice === undefined || choice === '' ? 'libsecp256k1' : choice;
  if (name === 'noble') {
    useSecp256k1Backend(nobleSecp256k1);
    return 'noble';
  }
  if (name !== 'libsecp256k1')
    throw new BackendUnavailable(
      `TESSERA_SECP256K1 must be one of ${SECP256K1_BACKENDS.join(', ')}: got ${JSON.stringify(name)}`
    );
  useSecp256k1Backend(loadLibsecp256k1());
  return 'libsecp256k1';
}
