/** HD derivation of shared keys (docs/protocols/hd.md). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import { deriveChild, derivePublic, InputError, KeyShare, parsePath } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import fc from 'fast-check';
import {
  hex,
  recoverEcdsaKeyWithViem,
  unhex,
  utf8,
  verifyBip340WithLibsecp,
  verifyBip340WithNoble,
  verifyEcdsaSha256WithNode,
  verifyEd25519WithNode,
} from './helpers.ts';

const throwsCheck = (fn: () => unknown, check: string) =>
  assert.throws(fn, (e: unknown) => e instanceof InputError && e.check === check);

const pathArb = fc
  .array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 5 })
  .map((p) => ['m', ...p].join('/'));

describe('path parsing', () => {
  test('accepts m and non-hardened indices, refuses hardened and malformed paths', () => {
    assert.deepEqual(parsePath('m'), []);
    assert.deepEqual(parsePath('m/0/7/2147483647'), [0, 7, 2147483647]);
    for (const p of ["m/0'", 'm/44h/0', 'm/1H']) throwsCheck(() => parsePath(p), 'HardenedPath');
    for (const p of [
      '',
      '0/1',
      'm/',
      'm//1',
      'm/01',
      'm/-1',
      'm/2147483648',
      'm/1.5',
      'M/1',
      'm/x',
    ])
      throwsCheck(() => parsePath(p), 'InvalidPath');
    throwsCheck(() => parsePath(`m${'/1'.repeat(256)}`), 'InvalidPath');
  });
});

describe('secp256k1 derivation equals BIP-32 from the xpub (@scure/bip32)', () => {
  let shares: KeyShare[];
  before(async () => {
    shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
  });

  test('child public key and chain code match over random paths of depth ≤ 5', () => {
    const root = shares[0] as KeyShare;
    const xpub = new HDKey({ publicKey: root.groupKey, chainCode: root.chainCode });
    fc.assert(
      fc.property(pathArb, (path) => {
        const ours = derivePublic('bip340', root.groupKey, root.chainCode, path);
        const theirs = xpub.derive(path);
        assert.equal(hex(ours.groupKey), hex(theirs.publicKey as Uint8Array));
        assert.equal(hex(ours.chainCode), hex(theirs.chainCode as Uint8Array));
        // Every holder's child share is a share of that key, with the public data consistent.
        const child = deriveChild(shares[2] as KeyShare, path);
        assert.equal(hex(child.groupKey), hex(ours.groupKey));
        child.validate();
      }),
      { numRuns: 40 }
    );
  });

  test('deriving step by step equals deriving the whole path; the share records the full path', () => {
    const s = shares[1] as KeyShare;
    const once = deriveChild(s, 'm/3/1/4');
    const stepwise = deriveChild(deriveChild(deriveChild(s, 'm/3'), 'm/1'), 'm/4');
    assert.equal(hex(once.groupKey), hex(stepwise.groupKey));
    assert.deepEqual(stepwise.path, [3, 1, 4]);
    assert.equal((stepwise.toJSON() as { path: string }).path, 'm/3/1/4');
    const back = KeyShare.fromBytes(stepwise.toBytes());
    assert.deepEqual(back.path, [3, 1, 4]);
    assert.equal(hex(back.groupKey), hex(once.groupKey));
  });

  test('FROST-BIP-340 signs under a path; noble and libsecp256k1 verify with the child key', async () => {
    for (const path of ['m/0', 'm/7/1', 'm/2147483647/0/5']) {
      const children = [shares[0], shares[2]].map((s) => deriveChild(s as KeyShare, path));
      const xOnly = (
        new HDKey({
          publicKey: (shares[0] as KeyShare).groupKey,
          chainCode: (shares[0] as KeyShare).chainCode,
        }).derive(path).publicKey as Uint8Array
      ).subarray(1);
      const msg = createHash('sha256').update(path).digest();
      const sig = await simulate.sign('bip340', children, msg);
      assert.ok(verifyBip340WithNoble(xOnly, msg, sig));
      assert.ok(verifyBip340WithLibsecp(xOnly, msg, sig));
    }
  });

  test('the path is bound into signing: holders of different paths cannot finish a session', async () => {
    const a = deriveChild(shares[0] as KeyShare, 'm/1');
    const b = deriveChild(shares[1] as KeyShare, 'm/2');
    await assert.rejects(
      simulate.sign('bip340', [a, b], utf8('x')),
      (e: unknown) => e instanceof Error
    );
  });
});

describe('ECDSA (DKLs23) signs under a derived path', () => {
  test('signature verifies with OpenSSL, noble and viem recovery under the child key', async () => {
    const shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
    const root = shares[0] as KeyShare;
    const xpub = new HDKey({ publicKey: root.groupKey, chainCode: root.chainCode });
    for (const path of ['m/0/7', 'm/1/2/3/4/5']) {
      const childPk = xpub.derive(path).publicKey as Uint8Array;
      const children = shares.map((s) => deriveChild(s, path));
      const message = utf8(`pay 1 BTC via ${path}`);
      const digest = createHash('sha256').update(message).digest();
      const sig = await simulate.sign('ecdsa', children, digest);
      assert.ok(verifyEcdsaSha256WithNode(childPk, message, sig.der));
      assert.ok(secp256k1.verify(sig.compact, digest, childPk, { prehash: false }));
      assert.equal(
        hex(await recoverEcdsaKeyWithViem(digest, sig.compact, sig.recovery)),
        hex(childPk)
      );
    }
    // The root key still signs, and a child signature does not verify under the root key.
    const digest = new Uint8Array(32).fill(9);
    const childSig = await simulate.sign(
      'ecdsa',
      shares.map((s) => deriveChild(s, 'm/0')),
      digest
    );
    assert.ok(!secp256k1.verify(childSig.compact, digest, root.groupKey, { prehash: false }));
    const rootSig = await simulate.sign('ecdsa', shares, digest);
    assert.ok(secp256k1.verify(rootSig.compact, digest, root.groupKey, { prehash: false }));
  });
});

describe('Ed25519 additive derivation (Tessera scheme)', () => {
  test('frozen vectors: fixed key and chain code give fixed children', () => {
    const pk = unhex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'); // RFC 8032 test 1
    const cc = unhex('0101010101010101010101010101010101010101010101010101010101010101');
    const got = Object.fromEntries(
      ['m/0', 'm/1', 'm/0/1', 'm/2147483647/42/7'].map((p) => {
        const d = derivePublic('ed25519', pk, cc, p);
        return [p, { key: hex(d.groupKey), chainCode: hex(d.chainCode) }];
      })
    );
    assert.deepEqual(got, ED25519_VECTORS);
  });

  test('one step recomputed from the written scheme with node:crypto SHA-256 and noble', () => {
    const pk = unhex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const cc = unhex('01'.repeat(32));
    const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const enc = (...f: Uint8Array[]) => Buffer.concat(f.flatMap((x) => [u32(x.length), x]));
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();
    const h256 = (tag: string, ...f: Uint8Array[]) => sha(enc(utf8('tessera/v1'), utf8(tag), ...f));
    const K = h256('hd/ed25519/tweak', cc, pk, u32(0));
    const wide = Buffer.concat([sha(Buffer.concat([K, u32(0)])), sha(Buffer.concat([K, u32(1)]))]);
    const tweak = BigInt(`0x${wide.subarray(0, 48).toString('hex')}`) % ed25519.Point.Fn.ORDER;
    const child = ed25519.Point.fromBytes(pk).add(ed25519.Point.BASE.multiply(tweak));
    assert.equal(hex(child.toBytes()), ED25519_VECTORS['m/0']?.key);
    assert.equal(hex(h256('hd/ed25519/chain', cc, pk, u32(0))), ED25519_VECTORS['m/0']?.chainCode);
  });

  test('signs under a path; OpenSSL verifies with the derived key; hardened is refused', async () => {
    const shares = await simulate.keygen('ed25519', { threshold: 2, parties: 3 });
    for (const path of ['m/0', 'm/44/501/0/0']) {
      const pub = derivePublic(
        'ed25519',
        (shares[0] as KeyShare).groupKey,
        (shares[0] as KeyShare).chainCode,
        path
      );
      const children = [shares[1], shares[2]].map((s) => deriveChild(s as KeyShare, path));
      const msg = utf8(`solana transfer ${path}`);
      const sig = await simulate.sign('ed25519', children, msg);
      assert.ok(verifyEd25519WithNode(pub.groupKey, msg, sig));
      assert.ok(!verifyEd25519WithNode((shares[0] as KeyShare).groupKey, msg, sig));
    }
    throwsCheck(() => deriveChild(shares[0] as KeyShare, "m/44'/501'"), 'HardenedPath');
  });
});

/** Computed once by this implementation and frozen: any change to the scheme breaks them. */
const ED25519_VECTORS: Record<string, { key: string; chainCode: string }> = {
  'm/0': {
    key: 'ab3c32f11ccb31c169575ded636a59fb65c3b1a09b789ebefb50b0ec288b35a9',
    chainCode: '68a3d623034fabb867b3d3049137cbc8fa8c190d60938fd7571ca16fe8f2a06d',
  },
  'm/1': {
    key: '6a30984ed121c88017725b01831675ab122001d98e0e3a946deb12bc8d948734',
    chainCode: '38bc5c6fd2a66ed221e8feb4863611c04e1f21ffab1862a6f63496e3c43ccae1',
  },
  'm/0/1': {
    key: '79be8a4219fa37434edd717ce471d0c6c4a30db038cb00152ce182d0d793bebc',
    chainCode: 'fac6622d76120d54eb55c372a7a0f390cdd87ac0ac5a9280bad491ea9e704882',
  },
  'm/2147483647/42/7': {
    key: '8eb8294823dc135252e3ac18b4448f7376844813440df632d56553f6a61cadd6',
    chainCode: '3d83eb17ee92901c9cb1340209cc1bc77ce74f1c26be5ce3409566446d7d83e5',
  },
};
