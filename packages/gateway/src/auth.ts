/**
 * Callers authenticate with an API key in `x-api-key`, compared in constant time against every
 * configured key (each comparison runs, whichever matches): neither the time nor the answer
 * says how much of a key was right, or which key it was.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayError } from './errors.ts';

// Digests have one length whatever the keys' lengths: the comparison cannot leak one.
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiKeys {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new RangeError('at least one API key is required');
    this.#digests = keys.map(digest);
  }

  /** Throws 401 UNAUTHORIZED unless `header` is one of the keys. */
  check(header: string | string[] | undefined): void {
    const given = typeof header === 'string' && header.length <= 1024 ? header : '';
    const d = digest(given);
    let ok = 0;
    for (const k of this.#digests) ok |= timingSafeEqual(d, k) ? 1 : 0;
    if (given === '' || ok === 0)
      throw new GatewayError('UNAUTHORIZED', 'the x-api-key header is missing or wrong');
  }
}
