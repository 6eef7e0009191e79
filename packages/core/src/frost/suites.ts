/**
 * FROST ciphersuites, all from `@noble/curves` (RFC 9591; the BIP-340 variant is ZF/noble's
 * `FROST-secp256k1-SHA256-TR-v1`). Tessera does not reimplement FROST; it wraps these.
 * @module
 */
import { createFROST, type FROST } from '@noble/curves/abstract/frost.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ed25519Group, type Group, secp256k1Group } from '../group.ts';

/** Suite names. `secp256k1-rfc9591` (65-byte, non-BIP-340 signatures) is for RFC vectors only. */
export type FrostSuiteName = 'ed25519' | 'bip340' | 'secp256k1-rfc9591';

/** A FROST suite: noble's implementation, its group, and an independent final verifier. */
export interface FrostSuite {
  name: FrostSuiteName;
  frost: FROST;
  group: Group;
  /** Verifies a final signature with the curve's ordinary verifier (not the FROST code path). */
  verify(sig: Uint8Array, msg: Uint8Array, groupKey: Uint8Array): boolean;
}

/**
 * `FROST(Ed25519, SHA-512)`: exactly noble's `ed25519_FROST` configuration without its
 * `validatePoint` hook. `createFROST` already checks every parsed point for validity, identity and
 * prime-order subgroup membership; the hook repeated both checks, doubling the dominant cost
 * (a full-width multiplication per point). The RFC 9591 vectors pin the equivalence.
 */
const ed25519Frost: FROST = createFROST({
  name: 'FROST-ED25519-SHA512-v1',
  Point: ed25519.Point,
  hash: sha512,
  // As in noble: RFC 9591 keeps H2 undecorated for RFC 8032 compatibility.
  H2: '',
});

const SUITES: Record<FrostSuiteName, FrostSuite> = {
  ed25519: {
    name: 'ed25519',
    frost: ed25519Frost,
    group: ed25519Group,
    verify: (sig, msg, pk) => ed25519.verify(sig, msg, pk, { zip215: false }),
  },
  bip340: {
    name: 'bip340',
    frost: schnorr_FROST,
    group: secp256k1Group,
    verify: (sig, msg, pk) => schnorr.verify(sig, msg, pk.subarray(1)),
  },
  'secp256k1-rfc9591': {
    name: 'secp256k1-rfc9591',
    frost: secp256k1_FROST,
    group: secp256k1Group,
    verify: (sig, msg, pk) => secp256k1_FROST.verify(sig, msg, pk),
  },
};

/** Looks up a suite. */
export const frostSuite = (name: FrostSuiteName): FrostSuite => SUITES[name];
