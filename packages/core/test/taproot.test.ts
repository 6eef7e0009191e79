/**
 * Taproot tweak of shared BIP-340 keys (docs/protocols/frost.md, "Taproot"): BIP-341's official wallet vectors
 * through dealt shares of their private keys, simulated 2-of-3 and 3-of-5 keys of both internal-key
 * parities signing with many signer sets, and the refusals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utils as btcUtils, p2tr } from '@scure/btc-signer';
import { deriveChild, derivePublic, InputError, KeyShare, taprootTweak } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import * as ecc from 'tiny-secp256k1';
import { taprootTweakWith } from '../src/frost/taproot.ts';
import { secp256k1Group as g } from '../src/group.ts';
import { shareSecret } from '../src/keyshare.ts';
import { evalPoly, lagrange } from '../src/math/polynomial.ts';
import { hex, unhex, utf8, verifyBip340WithLibsecp } from './helpers.ts';

/**
 * BIP-341 `wallet-test-vectors.json` (bitcoin/bips, commit 7fe0b034ec967b52a5a28276419117326df93263),
 * `scriptPubKey` cases: internal key, merkle root (null: no script tree), tweak, tweaked output
 * key, BIP-350 address.
 */
const SCRIPT_PUBKEY: [string, string | null, string, string, string][] = [
  [
    'd6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d',
    null,
    'b86e7be8f39bab32a6f2c0443abbc210f0edac0e2c53d501b36b64437d9c6c70',
    '53a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343',
    'bc1p2wsldez5mud2yam29q22wgfh9439spgduvct83k3pm50fcxa5dps59h4z5',
  ],
  [
    '187791b6f712a8ea41c8ecdd0ee77fab3e85263b37e1ec18a3651926b3a6cf27',
    '5b75adecf53548f3ec6ad7d78383bf84cc57b55a3127c72b9a2481752dd88b21',
    'cbd8679ba636c1110ea247542cfbd964131a6be84f873f7f3b62a777528ed001',
    '147c9c57132f6e7ecddba9800bb0c4449251c92a1e60371ee77557b6620f3ea3',
    'bc1pz37fc4cn9ah8anwm4xqqhvxygjf9rjf2resrw8h8w4tmvcs0863sa2e586',
  ],
  [
    '93478e9488f956df2396be2ce6c5cced75f900dfa18e7dabd2428aae78451820',
    'c525714a7f49c28aedbbba78c005931a81c234b2f6c99a73e4d06082adc8bf2b',
    '6af9e28dbf9d6aaf027696e2598a5b3d056f5fd2355a7fd5a37a0e5008132d30',
    'e4d810fd50586274face62b8a807eb9719cef49c04177cc6b76a9a4251d5450e',
    'bc1punvppl2stp38f7kwv2u2spltjuvuaayuqsthe34hd2dyy5w4g58qqfuag5',
  ],
  [
    'ee4fe085983462a184015d1f782d6a5f8b9c2b60130aff050ce221ecf3786592',
    '6c2dc106ab816b73f9d07e3cd1ef2c8c1256f519748e0813e4edd2405d277bef',
    '9e0517edc8259bb3359255400b23ca9507f2a91cd1e4250ba068b4eafceba4a9',
    '712447206d7a5238acc7ff53fbe94a3b64539ad291c7cdbc490b7577e4b17df5',
    'bc1pwyjywgrd0ffr3tx8laflh6228dj98xkjj8rum0zfpd6h0e930h6saqxrrm',
  ],
  [
    'f9f400803e683727b14f463836e1e78e1c64417638aa066919291a225f0e8dd8',
    'ab179431c28d3b68fb798957faf5497d69c883c6fb1e1cd9f81483d87bac90cc',
    '639f0281b7ac49e742cd25b7f188657626da1ad169209078e2761cefd91fd65e',
    '77e30a5522dd9f894c3f8b8bd4c4b2cf82ca7da8a3ea6a239655c39c050ab220',
    'bc1pwl3s54fzmk0cjnpl3w9af39je7pv5ldg504x5guk2hpecpg2kgsqaqstjq',
  ],
  [
    'e0dfe2300b0dd746a3f8674dfd4525623639042569d829c7f0eed9602d263e6f',
    'ccbd66c6f7e8fdab47b3a486f59d28262be857f30d4773f2d5ea47f7761ce0e2',
    'b57bfa183d28eeb6ad688ddaabb265b4a41fbf68e5fed2c72c74de70d5a786f4',
    '91b64d5324723a985170e4dc5a0f84c041804f2cd12660fa5dec09fc21783605',
    'bc1pjxmy65eywgafs5tsunw95ruycpqcqnev6ynxp7jaasylcgtcxczs6n332e',
  ],
  [
    '55adf4e8967fbd2e29f20ac896e60c3b0f1d5b0efa9d34941b5958c7b0a0312d',
    '2f6b2c5397b6d68ca18e09a3f05161668ffe93a988582d55c6f07bd5b3329def',
    '6579138e7976dc13b6a92f7bfd5a2fc7684f5ea42419d43368301470f3b74ed9',
    '75169f4001aa68f15bbed28b218df1d0a62cbbcf1188c6665110c293c907b831',
    'bc1pw5tf7sqp4f50zka7629jrr036znzew70zxyvvej3zrpf8jg8hqcssyuewe',
  ],
];

/**
 * Same file, `keyPathSpending[0].inputSpending`: input index, internal private key, merkle root,
 * internal key, tweak, tweaked private key, BIP-341 sighash, spent scriptPubKey.
 */
const KEY_PATH: [number, string, string | null, string, string, string, string, string][] = [
  [
    0,
    '6b973d88838f27366ed61c9ad6367663045cb456e28335c109e30717ae0c6baa',
    null,
    'd6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d',
    'b86e7be8f39bab32a6f2c0443abbc210f0edac0e2c53d501b36b64437d9c6c70',
    '2405b971772ad26915c8dcdf10f238753a9b837e5f8e6a86fd7c0cce5b7296d9',
    '2514a6272f85cfa0f45eb907fcb0d121b808ed37c6ea160a5a9046ed5526d555',
    '512053a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343',
  ],
  [
    1,
    '1e4da49f6aaf4e5cd175fe08a32bb5cb4863d963921255f33d3bc31e1343907f',
    '5b75adecf53548f3ec6ad7d78383bf84cc57b55a3127c72b9a2481752dd88b21',
    '187791b6f712a8ea41c8ecdd0ee77fab3e85263b37e1ec18a3651926b3a6cf27',
    'cbd8679ba636c1110ea247542cfbd964131a6be84f873f7f3b62a777528ed001',
    'ea260c3b10e60f6de018455cd0278f2f5b7e454be1999572789e6a9565d26080',
    '325a644af47e8a5a2591cda0ab0723978537318f10e6a63d4eed783b96a71a4d',
    '5120147c9c57132f6e7ecddba9800bb0c4449251c92a1e60371ee77557b6620f3ea3',
  ],
  [
    3,
    'd3c7af07da2d54f7a7735d3d0fc4f0a73164db638b2f2f7c43f711f6d4aa7e64',
    'c525714a7f49c28aedbbba78c005931a81c234b2f6c99a73e4d06082adc8bf2b',
    '93478e9488f956df2396be2ce6c5cced75f900dfa18e7dabd2428aae78451820',
    '6af9e28dbf9d6aaf027696e2598a5b3d056f5fd2355a7fd5a37a0e5008132d30',
    '97323385e57015b75b0339a549c56a948eb961555973f0951f555ae6039ef00d',
    'bf013ea93474aa67815b1b6cc441d23b64fa310911d991e713cd34c7f5d46669',
    '5120e4d810fd50586274face62b8a807eb9719cef49c04177cc6b76a9a4251d5450e',
  ],
  [
    4,
    'f36bb07a11e469ce941d16b63b11b9b9120a84d9d87cff2c84a8d4affb438f4e',
    'ccbd66c6f7e8fdab47b3a486f59d28262be857f30d4773f2d5ea47f7761ce0e2',
    'e0dfe2300b0dd746a3f8674dfd4525623639042569d829c7f0eed9602d263e6f',
    'b57bfa183d28eeb6ad688ddaabb265b4a41fbf68e5fed2c72c74de70d5a786f4',
    'a8e7aa924f0d58854185a490e6c41f6efb7b675c0f3331b7f14b549400b4d501',
    '4f900a0bae3f1446fd48490c2958b5a023228f01661cda3496a11da502a7f7ef',
    '512091b64d5324723a985170e4dc5a0f84c041804f2cd12660fa5dec09fc21783605',
  ],
  [
    6,
    '415cfe9c15d9cea27d8104d5517c06e9de48e2f986b695e4f5ffebf230e725d8',
    '2f6b2c5397b6d68ca18e09a3f05161668ffe93a988582d55c6f07bd5b3329def',
    '55adf4e8967fbd2e29f20ac896e60c3b0f1d5b0efa9d34941b5958c7b0a0312d',
    '6579138e7976dc13b6a92f7bfd5a2fc7684f5ea42419d43368301470f3b74ed9',
    '241c14f2639d0d7139282aa6abde28dd8a067baa9d633e4e7230287ec2d02901',
    '15f25c298eb5cdc7eb1d638dd2d45c97c4c59dcaec6679cfc16ad84f30876b85',
    '512075169f4001aa68f15bbed28b218df1d0a62cbbcf1188c6665110c293c907b831',
  ],
  [
    7,
    'c7b0e81f0a9a0b0499e112279d718cca98e79a12e2f137c72ae5b213aad0d103',
    '6c2dc106ab816b73f9d07e3cd1ef2c8c1256f519748e0813e4edd2405d277bef',
    'ee4fe085983462a184015d1f782d6a5f8b9c2b60130aff050ce221ecf3786592',
    '9e0517edc8259bb3359255400b23ca9507f2a91cd1e4250ba068b4eafceba4a9',
    '65b6000cd2bfa6b7cf736767a8955760e62b6649058cbc970b7c0871d786346b',
    'cd292de50313804dabe4685e83f923d2969577191a3e1d2882220dca88cbeb10',
    '5120712447206d7a5238acc7ff53fbe94a3b64539ad291c7cdbc490b7577e4b17df5',
  ],
  [
    8,
    '77863416be0d0665e517e1c375fd6f75839544eca553675ef7fdf4949518ebaa',
    'ab179431c28d3b68fb798957faf5497d69c883c6fb1e1cd9f81483d87bac90cc',
    'f9f400803e683727b14f463836e1e78e1c64417638aa066919291a225f0e8dd8',
    '639f0281b7ac49e742cd25b7f188657626da1ad169209078e2761cefd91fd65e',
    'ec18ce6af99f43815db543f47b8af5ff5df3b2cb7315c955aa4a86e8143d2bf5',
    'cccb739eca6c13a8a89e6e5cd317ffe55669bbda23f2fd37b0f18755e008edd2',
    '512077e30a5522dd9f894c3f8b8bd4c4b2cf82ca7da8a3ea6a239655c39c050ab220',
  ],
];

const isOddY = (share: KeyShare) => share.groupKey[0] === 0x03;

/** The output key by two independent implementations (scure's and libsecp256k1's). */
function referenceOutputKey(internal: Uint8Array, merkleRoot?: Uint8Array): string {
  const [scure] = btcUtils.taprootTweakPubkey(internal, merkleRoot ?? new Uint8Array(0));
  const t = sha256Tagged('TapTweak', internal, merkleRoot ?? new Uint8Array(0));
  const lib = ecc.xOnlyPointAddTweak(internal, t);
  assert.ok(lib);
  assert.equal(hex(scure), hex(lib.xOnlyPubkey), 'scure and libsecp256k1 agree on the output key');
  if (!merkleRoot) assert.equal(hex(p2tr(internal).tweakedPubkey), hex(scure));
  return hex(scure);
}

/** BIP-340 tagged hash, spelled out with SHA-256 (tests only; an independent path). */
function sha256Tagged(tag: string, ...parts: Uint8Array[]): Uint8Array {
  const th = sha256(utf8(tag));
  const h = sha256.create().update(th).update(th);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Shamir shares of a known secret (t of n, fixed coefficients), as KeyShares of `bip340`. */
function dealt(secret: bigint, t: number, n: number): KeyShare[] {
  const coeffs = [secret];
  for (let m = 1; m < t; m++) coeffs.push(g.mod(BigInt(`0x${hex(sha256(utf8(`coef${m}`)))}`)));
  const parties = Array.from({ length: n }, (_, k) => k + 1);
  const secrets = parties.map((id) => evalPoly(g, coeffs, BigInt(id)));
  const verificationShares = secrets.map((s) => g.encodePoint(g.base(s)));
  return parties.map(
    (id, k) =>
      new KeyShare({
        scheme: 'bip340',
        partyId: id,
        threshold: t,
        parties,
        keyId: sha256(utf8('taproot-test-key')),
        epoch: sha256(utf8('taproot-test-epoch')),
        chainCode: sha256(utf8('taproot-test-chain')),
        groupKey: g.encodePoint(g.base(secret)),
        verificationShares,
        secret: secrets[k] as bigint,
      })
  );
}

/** The key `Σ λ_i·x_i` that `shares` (a signer set) hold together. Tests only. */
function reconstruct(shares: KeyShare[]): bigint {
  const ids = shares.map((s) => s.partyId);
  return shares.reduce((acc, s) => g.mod(acc + lagrange(g, ids, s.partyId) * shareSecret(s)), 0n);
}

/** Every subset of size `k` of `xs`. */
function subsets<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [first, ...rest] = xs as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

describe('BIP-341 wallet test vectors', () => {
  test('scriptPubKey cases: the reference implementations reproduce tweak and output key', () => {
    for (const [internal, root, tweak, output, address] of SCRIPT_PUBKEY) {
      const mr = root === null ? undefined : unhex(root);
      assert.equal(hex(sha256Tagged('TapTweak', unhex(internal), mr ?? new Uint8Array(0))), tweak);
      assert.equal(referenceOutputKey(unhex(internal), mr), output);
      if (root === null) assert.equal(p2tr(unhex(internal)).address, address);
    }
  });

  test('keyPathSpending: dealt 2-of-3 shares of each internal key tweak to the output key and sign its sighash', async () => {
    let odd = 0;
    for (const [idx, priv, root, internal, , tweakedPriv, sigHash, spk] of KEY_PATH) {
      const shares = dealt(BigInt(`0x${priv}`), 2, 3);
      const first = shares[0] as KeyShare;
      assert.equal(hex(first.publicKey), internal, `input ${idx}: internal key`);
      if (isOddY(first)) odd++;
      const tw = shares.map((s) => taprootTweak(s, root === null ? undefined : unhex(root)));
      const Q = (tw[0] as KeyShare).publicKey;
      assert.equal(`5120${hex(Q)}`, spk, `input ${idx}: output key`);
      for (const s of tw) assert.equal(hex(s.publicKey), hex(Q));
      // Every pair of tweaked shares interpolates to BIP-341's tweaked private key.
      for (const pair of subsets(tw, 2))
        assert.equal(hex(g.encodeScalar(reconstruct(pair))), tweakedPriv, `input ${idx}`);
      const msg = unhex(sigHash);
      const sig = await simulate.sign('bip340', [tw[0] as KeyShare, tw[2] as KeyShare], msg);
      assert.ok(schnorr.verify(sig, msg, Q), `input ${idx}: noble verifies`);
      assert.ok(verifyBip340WithLibsecp(Q, msg, sig), `input ${idx}: libsecp256k1 verifies`);
      assert.ok(!schnorr.verify(sig, msg, unhex(internal)), 'not valid under the internal key');
    }
    assert.ok(odd > 0 && odd < KEY_PATH.length, 'the vectors cover both internal-key parities');
  });
});

describe('taprootTweak on simulated keys', () => {
  for (const [t, n] of [
    [2, 3],
    [3, 5],
  ] as const) {
    test(`${t}-of-${n}: both internal-key parities, every signer set of size t and the full set`, async () => {
      const byParity = new Map<boolean, KeyShare[]>();
      for (let attempt = 0; byParity.size < 2; attempt++) {
        assert.ok(attempt < 40, 'found both parities');
        const shares = await simulate.keygen('bip340', { threshold: t, parties: n });
        const odd = isOddY(shares[0] as KeyShare);
        if (!byParity.has(odd)) byParity.set(odd, shares);
      }
      for (const [odd, shares] of byParity) {
        const P = (shares[0] as KeyShare).publicKey;
        const tw = shares.map((s) => taprootTweak(s));
        const Q = (tw[0] as KeyShare).publicKey;
        assert.equal(hex(Q), referenceOutputKey(P), `odd=${odd}: output key`);
        for (const s of tw) {
          s.validate();
          assert.equal(hex(s.groupKey), hex((tw[0] as KeyShare).groupKey));
          assert.equal(hex(s.keyId), hex((shares[0] as KeyShare).keyId));
          assert.deepEqual(s.path, []);
        }
        const sets = [...subsets(tw, t), tw];
        for (const [k, set] of sets.entries()) {
          const msg = sha256(utf8(`taproot ${t}-of-${n} odd=${odd} set ${k}`));
          const sig = await simulate.sign('bip340', set, msg);
          const ids = set.map((s) => s.partyId).join(',');
          assert.ok(schnorr.verify(sig, msg, Q), `signers ${ids}: valid under x(Q)`);
          assert.ok(verifyBip340WithLibsecp(Q, msg, sig), `signers ${ids}: libsecp256k1`);
          assert.ok(!schnorr.verify(sig, msg, P), `signers ${ids}: not under the internal key`);
        }
      }
    });
  }

  test('a merkle root commits to a script tree: same output key as the reference', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    const root = sha256(utf8('some script tree'));
    const tw = shares.map((s) => taprootTweak(s, root));
    const Q = (tw[0] as KeyShare).publicKey;
    assert.equal(hex(Q), referenceOutputKey((shares[0] as KeyShare).publicKey, root));
    assert.notEqual(hex(Q), hex(taprootTweak(shares[0] as KeyShare).publicKey));
    const msg = sha256(utf8('script tree'));
    assert.ok(schnorr.verify(await simulate.sign('bip340', tw.slice(1), msg), msg, Q));
  });

  test('BIP-32 first, then the taproot tweak: matches the tweak of the derived public key', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    const first = shares[0] as KeyShare;
    const child = derivePublic('bip340', first.groupKey, first.chainCode, 'm/86/0/5');
    const tw = shares.map((s) => taprootTweak(deriveChild(s, 'm/86/0/5')));
    const Q = (tw[0] as KeyShare).publicKey;
    assert.equal(hex(Q), referenceOutputKey(child.groupKey.subarray(1)));
    assert.deepEqual((tw[0] as KeyShare).path, [86, 0, 5]);
    const msg = sha256(utf8('derived'));
    assert.ok(
      schnorr.verify(await simulate.sign('bip340', [tw[0], tw[1]] as KeyShare[], msg), msg, Q)
    );
  });
});

describe('taprootTweak refusals', () => {
  test('a non-bip340 share is an InputError (WrongScheme)', async () => {
    const [share] = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    assert.throws(
      () => taprootTweak(share as KeyShare),
      (e: unknown) => e instanceof InputError && e.check === 'WrongScheme'
    );
  });

  test('a merkle root that is not 32 bytes, a share tweaked twice, a non-share', async () => {
    const [share] = await simulate.keygen('bip340', { threshold: 2, parties: 2 });
    const s = share as KeyShare;
    for (const bad of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33)]) {
      assert.throws(
        () => taprootTweak(s, bad),
        (e: unknown) => e instanceof InputError && e.check === 'InvalidMerkleRoot'
      );
    }
    const once = taprootTweak(s);
    assert.throws(
      () => taprootTweak(once),
      (e: unknown) => e instanceof InputError && e.check === 'AlreadyTweaked'
    );
    assert.throws(() => taprootTweak({} as KeyShare), InputError);
  });

  test('t ≥ q (BIP-341 "raise ValueError"): noble’s rejection becomes InputError InvalidTapTweak', async () => {
    // No internal key with t ≥ q is known (probability ~2^-128), so the helper that hashes and
    // range-checks is replaced by one that throws the way noble does.
    const [share] = await simulate.keygen('bip340', { threshold: 2, parties: 2 });
    const overflow = () => {
      throw new Error('invalid TapTweak hash');
    };
    for (const helpers of [
      { frostTweakPublic: overflow, frostTweakSecret: overflow },
      {
        frostTweakPublic: (p: unknown) => p,
        frostTweakSecret: overflow,
      },
    ]) {
      assert.throws(
        () => taprootTweakWith(helpers as never, share as KeyShare),
        (e: unknown) =>
          e instanceof InputError &&
          e.check === 'InvalidTapTweak' &&
          (e.cause as Error).message === 'invalid TapTweak hash'
      );
    }
  });
});
