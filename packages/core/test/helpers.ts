/** Shared test helpers: independent verifiers, vector loading, a scripted RNG and a network driver. */

import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import * as ecc from 'tiny-secp256k1';
import { recoverPublicKey } from 'viem';

const here = dirname(fileURLToPath(import.meta.url));

/** A published test vector file, `packages/core/test/vectors/<rel>` (each folder says its source). */
export function readVector<T>(rel: string): T {
  return JSON.parse(readFileSync(join(here, 'vectors', rel), 'utf8')) as T;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Ed25519 verification by OpenSSL through node:crypto. */
export function verifyEd25519WithNode(
  publicKey: Uint8Array,
  message: Uint8Array,
  sig: Uint8Array
): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, message, key, sig);
}

/**
 * ECDSA (secp256k1, SHA-256) verification by OpenSSL through node:crypto: hashes `message` with
 * SHA-256 itself and checks the DER signature. `publicKey` is SEC1 (33 or 65 bytes).
 * (`verify(null, digest, …)` would not verify a raw digest, so the message is what goes in.)
 */
export function verifyEcdsaSha256WithNode(
  publicKey: Uint8Array,
  message: Uint8Array,
  der: Uint8Array
): boolean {
  const raw = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'secp256k1',
      x: Buffer.from(raw.subarray(1, 33)).toString('base64url'),
      y: Buffer.from(raw.subarray(33, 65)).toString('base64url'),
    },
    format: 'jwk',
  });
  return verify('sha256', message, key, der);
}

/**
 * Public-key recovery by viem (Ethereum's toolkit), from the 65-byte Ethereum form
 * `r ‖ s ‖ (27 + recovery)`; returns the compressed SEC1 key (33 bytes).
 */
export async function recoverEcdsaKeyWithViem(
  digest: Uint8Array,
  compact: Uint8Array,
  recovery: number
): Promise<Uint8Array> {
  const sig = new Uint8Array(65);
  sig.set(compact);
  sig[64] = 27 + recovery;
  const uncompressed = await recoverPublicKey({ hash: digest, signature: sig });
  return secp256k1.Point.fromHex(uncompressed.slice(2)).toBytes(true);
}

/** BIP-340 verification by @noble/curves. */
export const verifyBip340WithNoble = (
  xOnly: Uint8Array,
  message: Uint8Array,
  sig: Uint8Array
): boolean => schnorr.verify(sig, message, xOnly);

/** BIP-340 verification by tiny-secp256k1 (libsecp256k1 compiled to WASM); 32-byte messages only. */
export const verifyBip340WithLibsecp = (
  xOnly: Uint8Array,
  msg32: Uint8Array,
  sig: Uint8Array
): boolean => ecc.verifySchnorr(msg32, xOnly, sig);

/** An RNG that returns the given byte strings in order, then fails. Tests only. */
export function scriptedRng(chunks: Uint8Array[]): (n: number) => Uint8Array {
  const queue = [...chunks];
  return (n) => {
    const next = queue.shift();
    if (!next || next.length !== n) throw new Error(`scripted rng: no ${n}-byte chunk left`);
    return next.slice();
  };
}

/** A deterministic, seeded RNG (SHA-256 counter mode). Tests only; never in production. */
export function seededRng(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const h = schnorr.utils.taggedHash('tessera/test-rng', utf8(seed), utf8(String(counter++)));
      out.set(h.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}
