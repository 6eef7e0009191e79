/**
 * Reshare (docs/protocols/reshare.md): refresh, recovery of a lost share, threshold and party-set
 * changes, for FROST keys (Ed25519, BIP-340) and DKLs23 ECDSA keys; epochs never mix; per-round
 * tampering aborts naming the cheater and leaves the old epoch working.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type Envelope, InputError, KeyShare, type PartyId, ProtocolAbort } from '@tessera/core';
import { simulate, type Tamper } from '@tessera/core/testing';
import fc from 'fast-check';
import { groupOfScheme, pairwiseSetup, shareSecret } from '../src/keyshare.ts';
import {
  hex,
  recoverEcdsaKeyWithViem,
  utf8,
  verifyBip340WithLibsecp,
  verifyBip340WithNoble,
  verifyEcdsaSha256WithNode,
  verifyEd25519WithNode,
} from './helpers.ts';
import { joinFields, splitFields } from './wire.ts';

type FrostScheme = 'ed25519' | 'bip340';

/** All subsets of `items` of size `k`. */
function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

async function signsUnder(scheme: FrostScheme, shares: KeyShare[], pk: Uint8Array): Promise<void> {
  const msg = utf8(`reshare check ${hex(shares[0]?.epoch ?? new Uint8Array())}`);
  const sig = await simulate.sign(scheme, shares, msg);
  if (scheme === 'ed25519') assert.ok(verifyEd25519WithNode(pk, msg, sig));
  else {
    const m32 = createHash('sha256').update(msg).digest();
    const sig32 = await simulate.sign(scheme, shares, m32);
    assert.ok(verifyBip340WithNoble(pk, msg, sig));
    assert.ok(verifyBip340WithLibsecp(pk, m32, sig32));
  }
}

/** Every t-subset of `shares` signs a message that verifies under `pk` (chain's key form). */
async function everySubsetSigns(scheme: FrostScheme, shares: KeyShare[], pk: Uint8Array) {
  const t = (shares[0] as KeyShare).threshold;
  for (const set of subsets(shares, t)) await signsUnder(scheme, set, pk);
}

/**
 * `b` holds the key of `a` in a new epoch. The key id changes only when a lost share was re-issued
 * (a current holder got a new share without dealing), else it stays.
 */
function samePublicKey(a: KeyShare[], b: KeyShare[], keyId: 'same' | 'new' = 'same'): void {
  for (const s of b) {
    assert.equal(hex(s.groupKey), hex((a[0] as KeyShare).groupKey));
    if (keyId === 'same') assert.equal(hex(s.keyId), hex((a[0] as KeyShare).keyId));
    else assert.notEqual(hex(s.keyId), hex((a[0] as KeyShare).keyId));
    assert.equal(hex(s.keyId), hex((b[0] as KeyShare).keyId));
    assert.equal(hex(s.chainCode), hex((a[0] as KeyShare).chainCode));
    assert.notEqual(hex(s.epoch), hex((a[0] as KeyShare).epoch));
    assert.equal(hex(s.epoch), hex((b[0] as KeyShare).epoch));
    KeyShare.fromBytes(s.toBytes()).validate();
  }
}

const mixRefused = (p: Promise<unknown>) =>
  assert.rejects(p, (e: unknown) => e instanceof InputError && e.check === 'EpochMismatch');

for (const scheme of ['ed25519', 'bip340'] as const) {
  describe(`reshare of ${scheme} keys`, () => {
    let shares: KeyShare[];
    let pk: Uint8Array;
    before(async () => {
      shares = await simulate.keygen(scheme, { threshold: 2, parties: 3 });
      pk = (shares[0] as KeyShare).publicKey;
    });

    test('refresh: same key, new epoch, new shares; every pair signs; old and new do not mix', async () => {
      const fresh = await simulate.refresh(shares);
      samePublicKey(shares, fresh);
      for (const [k, s] of fresh.entries())
        assert.notEqual(shareSecret(s), shareSecret(shares[k] as KeyShare));
      await everySubsetSigns(scheme, fresh, pk);
      // Either order: the share of the older generation (party 1's) is the one named.
      for (const mix of [
        [shares[0], fresh[1]],
        [fresh[1], shares[0]],
      ] as KeyShare[][]) {
        await assert.rejects(
          simulate.sign(scheme, mix, utf8('x')),
          (e: unknown) => e instanceof InputError && e.check === 'EpochMismatch' && e.culprit === 1
        );
      }
      assert.deepEqual(
        fresh.map((s) => s.generation),
        [1, 1, 1]
      );
      // A refresh needs every holder.
      await assert.rejects(simulate.refresh([shares[0], shares[1]] as KeyShare[]), InputError);
    });

    test('recover a lost share: holders 1 and 3 issue a new share to party 2; the key id stays unless a reissue is asked for', async () => {
      const fresh = await simulate.reshare([shares[0], shares[2]] as KeyShare[], {
        threshold: 2,
        parties: [1, 2, 3],
      });
      assert.deepEqual(
        fresh.map((s) => s.partyId),
        [1, 2, 3]
      );
      samePublicKey(shares, fresh, 'same');
      await everySubsetSigns(scheme, fresh, pk);
      const reissued = await simulate.reshare([shares[0], shares[2]] as KeyShare[], {
        threshold: 2,
        parties: [1, 2, 3],
        reissue: true,
      });
      samePublicKey(shares, reissued, 'new');
      await everySubsetSigns(scheme, reissued, pk);
    });

    test('change: 2-of-2 → 2-of-3 with a recovery party, then 2-of-3 → 3-of-5', async () => {
      const two = await simulate.keygen(scheme, { threshold: 2, parties: 2 });
      const key = (two[0] as KeyShare).publicKey;
      const three = await simulate.reshare(two, { threshold: 2, parties: [1, 2, 3] });
      samePublicKey(two, three);
      await everySubsetSigns(scheme, three, key);
      const five = await simulate.reshare([three[0], three[2]] as KeyShare[], {
        threshold: 3,
        parties: [1, 2, 3, 4, 5],
      });
      // Party 2 holds a share of the 2-of-3 key but does not deal: the key id stays all the same.
      samePublicKey(two, five);
      assert.equal((five[0] as KeyShare).threshold, 3);
      assert.equal((five[0] as KeyShare).generation, 2);
      await everySubsetSigns(scheme, five, key);
      // Two holders of a 3-of-5 key cannot sign.
      await assert.rejects(simulate.sign(scheme, five.slice(0, 2), utf8('x')), InputError);
    });
  });
}

test('property: random old and new configurations keep the key (Ed25519)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc
        .record({ n: fc.integer({ min: 2, max: 4 }), n2: fc.integer({ min: 2, max: 5 }) })
        .chain(({ n, n2 }) =>
          fc.record({
            n: fc.constant(n),
            t: fc.integer({ min: 2, max: n }),
            newParties: fc.uniqueArray(fc.integer({ min: 1, max: 9 }), {
              minLength: n2,
              maxLength: n2,
            }),
            t2: fc.integer({ min: 2, max: n2 }),
            pick: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          })
        ),
      async ({ n, t, newParties, t2, pick }) => {
        const shares = await simulate.keygen('ed25519', { threshold: t, parties: n });
        let dealers = shares.filter((_, k) => pick[k]);
        if (dealers.length < t) dealers = shares.slice(0, t);
        const fresh = await simulate.reshare(dealers, { threshold: t2, parties: newParties });
        assert.deepEqual(
          fresh.map((s) => s.partyId),
          [...newParties].sort((a, b) => a - b)
        );
        // The key id changes only on request, whoever deals.
        samePublicKey(shares, fresh, 'same');
        await signsUnder('ed25519', fresh.slice(-t2), (shares[0] as KeyShare).publicKey);
      }
    ),
    { numRuns: 12 }
  );
});

test('generation is stored (format v4); v3 shares load as generation 0', async () => {
  const [s] = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
  const [fresh] = await simulate.refresh(
    await simulate.keygen('ed25519', { threshold: 2, parties: 2 })
  );
  assert.equal(KeyShare.fromBytes((fresh as KeyShare).toBytes()).generation, 1);
  const fields = splitFields((s as KeyShare).toBytes().subarray(4));
  fields[0] = new Uint8Array([0, 0, 0, 3]);
  const v3 = new Uint8Array([
    ...(s as KeyShare).toBytes().subarray(0, 4),
    ...joinFields(fields.slice(0, 14)),
  ]);
  const loaded = KeyShare.fromBytes(v3);
  assert.equal(loaded.generation, 0);
  assert.equal(hex(loaded.toBytes()), hex((s as KeyShare).toBytes()));
});

describe('reshare input checks', () => {
  test('too few dealers, a dealer of another epoch, bad thresholds are refused', async () => {
    const shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    await assert.rejects(
      simulate.reshare([shares[0]] as KeyShare[], { threshold: 2, parties: [1, 2] }),
      /at least 2 dealers/
    );
    await assert.rejects(
      simulate.reshare(shares, { threshold: 4, parties: [1, 2, 3] }),
      /threshold/
    );
    const fresh = await simulate.refresh(shares);
    await mixRefused(
      simulate.reshare([shares[0], fresh[1]] as KeyShare[], { threshold: 2, parties: [1, 2] })
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Tampering: one participant rewrites one field of one of its messages.

interface Attack {
  name: string;
  cheater: PartyId;
  round: number;
  kind: 'broadcast' | 'p2p';
  field: number;
  edit: (f: Uint8Array) => Uint8Array;
  check: string;
  /** `null` when the check cannot single anyone out (echo among more than two participants). */
  culprit: PartyId | null;
}

const flip = (f: Uint8Array, at = 0): Uint8Array => {
  const b = f.slice();
  b[at] = (b[at] as number) ^ 1;
  return b;
};

function tamperWith(a: Attack): Tamper {
  return (e: Envelope) => {
    if (e.from !== a.cheater || e.round !== a.round || (e.to === 0) !== (a.kind === 'broadcast'))
      return undefined;
    const fields = splitFields(e.body);
    fields[a.field] = a.edit(fields[a.field] as Uint8Array);
    return { ...e, body: joinFields(fields) };
  };
}

// Dealers 1 and 3 (holders of a 2-of-3 key), new holders 1..4 at threshold 3: party 1 is a dealer
// and a new holder, party 3 a dealer only, party 4 a new holder only. A changed round-1 commitment
// reaches everyone alike, but the cheater's own echo E1 was computed from its real one: the echo
// check fires first, and with four participants it cannot say who lied (docs/protocols/common.md).
const ATTACKS: Attack[] = [
  {
    name: 'dealer commitment C flipped (r1)',
    cheater: 3,
    round: 1,
    kind: 'broadcast',
    field: 1,
    edit: flip,
    check: 'EchoMismatch',
    culprit: null,
  },
  {
    name: 'non-dealer sends a commitment (r1)',
    cheater: 4,
    round: 1,
    kind: 'broadcast',
    field: 1,
    edit: () => new Uint8Array(32),
    check: 'MalformedMessage',
    culprit: 4,
  },
  {
    name: 'nonce w truncated (r1)',
    cheater: 4,
    round: 1,
    kind: 'broadcast',
    field: 0,
    edit: (f) => f.slice(1),
    check: 'MalformedMessage',
    culprit: 4,
  },
  {
    name: 'dealer swaps H_0 and H_1 after committing (r2)',
    cheater: 1,
    round: 2,
    kind: 'broadcast',
    field: 0,
    // Valid points in another order: only the commitment can tell (a flipped bit could also
    // leave the curve, which aborts as BadPoint instead).
    edit: (f) => {
      const b = f.slice();
      b.set(f.subarray(4 + 33, 4 + 66), 4);
      b.set(f.subarray(4, 4 + 33), 4 + 33);
      return b;
    },
    check: 'CommitmentOpen',
    culprit: 1,
  },
  {
    name: 'dealer salt flipped (r2)',
    cheater: 3,
    round: 2,
    kind: 'broadcast',
    field: 1,
    edit: flip,
    check: 'CommitmentOpen',
    culprit: 3,
  },
  {
    name: 'echo E1 flipped (r2)',
    cheater: 4,
    round: 2,
    kind: 'broadcast',
    field: 0,
    edit: flip,
    check: 'EchoMismatch',
    culprit: null,
  },
  {
    name: 'dealer share y for a holder changed (r2)',
    cheater: 3,
    round: 2,
    kind: 'p2p',
    field: 0,
    edit: (f) => flip(f, 31),
    check: 'FeldmanShare',
    culprit: 3,
  },
  {
    name: 'dealer share y truncated (r2)',
    cheater: 1,
    round: 2,
    kind: 'p2p',
    field: 0,
    edit: (f) => f.slice(1),
    check: 'MalformedMessage',
    culprit: 1,
  },
  {
    name: 'echo E2 flipped (r3)',
    cheater: 3,
    round: 3,
    kind: 'broadcast',
    field: 0,
    edit: flip,
    check: 'EchoMismatch',
    culprit: null,
  },
  {
    name: 'dealer H_0 replaced by an off-curve x (r2)',
    cheater: 3,
    round: 2,
    kind: 'broadcast',
    field: 0,
    edit: (f) => {
      const b = f.slice();
      b.fill(0xff, 5, 4 + 33); // x ≥ p: not a field element
      return b;
    },
    check: 'BadPoint',
    culprit: 3,
  },
  {
    name: 'new verification share X flipped (r4)',
    cheater: 4,
    round: 4,
    kind: 'broadcast',
    field: 0,
    edit: (f) => flip(f, 5),
    check: 'ShareConfirm',
    culprit: 4,
  },
  {
    name: 'proof of knowledge flipped (r4)',
    cheater: 2,
    round: 4,
    kind: 'broadcast',
    field: 1,
    edit: (f) => flip(f, 40),
    check: 'PoKInvalid',
    culprit: 2,
  },
];

describe('reshare under tampering (bip340; dealers 1, 3 → holders 1..4, t = 3)', () => {
  let shares: KeyShare[];
  before(async () => {
    shares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
  });

  for (const a of ATTACKS) {
    test(`${a.name}: aborts naming ${a.culprit ?? 'no one'}; the old epoch still signs`, async () => {
      await assert.rejects(
        simulate.reshare([shares[0], shares[2]] as KeyShare[], {
          threshold: 3,
          parties: [1, 2, 3, 4],
          tamper: tamperWith(a),
        }),
        (e: unknown) => {
          assert.ok(e instanceof ProtocolAbort, String(e));
          assert.equal(e.check, a.check, e.message);
          assert.equal(e.culprit, a.culprit);
          return true;
        }
      );
      await signsUnder(
        'bip340',
        [shares[1], shares[2]] as KeyShare[],
        (shares[0] as KeyShare).publicKey
      );
    });
  }

  test('a dealer that deals something other than its own share is caught (DealerConstant)', async () => {
    const honest = shares[2] as KeyShare;
    const g = groupOfScheme('bip340');
    // Party 3 with a wrong secret but its real public data: its H_0 cannot equal λ·X_3.
    const forged = new KeyShare({
      scheme: 'bip340',
      partyId: 3,
      threshold: honest.threshold,
      parties: [...honest.parties],
      keyId: honest.keyId,
      epoch: honest.epoch,
      chainCode: honest.chainCode,
      groupKey: honest.groupKey,
      verificationShares: honest.parties.map((id) => honest.verificationShare(id)),
      secret: g.mod(shareSecret(honest) + 1n),
    });
    await assert.rejects(
      simulate.reshare([shares[0] as KeyShare, forged], { threshold: 2, parties: [1, 2, 3] }),
      (e: unknown) => e instanceof ProtocolAbort && e.check === 'DealerConstant' && e.culprit === 3
    );
  });
});

/**
 * One 2-of-2 ECDSA key for the two ECDSA suites below (a key generation takes seconds here).
 * Neither changes it: a reshare or refresh makes new shares, a tampered one aborts and the tests
 * assert that the old epoch still signs.
 */
let ecdsa2of2: Promise<KeyShare[]> | undefined;
const sharedEcdsa2of2 = () => {
  ecdsa2of2 ??= simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
  return ecdsa2of2;
};

describe('reshare of ecdsa keys (DKLs23 pairwise setups regenerated)', () => {
  test('refresh, add a recovery party, recover a lost share; every pair signs; epochs never mix', async () => {
    const two = await sharedEcdsa2of2();
    const pk = (two[0] as KeyShare).groupKey;
    const check = async (set: KeyShare[]) => {
      const message = utf8(`pay ${hex(set[0]?.epoch ?? new Uint8Array())}`);
      const digest = createHash('sha256').update(message).digest();
      const sig = await simulate.sign('ecdsa', set, digest);
      assert.ok(verifyEcdsaSha256WithNode(pk, message, sig.der));
      assert.ok(secp256k1.verify(sig.compact, digest, pk, { prehash: false }));
      assert.equal(hex(await recoverEcdsaKeyWithViem(digest, sig.compact, sig.recovery)), hex(pk));
    };
    const refreshed = await simulate.refresh(two);
    samePublicKey(two, refreshed);
    await check(refreshed);
    // The OT setups and zero-sharing seeds were rebuilt.
    const before = pairwiseSetup(two[0] as KeyShare, 2);
    const after = pairwiseSetup(refreshed[0] as KeyShare, 2);
    assert.notEqual(hex(after.sender.setupId), hex(before.sender.setupId));
    assert.notEqual(hex(after.receiver.setupId), hex(before.receiver.setupId));
    assert.notEqual(hex(after.zeroSeed), hex(before.zeroSeed));
    await mixRefused(
      simulate.sign('ecdsa', [two[0], refreshed[1]] as KeyShare[], new Uint8Array(32))
    );
    const three = await simulate.reshare(refreshed, { threshold: 2, parties: [1, 2, 3] });
    samePublicKey(two, three);
    for (const set of subsets(three, 2)) await check(set);
    // Party 1 loses its share; 2 and 3 issue it a new one, under a new key id (the old one is retired).
    const recovered = await simulate.reshare([three[1], three[2]] as KeyShare[], {
      threshold: 2,
      parties: [1, 2, 3],
      reissue: true,
    });
    samePublicKey(two, recovered, 'new');
    // A share from before the recovery names its holder as stale, whatever the order.
    await assert.rejects(
      simulate.sign('ecdsa', [recovered[0], three[2]] as KeyShare[], new Uint8Array(32)),
      (e: unknown) => e instanceof InputError && e.check === 'EpochMismatch' && e.culprit === 3
    );
    for (const set of subsets(recovered, 2)) await check(set);
  });
});

describe('reshare of ecdsa keys under tampering with the pairwise setup (2-of-2 refresh)', () => {
  let two: KeyShare[];
  before(async () => {
    two = await sharedEcdsa2of2();
  });
  const offCurve = (f: Uint8Array): Uint8Array => {
    const b = f.slice();
    b.fill(0xff, 5, 4 + 33); // P_0^0 with x ≥ p
    return b;
  };
  const pairwiseAttacks: Attack[] = [
    {
      name: 'base-OT message 1 with a point off the curve (r2)',
      cheater: 2,
      round: 2,
      kind: 'p2p',
      field: 2,
      edit: offCurve,
      check: 'BadPoint',
      culprit: 2,
    },
    {
      name: 'zero-seed contribution truncated (r2)',
      cheater: 1,
      round: 2,
      kind: 'p2p',
      field: 1,
      edit: (f) => f.slice(1),
      check: 'MalformedMessage',
      culprit: 1,
    },
    // enc(msg2, enc(list(T), list(τ ‖ Π))): the last byte is inside Π_63.
    {
      name: 'PPRF proof Π flipped (r3)',
      cheater: 1,
      round: 3,
      kind: 'p2p',
      field: 1,
      edit: (f) => flip(f, f.length - 1),
      check: 'PprfProof',
      culprit: 1,
    },
    {
      name: 'base-OT message 2 with a point off the curve (r3)',
      cheater: 2,
      round: 3,
      kind: 'p2p',
      field: 0,
      edit: offCurve,
      check: 'BadPoint',
      culprit: 2,
    },
    // enc(X, πx, list(u32be(peer) ‖ H256("ote/confirm", …))): the last byte is in the hash.
    {
      name: 'setup confirmation flipped (r4)',
      cheater: 2,
      round: 4,
      kind: 'broadcast',
      field: 2,
      edit: (f) => flip(f, f.length - 1),
      check: 'SetupConfirm',
      culprit: 2,
    },
  ];
  for (const a of pairwiseAttacks) {
    test(`${a.name}: aborts naming ${a.culprit}; the old epoch still signs`, async () => {
      await assert.rejects(simulate.refresh(two, { tamper: tamperWith(a) }), (e: unknown) => {
        assert.ok(e instanceof ProtocolAbort, String(e));
        assert.equal(e.check, a.check, e.message);
        assert.equal(e.culprit, a.culprit);
        return true;
      });
      const digest = new Uint8Array(32).fill(3);
      const sig = await simulate.sign('ecdsa', two, digest);
      assert.ok(
        secp256k1.verify(sig.compact, digest, (two[0] as KeyShare).groupKey, { prehash: false })
      );
    });
  }
});
