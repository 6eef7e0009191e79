/** The final signature check (architecture invariant 4) against noble's verify and OpenSSL. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { verifyEcdsaSha256WithNode } from '../../core/test/helpers.ts';
import { checkedSignature, verifyEcdsaDigest } from '../src/signature.ts';

const N = secp256k1.Point.Fn.ORDER;

// OpenSSL through node:crypto: SHA-256 of the message, DER signature.
const opensslVerifies = verifyEcdsaSha256WithNode;

const numberTo32 = (n: bigint) =>
  Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));

describe('verifyEcdsaDigest', () => {
  it('agrees with OpenSSL and noble on valid, tampered, high-s and wrong-key signatures', () => {
    fc.assert(
      fc.property(
        fc.bigInt(1n, N - 1n),
        fc.uint8Array({ minLength: 0, maxLength: 100 }),
        fc.integer({ min: 0, max: 63 }),
        (secret, message, flip) => {
          const sk = numberTo32(secret);
          const pk = secp256k1.getPublicKey(sk);
          const pkHex = bytesToHex(pk);
          const digest = createHash('sha256').update(message).digest();
          const sig = secp256k1.sign(digest, sk, { prehash: false });
          const der = secp256k1.Signature.fromBytes(sig, 'compact').toBytes('der');
          assert.equal(opensslVerifies(pk, message, der), true);
          assert.equal(verifyEcdsaDigest(pkHex, digest, sig), true);
          // One flipped bit in r or s: OpenSSL and noble refuse, and so must we.
          const bad = sig.slice();
          bad[flip] = (bad[flip] as number) ^ 1;
          const nobleSays = secp256k1.verify(bad, digest, pk, { prehash: false, lowS: true });
          assert.equal(verifyEcdsaDigest(pkHex, digest, bad), nobleSays);
          // The high-s twin verifies mathematically (OpenSSL accepts it) but is not canonical.
          const s = BigInt(`0x${bytesToHex(sig.subarray(32))}`);
          const high = new Uint8Array(64);
          high.set(sig.subarray(0, 32));
          high.set(numberTo32(N - s), 32);
          const highDer = secp256k1.Signature.fromBytes(high, 'compact').toBytes('der');
          assert.equal(opensslVerifies(pk, message, highDer), true);
          assert.equal(verifyEcdsaDigest(pkHex, digest, high), false);
          // Another key: refused.
          const other = bytesToHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey()));
          assert.equal(verifyEcdsaDigest(other, digest, sig), false);
        }
      ),
      { numRuns: 60 }
    );
  });

  it('refuses malformed input instead of throwing', () => {
    const sk = secp256k1.utils.randomSecretKey();
    const pkHex = bytesToHex(secp256k1.getPublicKey(sk));
    const digest = new Uint8Array(32).fill(9);
    const sig = secp256k1.sign(digest, sk, { prehash: false });
    assert.equal(verifyEcdsaDigest(pkHex, digest.subarray(1), sig), false);
    assert.equal(verifyEcdsaDigest(pkHex, digest, sig.subarray(1)), false);
    assert.equal(verifyEcdsaDigest(`02${'00'.repeat(32)}`, digest, sig), false);
    assert.equal(verifyEcdsaDigest('zz', digest, sig), false);
    const zeroR = sig.slice();
    zeroR.fill(0, 0, 32);
    assert.equal(verifyEcdsaDigest(pkHex, digest, zeroR), false);
    const bigR = sig.slice();
    bigR.set(numberTo32(N), 0);
    assert.equal(verifyEcdsaDigest(pkHex, digest, bigR), false);
  });

  it('checkedSignature returns the wire form only for a signature that verifies', () => {
    const sk = secp256k1.utils.randomSecretKey();
    const pkHex = bytesToHex(secp256k1.getPublicKey(sk));
    const digest = new Uint8Array(32).fill(3);
    const compact = secp256k1.sign(digest, sk, { prehash: false });
    const parsed = secp256k1.Signature.fromBytes(compact, 'compact');
    const parts = {
      compact,
      r: compact.slice(0, 32),
      s: compact.slice(32),
      recovery: 0 as const,
      der: parsed.toBytes('der'),
    };
    assert.equal(checkedSignature('ecdsa', pkHex, digest, parts)?.signature, bytesToHex(compact));
    const other = new Uint8Array(32).fill(4);
    assert.equal(checkedSignature('ecdsa', pkHex, other, parts), null);
  });
});
