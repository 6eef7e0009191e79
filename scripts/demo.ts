/**
 * `npm run demo`: a local 2-of-3 key generation and signing, end to end, in one process.
 * Prints each public key and a signature verified by an independent verifier.
 */
import { createPublicKey, verify } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { simulate } from '@tessera/core';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const message = new TextEncoder().encode(
  'Tessera demo: signed by 2 of 3 parties, key never rebuilt'
);

for (const scheme of ['ed25519', 'bip340'] as const) {
  const t0 = performance.now();
  const shares = await simulate.keygen(scheme, { threshold: 2, parties: 3, label: 'demo' });
  const t1 = performance.now();
  const [p1, , p3] = shares;
  if (!p1 || !p3) throw new Error('key generation returned too few shares');
  const signature = await simulate.sign(scheme, [p1, p3], message);
  const t2 = performance.now();
  const publicKey = p1.publicKey;
  const verified =
    scheme === 'ed25519'
      ? verify(
          null,
          message,
          createPublicKey({
            key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
            format: 'jwk',
          }),
          signature
        )
      : schnorr.verify(signature, message, publicKey);
  if (!verified) throw new Error(`${scheme}: the signature did not verify`);
  console.log(`${scheme}  2-of-3 key ${hex(p1.keyId).slice(0, 16)}…`);
  console.log(`  public key : ${hex(publicKey)}`);
  console.log(`  signers    : parties 1 and 3`);
  console.log(`  signature  : ${hex(signature)}`);
  console.log(
    `  verified by ${scheme === 'ed25519' ? 'node:crypto (OpenSSL) Ed25519' : '@noble/curves schnorr (BIP-340)'}: ${verified}`
  );
  console.log(`  keygen ${(t1 - t0).toFixed(0)} ms, signing ${(t2 - t1).toFixed(0)} ms\n`);
}
