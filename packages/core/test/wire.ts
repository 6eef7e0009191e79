/**
 * The tests' own codec of message bodies, `enc(field…)` (u32 big-endian length + bytes per
 * field), written independently of src/ so tamper tests do not trust the code under test.
 */
import assert from 'node:assert/strict';
import { sha256 } from '@noble/hashes/sha2.js';

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function readU32(b: Uint8Array, off = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function splitFields(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < body.length) {
    const len = readU32(body, off);
    out.push(body.slice(off + 4, off + 4 + len));
    off += 4 + len;
  }
  assert.equal(off, body.length, 'test bug: body is not a well-formed enc(field…)');
  return out;
}

export const joinFields = (fields: Uint8Array[]): Uint8Array =>
  concat(...fields.flatMap((f) => [u32(f.length), f]));

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * A key share's bytes with its v5 checksum (the last field) recomputed, so a test can alter a
 * field and reach the checks behind the checksum: `SHA-256(enc("tessera/v1", "share/check", …))`.
 */
export function reseal(share: Uint8Array): Uint8Array {
  const fields = splitFields(share.subarray(4));
  const text = (t: string) => new TextEncoder().encode(t);
  fields[fields.length - 1] = sha256(
    joinFields([text('tessera/v1'), text('share/check'), ...fields.slice(0, -1)])
  );
  return concat(share.subarray(0, 4), joinFields(fields));
}
