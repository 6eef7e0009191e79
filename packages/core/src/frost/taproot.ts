/**
 * BIP-341 Taproot tweak of a shared BIP-340 key (docs/protocols/frost.md, "Taproot").
 *
 * A Taproot output commits to the *output key* `Q = P + t·G`, where `P` is the even-y internal key
 * and `t = int(TaggedHash("TapTweak", x(P) ‖ merkleRoot))`. Key-path spending needs a BIP-340
 * signature under `x(Q)`, so every holder turns its share of the internal key into a share of `Q`:
 * `s_i ← (±s_i) + t` and `PK_i ← ±PK_i + t·G` (the sign flips exactly when `P` has odd y). The
 * tweak is the same for every holder and Lagrange coefficients of any signer set sum to one, so any
 * t of the tweaked shares sign under `Q` with the ordinary FROST session; `Q` itself may have odd
 * y, which FROST's BIP-340 suite already handles at signing time.
 *
 * The arithmetic is noble's own (`frostTweakPublic` / `frostTweakSecret`, the functions noble's
 * `schnorr_FROST` DKG applies to its output), reached through `__TEST` because noble exports them
 * only there. @noble/curves is pinned exactly; if a release drops them, this file stops compiling
 * (the tests also pin the result against BIP-341's vectors and two independent implementations).
 *
 * Order matters: BIP-32 derivation (hd.ts) works on the untweaked key, so derive first and tweak
 * last. A tweaked share keeps the parent's chain code and path; never derive from it, and never
 * persist it in place of the untweaked share (tweak again when needed: it is cheap).
 * @module
 */
import { __TEST as nobleSecp256k1, schnorr_FROST } from '@noble/curves/secp256k1.js';
import { InputError } from '../errors.ts';
import { groupOfScheme, KeyShare, shareSecret, withKeyMaterial } from '../keyshare.ts';

/** noble's tweak helpers (injectable for the tests of the failure path). */
export type TaprootTweakHelpers = Pick<
  typeof nobleSecp256k1,
  'frostTweakPublic' | 'frostTweakSecret'
>;

/** Shares produced by `taprootTweak`, so that a second tweak is refused (in this process). */
const tweaked = new WeakSet<KeyShare>();

/**
 * A share of the BIP-341 output key of `share`'s key: `merkleRoot` absent means key-path only
 * (BIP-86: `t = TaggedHash("TapTweak", x(P))`), otherwise the 32-byte root of the script tree.
 * Every holder applies it to its own share; any t of the results sign with
 * `simulate.sign('bip340', …)` / `frostSign` under `x(Q)` (`result.publicKey`).
 *
 * Throws `InputError`: `check: 'WrongScheme'` for a non-`bip340` share, `'InvalidMerkleRoot'` for a
 * root that is not 32 bytes, `'AlreadyTweaked'` for a share this function returned,
 * `'InvalidTapTweak'` when BIP-341 rejects the key (`t ≥ q` or `Q` at infinity; probability about
 * 2^-128: use another key).
 */
export function taprootTweak(share: KeyShare, merkleRoot?: Uint8Array): KeyShare {
  return taprootTweakWith(nobleSecp256k1, share, merkleRoot);
}

/** @internal `taprootTweak` with the noble helpers passed in (tests inject a failing one). */
export function taprootTweakWith(
  helpers: TaprootTweakHelpers,
  share: KeyShare,
  merkleRoot?: Uint8Array
): KeyShare {
  if (!(share instanceof KeyShare)) throw new InputError('taprootTweak: expected a KeyShare');
  if (share.scheme !== 'bip340') {
    throw new InputError(
      `taprootTweak: a ${share.scheme} key has no Taproot form; only bip340 keys do`,
      { check: 'WrongScheme' }
    );
  }
  if (merkleRoot !== undefined && (!(merkleRoot instanceof Uint8Array) || merkleRoot.length !== 32))
    throw new InputError('taprootTweak: the merkle root must be 32 bytes (or absent)', {
      check: 'InvalidMerkleRoot',
    });
  if (tweaked.has(share)) {
    throw new InputError('taprootTweak: this share is already tweaked', {
      check: 'AlreadyTweaked',
      hints: ['tweak the untweaked share once; BIP-341 tweaks the internal key only'],
    });
  }
  const g = groupOfScheme(share.scheme);
  const idOf = (id: number) => schnorr_FROST.Identifier.fromNumber(id);
  const verifyingShares: Record<string, Uint8Array> = {};
  for (const id of share.parties) verifyingShares[idOf(id)] = share.verificationShare(id);
  const pub = {
    signers: { min: share.threshold, max: share.parties.length },
    commitments: [share.groupKey],
    verifyingShares,
  };
  // noble's convention: `undefined` disables the tweak, the empty root is BIP-86's key-path only.
  const root = merkleRoot ?? new Uint8Array(0);
  const signingShare = g.encodeScalar(shareSecret(share));
  let outPub: ReturnType<TaprootTweakHelpers['frostTweakPublic']>;
  let outSecret: ReturnType<TaprootTweakHelpers['frostTweakSecret']>;
  try {
    outPub = helpers.frostTweakPublic(pub, root);
    outSecret = helpers.frostTweakSecret(
      { identifier: idOf(share.partyId), signingShare },
      pub,
      root
    );
  } catch (e) {
    // noble throws only when BIP-341 has no output key: t ≥ q ("raise ValueError") or Q = O.
    throw new InputError(
      'taprootTweak: BIP-341 rejects this internal key (the TapTweak hash is not below the group order, or the output key is at infinity)',
      {
        check: 'InvalidTapTweak',
        cause: e,
        hints: ['this happens with probability about 2^-128: use another key or merkle root'],
      }
    );
  } finally {
    signingShare.fill(0);
  }
  const groupKey = outPub.commitments[0];
  if (!groupKey) throw new InputError('taprootTweak: no tweaked group key');
  const secretBytes = outSecret.signingShare;
  let secret: bigint;
  try {
    secret = g.decodeScalar(secretBytes, 'tweaked share', true);
  } catch (e) {
    throw new InputError('taprootTweak: the tweaked share is zero', {
      check: 'InvalidTapTweak',
      cause: e,
    });
  } finally {
    secretBytes.fill(0);
  }
  const result = withKeyMaterial(share, {
    chainCode: share.chainCode,
    groupKey: g.encodePoint(g.decodePoint(groupKey, 'tweaked group key')),
    verificationShares: share.parties.map((id) => {
      const X = outPub.verifyingShares[idOf(id)];
      if (!X) throw new InputError(`taprootTweak: no tweaked verification share for ${id}`);
      return g.encodePoint(g.decodePoint(X, 'tweaked verification share'));
    }),
    secret,
    // bip340 keys have no pairwise setups; FROST records no bans, but keep any on record.
    banned: share.bannedPeers,
    path: [...share.path],
  });
  // Cheap (n small) and catches any disagreement between the secret and public tweaks.
  result.validate();
  tweaked.add(result);
  return result;
}
