/** Reading a service's configuration from the environment. @module */

/**
 * The integer in `env[name]` (decimal digits only, within `min..max`), or `fallback` when unset
 * or empty; anything else throws what `invalid` makes of the message.
 */
export function envInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  o: { fallback: number; min: number; max: number; invalid: (message: string) => Error }
): number {
  const v = env[name];
  if (v === undefined || v === '') return o.fallback;
  const n = Number(v);
  if (!/^\d{1,10}$/.test(v) || n < o.min || n > o.max)
    throw o.invalid(`${name} must be an integer in ${o.min}..${o.max}`);
  return n;
}
