/**
 * Randomness. Production code draws from the platform CSPRNG (`crypto.getRandomValues` through
 * noble's `randomBytes`); tests may inject a deterministic source through the `rng` option.
 * @module
 */
import { randomBytes } from '@noble/hashes/utils.js';

/** Returns `n` random bytes. */
export type Rng = (n: number) => Uint8Array;

/** The platform CSPRNG. Fails closed when none is available. */
export const systemRng: Rng = (n) => randomBytes(n);

/**
 * Startup health check: two draws must differ and must not be constant. Guards against a stubbed
 * or broken `getRandomValues`, so that no key is made from it.
 */
export function assertRngHealthy(rng: Rng = systemRng): void {
  const a = rng(32);
  const b = rng(32);
  let same = true;
  let constant = true;
  for (let i = 0; i < 32; i++) {
    if (a[i] !== b[i]) same = false;
    if (a[i] !== a[0]) constant = false;
  }
  if (same || constant) throw new Error('INSECURE_RNG: the random source returned repeated output');
}
