/**
 * Non-hardened derivation of shared keys.
 *
 * secp256k1 (`ecdsa`, `bip340`): BIP-32 CKDpub (docs/protocols/hd.md), from the extended
 * public key `(PK, cc)`: `I = HMAC-SHA512(cc, SEC1(K) ‖ u32be(i))`, `K' = K + I_L·G`, `cc' = I_R`.
 * The child public key and chain code equal what any BIP-32 library computes from the xpub.
 *
 * Ed25519: Tessera's own additive scheme (docs/protocols/hd.md), because no standard
 * non-hardened Ed25519 derivation exists: `δ = HashToScalar("hd/ed25519/tweak", cc, K, u32be(i))`,
 * `K' = K + δ·G`, `cc' = H256("hd/ed25519/chain", cc, K, u32be(i))`.
 *
 * Every holder adds the same tweak to its share (`x' = x + δ`), which is correct for any signer set
 * because the Lagrange coefficients of a set sum to one. Hardened indices are refused: they would
 * need the HMAC computed inside MPC.
 * @module
 */

import { bytesToNumberBE } from '@noble/curves/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, copyBytes, u32be } from './bytes.ts';
import type { CheckName } from './checks.ts';
import { InputError } from './errors.ts';
import {
  childShare,
  groupOfScheme,
  HARDENED,
  type KeyShare,
  MAX_DEPTH,
  pathToString,
  type Scheme,
} from './keyshare.ts';
import { H256, hashToScalar } from './transcript.ts';

const bad = (msg: string, check: CheckName, hints: string[] = []): never => {
  throw new InputError(msg, { check, hints });
};

/**
 * Parses a non-hardened path `m/i_1/…/i_d` (each index a decimal integer below 2^31, no leading
 * zeros, depth ≤ 255). `m` alone is the key itself. Throws `InputError` with check `HardenedPath`
 * for `'` or `h` markers and `InvalidPath` for anything else malformed.
 */
export function parsePath(path: string): number[] {
  if (typeof path !== 'string') return bad('path must be a string like m/0/7', 'InvalidPath');
  const parts = path.split('/');
  if (parts[0] !== 'm') return bad(`path ${JSON.stringify(path)} must start with m`, 'InvalidPath');
  const out: number[] = [];
  for (const p of parts.slice(1)) {
    if (/^\d+['hH]$/.test(p)) {
      return bad(
        `hardened index ${p} in ${path}: a shared key derives only non-hardened children`,
        'HardenedPath',
        ['hardened derivation needs the private key in one place, which Tessera never has']
      );
    }
    if (!/^(0|[1-9]\d{0,9})$/.test(p) || Number(p) >= HARDENED) {
      return bad(`bad index ${JSON.stringify(p)} in ${path}: expected 0 … 2^31−1`, 'InvalidPath');
    }
    out.push(Number(p));
  }
  if (out.length > MAX_DEPTH) return bad(`path deeper than ${MAX_DEPTH}`, 'InvalidPath');
  return out;
}

/** A derived public key: its encoding, chain code and the tweak `δ` from the parent. */
export interface DerivedKey {
  /** Group key in the group's point encoding (compressed SEC1 for secp256k1). */
  groupKey: Uint8Array;
  chainCode: Uint8Array;
  /** `δ`: child private key = parent private key + δ (mod q). */
  tweak: bigint;
}

/** One derivation step (see the module comment). */
function step(scheme: Scheme, key: Uint8Array, cc: Uint8Array, index: number): DerivedKey {
  const g = groupOfScheme(scheme);
  let tweak: bigint;
  let chainCode: Uint8Array;
  if (scheme === 'ed25519') {
    tweak = hashToScalar('hd/ed25519/tweak', [cc, key, u32be(index)], g.order);
    chainCode = H256('hd/ed25519/chain', cc, key, u32be(index));
  } else {
    const I = hmac(sha512, cc, concatBytes(key, u32be(index)));
    tweak = bytesToNumberBE(I.subarray(0, 32));
    chainCode = I.slice(32);
    I.fill(0);
    if (tweak >= g.order) return invalidChild(index);
  }
  const child = g.decodeOwn(key).add(g.base(tweak));
  if (tweak === 0n || child.is0()) return invalidChild(index);
  return { groupKey: g.encodePoint(child), chainCode, tweak };
}

const invalidChild = (index: number): never =>
  bad(
    `child ${index} is invalid (probability about 2^-127): use the next index`,
    'InvalidChildIndex',
    ['BIP-32 skips such an index; choose another']
  );

/**
 * Derives the public key and chain code at `path` from a public key and chain code alone (a
 * watch-only wallet can do this). `groupKey` is in the group's point encoding.
 */
export function derivePublic(
  scheme: Scheme,
  groupKey: Uint8Array,
  chainCode: Uint8Array,
  path: string | readonly number[]
): DerivedKey {
  const g = groupOfScheme(scheme);
  const indices = typeof path === 'string' ? parsePath(path) : [...path];
  let cur: DerivedKey = {
    groupKey: copyBytes(groupKey),
    chainCode: copyBytes(chainCode),
    tweak: 0n,
  };
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= HARDENED)
      bad(`index ${i} is not below 2^31`, 'InvalidPath');
    const next = step(scheme, cur.groupKey, cur.chainCode, i);
    cur = { ...next, tweak: g.mod(cur.tweak + next.tweak) };
  }
  return cur;
}

/**
 * A share of the child key at `path` below `share`'s own key (`m` is `share`'s key; a share that
 * is already derived extends its path). Every holder derives with the same path and gets shares of
 * the same child key; signing binds the full path from the root. Throws `InputError`
 * (`HardenedPath`, `InvalidPath`, `InvalidChildIndex`).
 */
export function deriveChild(share: KeyShare, path: string): KeyShare {
  const indices = parsePath(path);
  const full = [...share.path, ...indices];
  if (full.length > MAX_DEPTH)
    bad(`path ${pathToString(full)} is deeper than ${MAX_DEPTH}`, 'InvalidPath');
  const child = derivePublic(share.scheme, share.groupKey, share.chainCode, indices);
  return childShare(share, { ...child, path: full });
}
