/**
 * Randomness. Production code draws from the platform CSPRNG (`crypto.getRandomValues` through
 * noble's `randomBytes`); tests may inject a deterministic source through the `rng` option.
 * @module
 */
import { randomBytes } from '@noble/hashes/utils.js';

/** Returns `n` random bytes. */
export type Rng = (n: number) => Uint8Array;

/** Requests up to this many bytes are served from a block drawn from the CSPRNG ahead. */
const SMALL = 256;
/** Bytes drawn at once for small requests. */
const BLOCK = 8192;

/** Drawn and not yet served: `block[at..]`. Served bytes are zeroed at once. */
let block = new Uint8Array(0);
let at = 0;

/**
 * The platform CSPRNG. Fails closed when none is available.
 *
 * Key generation asks for thousands of scalars of 48 bytes, and each call to the platform costs
 * about 5 µs whatever its size, so small requests are cut from a block of 8 KiB drawn at once.
 * Each byte is handed out once, as a copy, and zeroed in the block as it goes. Larger requests
 * go straight to the platform.
 */
export const systemRng: Rng = (n) => {
  if (!Number.isSafeInteger(n) || n < 0 || n > SMALL) return randomBytes(n);
  if (at + n > block.length) {
    block.fill(0);
    block = randomBytes(BLOCK);
    at = 0;
  }
  const out = block.slice(at, at + n);
  block.fill(0, at, at + n);
  at += n;
  return out;
};

/** The platform CSPRNG call by call, unbuffered: what the health check must see twice. */
const platformRng: Rng = (n) => randomBytes(n);

/**
 * Startup health check: two draws must differ and must not be constant. Guards against a stubbed
 * or broken `getRandomValues`, so that no key is made from it. By default the two draws are two
 * calls to the platform (not two slices of `systemRng`'s block, which would test one call).
 */
export function assertRngHealthy(rng: Rng = platformRng): void {
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
