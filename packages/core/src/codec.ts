/**
 * Strict decoding of message bodies. A body is `enc(field…)` (docs/protocols/common.md); decoders
 * require the exact field count and exact lengths, and throw `DecodeError` on anything else.
 * @module
 */
import { readU32be } from './bytes.ts';
import { DecodeError } from './errors.ts';
import type { Group, GroupPoint } from './group.ts';

/**
 * `N` byte strings as a tuple when `N` is a literal or a union of literals (so callers
 * destructure without casts), else an array.
 */
export type Fields<N extends number> = number extends N
  ? Uint8Array[]
  : N extends unknown
    ? Tuple<N, []>
    : never;

type Tuple<N extends number, Acc extends Uint8Array[]> = Acc['length'] extends N
  ? Acc
  : Tuple<N, [...Acc, Uint8Array]>;

/** Splits `enc(f_1..f_count)` into its fields; rejects any other count or trailing bytes. */
export function decodeFields<N extends number>(
  body: Uint8Array,
  count: N,
  what = 'message'
): Fields<N> {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < body.length) {
    if (body.length - off < 4)
      throw new DecodeError('MalformedMessage', `${what}: truncated length`);
    const len = readU32be(body, off);
    off += 4;
    if (len > body.length - off)
      throw new DecodeError('MalformedMessage', `${what}: truncated field`);
    out.push(body.subarray(off, off + len));
    off += len;
  }
  if (out.length !== count) {
    throw new DecodeError(
      'MalformedMessage',
      `${what}: expected ${count} fields, got ${out.length}`
    );
  }
  return out as Fields<N>;
}

/** Requires a field of exactly `len` bytes. */
export function fixedBytes(f: Uint8Array, len: number, what: string): Uint8Array {
  if (f.length !== len) throw new DecodeError('MalformedMessage', `${what}: expected ${len} bytes`);
  return f;
}

/** Decodes a `list()` of exactly `count` items of `size` bytes each. */
export function decodeList(f: Uint8Array, size: number, count: number, what: string): Uint8Array[] {
  if (f.length < 4 || readU32be(f) !== count || f.length !== 4 + size * count) {
    throw new DecodeError('MalformedMessage', `${what}: expected a list of ${count} items`);
  }
  const items: Uint8Array[] = [];
  for (let i = 0; i < count; i++) items.push(f.subarray(4 + i * size, 4 + (i + 1) * size));
  return items;
}

/** Decodes a list of exactly `count` points (none the identity). */
export function decodePointList(
  g: Group,
  f: Uint8Array,
  count: number,
  what: string
): GroupPoint[] {
  return decodeList(f, g.pointLength, count, what).map((b, i) => g.decodePoint(b, `${what}[${i}]`));
}
