/**
 * The secp256k1 arithmetic backend: the few point operations on secret scalars that a faster
 * library may take over from `@noble/curves` (docs/protocols/ecdsa.md, "How the base OT
 * computes").
 *
 * DKLs23 key generation is dominated by its base OTs, which multiply points by secret scalars
 * thousands of times; noble's constant-time multiply is the reference and the default, and a
 * backend such as libsecp256k1 (`@tessera/secp256k1-node`) can be installed once per process (and
 * per worker thread) with `useSecp256k1Backend`. Core only computes: loading a native module is
 * the installer's business, so core stays free of I/O.
 *
 * The contract every backend keeps, checked on installation against noble and by each backend's
 * tests on random inputs:
 * - results are byte-identical to noble's;
 * - `mulBase` and `mulPoint` are constant time in the scalar (libsecp256k1's `ecmult_gen` and
 *   `ecmult_const`; never its variable-time `ecmult`, which backs `pubkey_tweak_mul`);
 * - `decode` sees public bytes only.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE } from '@noble/curves/utils.js';
import { InputError } from '../errors.ts';
import { systemRng } from '../rng.ts';

/** Bytes of an uncompressed SEC1 point `04 ‖ x ‖ y`. */
export const UNCOMPRESSED = 65;

/** A provider of secp256k1 point multiplication by secret scalars. Every method is synchronous. */
export interface Secp256k1Backend {
  /** Short name for logs and benchmarks, e.g. `noble` or `libsecp256k1-node`. */
  readonly name: string;
  /**
   * `s·G` written to `out` as 65-byte uncompressed SEC1. `s` is a 32-byte big-endian secret with
   * `0 < s < n`. Constant time in `s`.
   */
  mulBase(s: Uint8Array, out: Uint8Array): void;
  /**
   * `s·P` written to `out` as 65-byte uncompressed SEC1. `p` is the 65-byte uncompressed encoding
   * of a valid point (never the identity); `s` a 32-byte big-endian secret with `0 < s < n`.
   * Constant time in `s`. The result may be a secret (a Diffie–Hellman value): callers wipe `out`.
   */
  mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): void;
  /**
   * Decodes public SEC1 bytes (33-byte compressed) to the 65-byte uncompressed form in `out`;
   * false if they are not a point of the curve with `x < p`. Public inputs only.
   */
  decode(b: Uint8Array, out: Uint8Array): boolean;
}

const Point = secp256k1.Point;

/** `@noble/curves`: the reference, and the default wherever nothing faster is installed. */
export const nobleSecp256k1: Secp256k1Backend = Object.freeze({
  name: 'noble',
  mulBase(s: Uint8Array, out: Uint8Array): void {
    out.set(Point.BASE.multiply(bytesToNumberBE(s)).toBytes(false));
  },
  mulPoint(p: Uint8Array, s: Uint8Array, out: Uint8Array): void {
    out.set(Point.fromBytes(p).multiply(bytesToNumberBE(s)).toBytes(false));
  },
  decode(b: Uint8Array, out: Uint8Array): boolean {
    if (b.length !== 33 || (b[0] !== 0x02 && b[0] !== 0x03)) return false;
    try {
      const P = Point.fromBytes(b);
      P.assertValidity();
      out.set(P.toBytes(false));
      return true;
    } catch {
      return false;
    }
  },
});

let active: Secp256k1Backend = nobleSecp256k1;

/** The backend in use in this thread. */
export function secp256k1Backend(): Secp256k1Backend {
  return active;
}

/** Whether anything other than noble is installed (callers keep noble's own fast paths if not). */
export function secp256k1BackendIsNoble(): boolean {
  return active === nobleSecp256k1;
}

/** Random inputs for the installation self-test (public: the check reveals nothing). */
function selfTestScalars(): Uint8Array[] {
  const n = Point.Fn.ORDER;
  const fixed = [1n, 2n, n - 1n, n - 2n, 0xdeadbeefn, (1n << 255n) + 12345n];
  const random = Array.from({ length: 6 }, () => {
    const r = bytesToNumberBE(systemRng(40)) % (n - 1n);
    return r + 1n;
  });
  return [...fixed, ...random].map((s) => Point.Fn.toBytes(s));
}

/**
 * Installs `backend` for this thread after checking it against noble on fixed and random inputs
 * (each method, including the encodings `decode` must refuse). Pass `nobleSecp256k1` to go back.
 *
 * @throws InputError if the backend's results differ from noble's (nothing is installed then).
 */
export function useSecp256k1Backend(backend: Secp256k1Backend): void {
  if (backend !== nobleSecp256k1) checkAgainstNoble(backend);
  active = backend;
}

function checkAgainstNoble(backend: Secp256k1Backend): void {
  const fail = (what: string): never => {
    throw new InputError(
      `secp256k1 backend ${JSON.stringify(backend.name)} differs from @noble/curves in ${what}`
    );
  };
  const got = new Uint8Array(UNCOMPRESSED);
  const want = new Uint8Array(UNCOMPRESSED);
  const scalars = selfTestScalars();
  const P = Point.BASE.multiply(0x7e55e7an).toBytes(false);
  for (const s of scalars) {
    backend.mulBase(s, got);
    nobleSecp256k1.mulBase(s, want);
    if (!bytesEqual(got, want)) fail('mulBase');
    backend.mulPoint(P, s, got);
    nobleSecp256k1.mulPoint(P, s, want);
    if (!bytesEqual(got, want)) fail('mulPoint');
    const c = Point.fromBytes(want).toBytes(true);
    if (!backend.decode(c, got) || !bytesEqual(got, want)) fail('decode');
  }
  // x = p (not canonical), x with no point on the curve (x = 5: 132 is not a square mod p), bad
  // prefix: each must be refused.
  const p = Point.Fp.ORDER;
  const refused = [
    Uint8Array.of(0x02, ...Point.Fp.toBytes(p - 1n).map((b, i) => (i === 31 ? b + 1 : b))),
    Uint8Array.of(0x02, ...Point.Fp.toBytes(5n)),
    Uint8Array.of(0x05, ...Point.Fp.toBytes(1n)),
  ];
  for (const b of refused) if (backend.decode(b, got)) fail('decode of an invalid encoding');
}

/** Not constant time: the self-test compares public values only. */
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
