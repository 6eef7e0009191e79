/**
 * Option parsers: bad values fail while the command line is parsed (exit 2), before anything is
 * sent to a server or written to disk.
 * @module
 */
import { InvalidArgumentError } from 'commander';

export function portArg(value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n > 65535) throw new InvalidArgumentError('a port is 0..65535');
  return n;
}

export function positiveIntArg(value: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value)) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** Hex bytes (even length), lower-cased; `bytes` pins the length. */
export function hexArg(bytes?: number): (value: string) => string {
  return (value) => {
    if (!/^([0-9a-fA-F]{2})*$/.test(value))
      throw new InvalidArgumentError('expected hex: an even number of digits 0-9, a-f');
    if (bytes !== undefined && value.length !== 2 * bytes)
      throw new InvalidArgumentError(
        `expected ${bytes} bytes (${2 * bytes} hex digits), got ${value.length / 2} bytes`
      );
    return value.toLowerCase();
  };
}

/** The object without its undefined entries (for `exactOptionalPropertyTypes` targets). */
export function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
