/**
 * Verifiable backups (docs/protocols/pve.md): round trips in every scheme and KEM, a mixed batch,
 * every field of a ciphertext tampered, wrong statements, the soundness of the cut-and-choose
 * measured with fewer repetitions, and decryption that survives spoiled unopened rows.
 * Decrypted shares are checked against public shares computed with @noble/curves directly.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToNumberBE, bytesToNumberLE } from '@noble/curves/utils.js';
import {
  decodeBackupKey,
  encodeBackupKey,
  InputError,
  type KeyShare,
  PVE_REPETITIONS,
  type PveKeyPair,
  pveDecrypt,
  pveEncrypt,
  pveInspect,
  pveKeygen,
  pveLabel,
  pveLabelOf,
  pveRestoreShare,
  pveSealShare,
  pveVerify,
  type Scheme,
} from '@tessera/core';
import {
  pveDecryptRowsForTests as decryptRows,
  pveEncryptScalarsForTests as encryptScalars,
  pveKemDecryptForTests as kemDecrypt,
  pveKemEncryptForTests as kemEncrypt,
  shareSecretForTests,
  simulate,
  pveVerifyRowsForTests as verifyRows,
} from '@tessera/core/testing';
import fc from 'fast-check';

const throwsCheck = (f: () => unknown, check: string | RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    if (typeof check === 'string') assert.equal(e.check, check, e.message);
    else assert.match(String(e.check), check, e.message);
    return true;
  });

/** The public share of a decrypted scalar, computed without Tessera's group layer. */
function publicOf(scheme: Scheme, x: Uint8Array): Uint8Array {
  if (scheme === 'ed25519') return ed25519.Point.BASE.multiply(bytesToNumberLE(x)).toBytes();
  return secp256k1.Point.BASE.multiply(bytesToNumberBE(x)).toBytes(true);
}

/** XORs `mask` into byte `at`. */
function flip(b: Uint8Array, at: number, mask: number): void {
  b[at] = (b[at] as number) ^ mask;
}

/** A deterministic byte source (tests only). */
function seededRng(seed: number) {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const h = createHash('sha256').update(`pve-test/${seed}/${counter++}`).digest();
      out.set(h.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

const shares = new Map<Scheme, KeyShare[]>();
const keys: Record<'x25519' | 'p256', PveKeyPair> = {
  x25519: pveKeygen('x25519'),
  p256: pveKeygen('p256'),
};

before(async () => {
  for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const)
    shares.set(scheme, await simulate.keygen(scheme, { threshold: 2, parties: 2 }));
});

const shareOf = (scheme: Scheme, k = 0) => (shares.get(scheme) as KeyShare[])[k] as KeyShare;
const X = (s: KeyShare) => s.verificationShare(s.partyId);

describe('round trips', () => {
  for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
    for (const kem of ['x25519', 'p256'] as const) {
      test(`${scheme} share to a ${kem} backup key: verify, decrypt, x·G = X_i`, () => {
        const s = shareOf(scheme);
        const label = pveLabelOf(s);
        const ct = pveEncrypt(s, keys[kem], label);
        pveVerify(ct, X(s), keys[kem], label);
        const x = pveDecrypt(ct, keys[kem], label, X(s));
        assert.deepEqual(publicOf(scheme, x), X(s));
        const expected = shareSecretForTests(s);
        assert.equal(scheme === 'ed25519' ? bytesToNumberLE(x) : bytesToNumberBE(x), expected);
        const h = pveInspect(ct);
        assert.equal(h.repetitions, PVE_REPETITIONS);
        assert.deepEqual(h.publicShares, [X(s)]);
        assert.equal(encodeBackupKey(h.backupKey), encodeBackupKey(keys[kem]));
      });
    }
  }

  test('a batch of keys on both curves in one ciphertext', () => {
    const batch = [shareOf('ecdsa'), shareOf('ed25519'), shareOf('bip340', 1)];
    const label = pveLabelOf(batch);
    const ct = pveEncrypt(batch, keys.x25519, label);
    const Xs = batch.map(X);
    pveVerify(ct, Xs, keys.x25519, label);
    const xs = pveDecrypt(ct, keys.x25519, label, Xs);
    assert.deepEqual(
      xs.map((x, j) => publicOf((batch[j] as KeyShare).scheme, x)),
      Xs
    );
    // The statement is the whole ordered list: a subset or another order is refused.
    throwsCheck(() => pveVerify(ct, Xs.slice(0, 2), keys.x25519, label), 'PveMismatch');
    throwsCheck(
      () => pveVerify(ct, [Xs[1], Xs[0], Xs[2]] as Uint8Array[], keys.x25519, label),
      'PveMismatch'
    );
  });

  test('an HSM-style decryption key (an ECDH function, P-256 with CKD_NULL) decrypts', () => {
    const s = shareOf('ecdsa');
    const label = pveLabelOf(s);
    const ct = pveEncrypt(s, keys.p256, label);
    const x = pveDecrypt(
      ct,
      {
        kem: 'p256',
        publicKey: keys.p256.publicKey,
        ecdh: (E) => p256.getSharedSecret(keys.p256.privateKey, E, true).subarray(1),
      },
      label,
      X(s)
    );
    assert.deepEqual(publicOf('ecdsa', x), X(s));
    // A failing HSM is reported as itself, not as a ciphertext no repetition of which decrypts.
    const hsmDown = new Error('token removed');
    assert.throws(
      () =>
        pveDecrypt(
          ct,
          {
            kem: 'p256',
            publicKey: keys.p256.publicKey,
            ecdh: () => {
              throw hsmDown;
            },
          },
          label,
          X(s)
        ),
      (e) => e === hsmDown
    );
  });

  test('property: random shares and labels round trip', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: secp256k1.Point.Fn.ORDER - 1n }),
        fc.uint8Array({ maxLength: 200 }),
        fc.boolean(),
        (x, label, ed) => {
          const order = ed ? ed25519.Point.Fn.ORDER : secp256k1.Point.Fn.ORDER;
          const xr = (x % (order - 1n)) + 1n;
          const pub = ed
            ? ed25519.Point.BASE.multiply(xr).toBytes()
            : secp256k1.Point.BASE.multiply(xr).toBytes(true);
          const ct = encryptScalars([xr], [pub], keys.x25519, label, { kappa: 16 });
          verifyRows(ct, [pub], keys.x25519, label, 16);
          const [back] = decryptRows(ct, keys.x25519, label, [pub], 16);
          assert.equal(
            ed ? bytesToNumberLE(back as Uint8Array) : bytesToNumberBE(back as Uint8Array),
            xr
          );
        }
      ),
      { numRuns: 25 }
    );
  });

  test('property: the base encryption (Edwards-form X25519, tabled P-256) opens with the plain ECDH of the private key', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        (sk, seed, m, nist) => {
          const kem = nist ? 'p256' : 'x25519';
          const kp = pveKeygen(kem, (n) =>
            n === 32 ? sk : new Uint8Array([...sk, ...sk]).subarray(0, n)
          );
          const aad = new Uint8Array([1, 2]);
          const ct = kemEncrypt(kp, m, aad, seed);
          if (!nist) {
            // The ephemeral key is X25519's public key of the seed's secret, byte for byte.
            const E = ct.subarray(0, 32);
            const dh = x25519.getSharedSecret(kp.privateKey, E);
            assert.ok(dh.some((b) => b !== 0));
          }
          assert.deepEqual(kemDecrypt(kp, kp.publicKey, ct, aad), m);
        }
      ),
      { numRuns: 300 }
    );
  });

  test('frozen: a fixed share, key and randomness give these bytes (the format is stable)', () => {
    const kp = pveKeygen('x25519', seededRng(1));
    const x = 0x1234567890abcdefn;
    const pub = secp256k1.Point.BASE.multiply(x).toBytes(true);
    const label = pveLabel({
      keyId: new Uint8Array(32).fill(1),
      partyId: 1,
      epoch: new Uint8Array(32).fill(2),
      scheme: 'ecdsa',
    });
    const ct = encryptScalars([x], [pub], kp, label, { rng: seededRng(2) });
    assert.equal(ct.length, 14426);
    assert.equal(createHash('sha256').update(ct).digest('hex'), FROZEN_SHA256);
    pveVerify(ct, pub, kp, label);
  });
});

// Recorded once from the implementation of docs/protocols/pve.md; a change here is a format change.
const FROZEN_SHA256 = 'c55c315761f2e4b878fed71689f9112df23495fe55e17a776ad743cb16f3b90b';

describe('refusals', () => {
  let s: KeyShare;
  let label: Uint8Array;
  let ct: Uint8Array;
  before(() => {
    s = shareOf('ecdsa');
    label = pveLabelOf(s);
    ct = pveEncrypt(s, keys.x25519, label);
  });

  test('a wrong public share, label or backup key fails', () => {
    throwsCheck(() => pveVerify(ct, X(shareOf('ecdsa', 1)), keys.x25519, label), 'PveMismatch');
    throwsCheck(
      () => pveVerify(ct, X(s), keys.x25519, pveLabelOf(shareOf('ecdsa', 1))),
      'PveProof'
    );
    throwsCheck(() => pveVerify(ct, X(s), keys.x25519, new Uint8Array(0)), 'PveProof');
    throwsCheck(() => pveVerify(ct, X(s), pveKeygen('x25519'), label), 'PveMismatch');
    throwsCheck(() => pveVerify(ct, X(s), keys.p256, label), 'PveMismatch');
    // Decrypting with another private key: its public key is not the one encrypted to.
    throwsCheck(() => pveDecrypt(ct, pveKeygen('x25519'), label, X(s)), 'PveMismatch');
  });

  test('malformed bytes: truncation, a trailing byte, another version, magic or KEM', () => {
    throwsCheck(
      () => pveVerify(ct.subarray(0, ct.length - 1), X(s), keys.x25519, label),
      'PveMalformed'
    );
    throwsCheck(
      () => pveVerify(new Uint8Array([...ct, 0]), X(s), keys.x25519, label),
      'PveMalformed'
    );
    const v2 = ct.slice();
    v2[4] = 2;
    throwsCheck(() => pveVerify(v2, X(s), keys.x25519, label), 'PveVersion');
    const magic = ct.slice();
    flip(magic, 0, 1);
    throwsCheck(() => pveVerify(magic, X(s), keys.x25519, label), 'PveMalformed');
    const kem = ct.slice();
    kem[5] = 9;
    throwsCheck(() => pveVerify(kem, X(s), keys.x25519, label), 'PveMalformed');
  });

  test('backup keys: strict text form, small-order X25519 points and off-curve P-256 refused', () => {
    assert.deepEqual(
      decodeBackupKey(encodeBackupKey(keys.x25519)).publicKey,
      keys.x25519.publicKey
    );
    assert.deepEqual(decodeBackupKey(encodeBackupKey(keys.p256)).publicKey, keys.p256.publicKey);
    for (const bad of [
      `x25519:${'00'.repeat(32)}`, // small order (the identity)
      `x25519:01${'00'.repeat(31)}`, // small order
      `x25519:${'AB'.repeat(32)}`, // upper-case hex
      `p256:02${'ff'.repeat(32)}`, // not on the curve
      `p256:04${'11'.repeat(32)}`,
      `ed25519:${'11'.repeat(32)}`,
      ` x25519:${'11'.repeat(32)}`,
    ])
      throwsCheck(() => decodeBackupKey(bad), 'PveBackupKey');
  });
});

describe('every field tampered', () => {
  // κ = 16 so that every repetition's every field can be changed within the suite's time; the
  // same code runs with κ = 128 (a sample of fields at full size follows).
  const K = 16;
  const pub = secp256k1.Point.BASE.multiply(777n).toBytes(true);
  const label = new Uint8Array([1, 2, 3]);
  const ct = encryptScalars([777n], [pub], keys.x25519, label, { kappa: K });
  const header = 4 + 2 + 32 + 2 + 1 + 33;
  const rowLen = 112;

  test('the header: magic, version, KEM, backup key, count, curve, public share', () => {
    for (let off = 0; off < header; off++) {
      const t = ct.slice();
      flip(t, off, 0x01);
      assert.throws(() => verifyRows(t, [pub], keys.x25519, label, K), InputError, `byte ${off}`);
    }
  });

  test('the challenge, each bit of it', () => {
    for (let bit = 0; bit < 8 * 16; bit++) {
      const t = ct.slice();
      flip(t, header + (bit >> 3), 1 << (bit & 7));
      assert.throws(() => verifyRows(t, [pub], keys.x25519, label, K), InputError, `bit ${bit}`);
    }
  });

  test("each repetition's opened seed or share, its randomness seed, and its sealed ciphertext (ephemeral key, body, tag)", () => {
    const challenge = ct.subarray(header, header + 16);
    for (let i = 0; i < K; i++) {
      const bit = ((challenge[i >> 3] as number) >> (i & 7)) & 1;
      // bit 0: r01(16) r02(16) E(32) body(32) tag(16); bit 1: x1(32) r1(16) E(32) body(16) tag(16)
      const fields =
        bit === 0
          ? [
              [0, 16],
              [16, 16],
              [32, 32],
              [64, 32],
              [96, 16],
            ]
          : [
              [0, 32],
              [32, 16],
              [48, 32],
              [80, 16],
              [96, 16],
            ];
      for (const [start, len] of fields as [number, number][]) {
        for (const at of [start, start + len - 1]) {
          const t = ct.slice();
          flip(t, header + 16 + i * rowLen + at, 0x80);
          assert.throws(
            () => verifyRows(t, [pub], keys.x25519, label, K),
            InputError,
            `row ${i} (bit ${bit}) byte ${at}`
          );
        }
      }
    }
  });

  test('κ = 128: a changed byte in the first, a middle and the last repetition fails', () => {
    const s = shareOf('ed25519');
    const lbl = pveLabelOf(s);
    const full = pveEncrypt(s, keys.x25519, lbl);
    const start = 4 + 2 + 32 + 2 + 1 + 32 + 16;
    for (const at of [start, start + 64 * rowLen + 40, full.length - 1]) {
      const t = full.slice();
      flip(t, at, 1);
      throwsCheck(() => pveVerify(t, X(s), keys.x25519, lbl), /^Pve(Proof|Malformed)$/);
    }
  });
});

describe('soundness', () => {
  const pub = ed25519.Point.BASE.multiply(4242n).toBytes();
  const label = new Uint8Array([7]);

  test('a cheat in every repetition passes verification about 2^-κ of the time (κ = 4), and then never decrypts', () => {
    const K = 4;
    const trials = 320;
    let passed = 0;
    for (let n = 0; n < trials; n++) {
      const sides = Array.from({ length: K }, () => (Math.random() < 0.5 ? 0 : 1) as 0 | 1);
      const ct = encryptScalars([4242n], [pub], keys.x25519, label, {
        kappa: K,
        cheat: (i) => sides[i] as 0 | 1,
      });
      try {
        verifyRows(ct, [pub], keys.x25519, label, K);
      } catch {
        continue;
      }
      passed++;
      throwsCheck(() => decryptRows(ct, keys.x25519, label, [pub], K), 'PveDecrypt');
    }
    // Expected 320/16 = 20; the bounds are ~3.5 standard deviations either side.
    assert.ok(passed >= 5 && passed <= 36, `passed ${passed} of ${trials}`);
  });

  test('κ = 128: a cheat in every repetition never passes', () => {
    for (let n = 0; n < 4; n++) {
      const ct = encryptScalars([4242n], [pub], keys.x25519, label, {
        cheat: () => (Math.random() < 0.5 ? 0 : 1),
      });
      throwsCheck(() => verifyRows(ct, [pub], keys.x25519, label), 'PveProof');
    }
  });

  test('spoiled sealed halves in some repetitions do not stop decryption: the first good one restores x', () => {
    const K = 6;
    let verified = 0;
    for (let n = 0; n < 200 && verified < 3; n++) {
      // Every repetition but the last is spoiled on a random side; the last is honest.
      const sides = Array.from({ length: K }, () => (Math.random() < 0.5 ? 0 : 1) as 0 | 1);
      const ct = encryptScalars([4242n], [pub], keys.x25519, label, {
        kappa: K,
        cheat: (i) => (i === K - 1 ? null : (sides[i] as 0 | 1)),
      });
      try {
        verifyRows(ct, [pub], keys.x25519, label, K);
      } catch {
        continue;
      }
      verified++;
      const [x] = decryptRows(ct, keys.x25519, label, [pub], K);
      assert.equal(bytesToNumberLE(x as Uint8Array), 4242n);
    }
    assert.ok(verified >= 1, 'some spoiled ciphertexts verified (expected ~1 in 32)');
  });
});

describe('restoring a whole share', () => {
  test('the sealed share opens, and is checked against the proven secret and the label', () => {
    const s = shareOf('ecdsa');
    const label = pveLabelOf(s);
    const pve = pveEncrypt(s, keys.x25519, label);
    const sealedShare = pveSealShare(s, keys.x25519, label);
    const back = pveRestoreShare({ pve, sealedShare }, keys.x25519, label, X(s));
    assert.deepEqual(back.toBytes(), s.toBytes());
    // The sealed share of another key with this key's proof: refused.
    const other = shareOf('ecdsa', 1);
    const foreign = pveSealShare(other, keys.x25519, label);
    throwsCheck(
      () => pveRestoreShare({ pve, sealedShare: foreign }, keys.x25519, label, X(s)),
      'PveSealedShare'
    );
    // A sealed share under another label does not open.
    const relabelled = pveSealShare(s, keys.x25519, pveLabelOf(other));
    throwsCheck(
      () => pveRestoreShare({ pve, sealedShare: relabelled }, keys.x25519, label, X(s)),
      'PveSealedShare'
    );
  });
});
