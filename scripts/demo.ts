/**
 * `npm run demo`: a local 2-of-3 key generation and signing, end to end, in one process.
 * Prints each public key and a signature verified by an independent verifier.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { local } from '@tessera/core';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';

// libsecp256k1 when its addon was built at install (it speeds up the ECDSA key generation).
const { backend, warning } = installSecp256k1Backend();
console.log(`secp256k1 arithmetic: ${backend}${warning ? ` (${warning})` : ''}`);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const message = new TextEncoder().encode(
  'Tessera demo: signed by 2 of 3 parties, key never rebuilt'
);

for (const scheme of ['ed25519', 'bip340'] as const) {
  const t0 = performance.now();
  const shares = await local.keygen(scheme, { threshold: 2, parties: 3, label: 'demo' });
  const t1 = performance.now();
  const [p1, , p3] = shares;
  if (!p1 || !p3) throw new Error('key generation returned too few shares');
  const signature = await local.sign(scheme, [p1, p3], message);
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

{
  // Threshold ECDSA (DKLs23): the same flow, verified by OpenSSL through node:crypto.
  const t0 = performance.now();
  const shares = await local.keygen('ecdsa', { threshold: 2, parties: 3, label: 'demo' });
  const t1 = performance.now();
  const [p1, , p3] = shares;
  if (!p1 || !p3) throw new Error('key generation returned too few shares');
  const digest = new Uint8Array(createHash('sha256').update(message).digest());
  const sig = await local.sign('ecdsa', [p1, p3], digest);
  const t2 = performance.now();
  const { x, y } = secp256k1.Point.fromBytes(p1.publicKey).toAffine();
  const b64 = (n: bigint) =>
    Buffer.from(n.toString(16).padStart(64, '0'), 'hex').toString('base64url');
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'secp256k1', x: b64(x), y: b64(y) },
    format: 'jwk',
  });
  const verified = verify('sha256', message, key, sig.der);
  if (!verified) throw new Error('ecdsa: the signature did not verify');
  console.log(`ecdsa (DKLs23)  2-of-3 key ${hex(p1.keyId).slice(0, 16)}…`);
  console.log(`  public key : ${hex(p1.publicKey)}`);
  console.log('  signers    : parties 1 and 3');
  console.log(`  signature  : r=${hex(sig.r)} s=${hex(sig.s)} recovery=${sig.recovery}`);
  console.log(`  verified by node:crypto (OpenSSL) ECDSA over SHA-256: ${verified}`);
  console.log(`  keygen ${(t1 - t0).toFixed(0)} ms, signing ${(t2 - t1).toFixed(0)} ms`);
}
