/** What the gateway's tests share: an Argon2id that memoises (tests hash the same inputs often). */
import { argon2id } from '@noble/hashes/argon2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { Kdf } from '../src/secret.ts';

const memo = new Map<string, Uint8Array>();

/** Argon2id on the loop, each distinct input hashed once per process. */
export const memoKdf: Kdf = async (password, salt, params) => {
  const id = `${password}\0${bytesToHex(salt)}\0${params.m}/${params.t}/${params.p}`;
  let key = memo.get(id);
  if (!key) {
    key = argon2id(password.normalize('NFC'), salt, { ...params, dkLen: 32 });
    memo.set(id, key);
  }
  return key.slice();
};

/** The string with the character at `i` replaced by another of the base64url alphabet. */
export function flipChar(s: string, i: number, by = 1): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const c = s[i] as string;
  const at = A.indexOf(c);
  const next = at < 0 ? 'A' : (A[(at + by) % 64] as string);
  return s.slice(0, i) + next + s.slice(i + 1);
}

/** The same blob with one decoded byte xored with `mask` (1..255), re-encoded canonically. */
export function flipByte(blob: string, i: number, mask: number): string {
  const b = Buffer.from(blob.slice(3), 'base64url');
  const j = i % b.length;
  b[j] = (b[j] as number) ^ (mask || 1);
  return `v1.${b.toString('base64url')}`;
}
