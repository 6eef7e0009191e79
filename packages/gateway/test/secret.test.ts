/**
 * The sealed formats: a share sealed and its data key wrapped open again with the password;
 * every altered byte or character of an `encryptedShare` is SHARE_CORRUPTED and of a
 * `secretStore` INVALID_PASSWORD (or SECRET_STORE_INVALID when its header no longer reads);
 * KDF parameters outside the floor and ceiling are refused before any hashing; a rewrap keeps
 * the share openable under the new password only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { GatewayError } from '../src/errors.ts';
import {
  DEFAULT_KDF_PARAMS,
  derivePasswordKey,
  KDF_CEILING,
  type Kdf,
  openShare,
  type PlainShare,
  parseEncryptedShare,
  parseSecretStore,
  sealShare,
  wrapDataKey,
} from '../src/secret.ts';
import { lock, parsePair, rewrap, unlock } from '../src/vault.ts';
import { flipByte, flipChar, memoKdf } from './helpers.ts';

const keyId = 'ab'.repeat(32);
const epoch = 'cd'.repeat(32);

function plainShare(bytes = randomBytes(300)): PlainShare {
  return {
    keyId,
    epoch,
    party: 1,
    scheme: 'ecdsa',
    userId: 'alice',
    meta: {
      keyId,
      epoch,
      scheme: 'ecdsa',
      publicKey: '02'.padEnd(66, '1'),
      label: 'x',
      server: 'http://n1',
    },
    share: bytes,
  };
}

const codeOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof GatewayError, String(e));
    return e.code;
  }
};

const password = 'correct horse battery staple';
let sealed: { encryptedShare: string; secretStore: string };
const original = randomBytes(300);

test('a locked share unlocks with its password, whole, with its user and key record', async () => {
  const pk = await derivePasswordKey(password, DEFAULT_KDF_PARAMS, memoKdf);
  sealed = lock(plainShare(original.slice()), pk);
  assert.match(sealed.encryptedShare, /^v1\.[A-Za-z0-9_-]+$/);
  assert.match(sealed.secretStore, /^v1\.[A-Za-z0-9_-]+$/);
  const plain = await unlock(
    parsePair(sealed.encryptedShare, sealed.secretStore, keyId),
    password,
    memoKdf
  );
  assert.deepEqual(plain.share, original);
  assert.equal(plain.userId, 'alice');
  assert.equal(plain.meta.label, 'x');
  assert.equal(plain.party, 1);
  assert.equal(plain.scheme, 'ecdsa');
  assert.equal(parseSecretStore(sealed.secretStore).params.m, 19_456);
});

test('a wrong password is INVALID_PASSWORD', async () => {
  const pair = parsePair(sealed.encryptedShare, sealed.secretStore);
  assert.equal(await codeOf(() => unlock(pair, 'wrong password!', memoKdf)), 'INVALID_PASSWORD');
});

test('before any hashing: a secretStore of another keyId is SHARE_MISMATCH, a share of another key SHARE_CORRUPTED', async () => {
  const other = sealShare({
    ...plainShare(),
    keyId: 'ef'.repeat(32),
    meta: { ...plainShare().meta, keyId: 'ef'.repeat(32) },
  });
  assert.equal(
    await codeOf(() => parsePair(other.encryptedShare, sealed.secretStore)),
    'SHARE_CORRUPTED'
  );
  assert.equal(
    await codeOf(() => parsePair(sealed.encryptedShare, sealed.secretStore, 'ef'.repeat(32))),
    'SHARE_MISMATCH'
  );
});

test('property: any altered byte of the encryptedShare is SHARE_CORRUPTED', async () => {
  const { dataKey, encryptedShare } = sealShare(plainShare(original.slice()));
  await fc.assert(
    fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, mask) => {
      const bad = flipByte(encryptedShare, i, mask);
      const code = await codeOf(() => openShare(parseEncryptedShare(bad), dataKey));
      assert.equal(code, 'SHARE_CORRUPTED');
    }),
    { numRuns: 300 }
  );
});

test('property: any altered character of the encryptedShare is SHARE_CORRUPTED (base64 spare bits too)', async () => {
  const { dataKey, encryptedShare } = sealShare(plainShare(original.slice()));
  await fc.assert(
    fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 63 }), async (i, by) => {
      const bad = flipChar(encryptedShare, i % encryptedShare.length, by);
      const code = await codeOf(() => openShare(parseEncryptedShare(bad), dataKey));
      assert.equal(code, 'SHARE_CORRUPTED');
    }),
    { numRuns: 300 }
  );
  // The last character carries spare bits: every other spelling of it is refused too.
  const last = encryptedShare.length - 1;
  for (let by = 1; by < 64; by++)
    assert.equal(
      await codeOf(() =>
        openShare(parseEncryptedShare(flipChar(encryptedShare, last, by)), dataKey)
      ),
      'SHARE_CORRUPTED'
    );
});

test('property: any altered byte of the secretStore is INVALID_PASSWORD or SECRET_STORE_INVALID, never opens', async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, mask) => {
      const bad = flipByte(sealed.secretStore, i, mask);
      const code = await codeOf(async () => {
        const w = parseSecretStore(bad);
        // A flipped key id is caught by pairing; the AEAD is what this property is about.
        const s = parseEncryptedShare(sealed.encryptedShare);
        return unlock({ sealed: s, wrapped: { ...w, keyId: s.keyId } }, password, memoKdf);
      });
      assert.ok(code === 'INVALID_PASSWORD' || code === 'SECRET_STORE_INVALID', code);
    }),
    { numRuns: 40 }
  );
});

test('KDF parameters below the floor or above the ceiling are refused without hashing', async () => {
  let calls = 0;
  const counting: Kdf = async (...a) => {
    calls++;
    return memoKdf(...a);
  };
  const forge = (m: number, t: number, p: number) => {
    const b = Buffer.from(sealed.secretStore.slice(3), 'base64url');
    b.writeUInt32BE(m, 1);
    b.writeUInt32BE(t, 5);
    b[9] = p;
    return `v1.${b.toString('base64url')}`;
  };
  for (const [m, t, p] of [
    [8, 2, 1],
    [19_455, 2, 1],
    [19_456, 1, 1],
    [19_456, 2, 0],
    [KDF_CEILING.m + 1, 2, 1],
    [4 * 1024 * 1024, 2, 1],
    [19_456, KDF_CEILING.t + 1, 1],
    [19_456, 0xffffffff, 1],
    [19_456, 2, KDF_CEILING.p + 1],
  ] as const)
    assert.equal(
      await codeOf(() => parseSecretStore(forge(m, t, p))),
      'SECRET_STORE_INVALID',
      `${m}/${t}/${p}`
    );
  assert.equal(calls, 0);
  await assert.rejects(
    derivePasswordKey(password, { m: 1024, t: 1, p: 1 }, counting),
    /SECRET_STORE_INVALID|outside/
  );
  assert.equal(calls, 0);
});

test('property: a rewrap opens the same share with the new password, and not with the old', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 8, maxLength: 40 }), async (newPassword) => {
      fc.pre(newPassword !== password);
      const store2 = await rewrap(
        sealed.secretStore,
        password,
        newPassword,
        DEFAULT_KDF_PARAMS,
        memoKdf
      );
      assert.notEqual(store2, sealed.secretStore);
      const a = await unlock(parsePair(sealed.encryptedShare, store2), newPassword, memoKdf);
      assert.deepEqual(a.share, original);
      assert.equal(
        await codeOf(() => unlock(parsePair(sealed.encryptedShare, store2), password, memoKdf)),
        'INVALID_PASSWORD'
      );
    }),
    { numRuns: 4 }
  );
});

test('a password is hashed as NFC: the composed and decomposed spellings open the same store', async () => {
  const composed = 'caf\u00e9 au lait!';
  const pk = await derivePasswordKey(composed, DEFAULT_KDF_PARAMS, memoKdf);
  const s = lock(plainShare(original.slice()), pk);
  const plain = await unlock(
    parsePair(s.encryptedShare, s.secretStore),
    'cafe\u0301 au lait!',
    memoKdf
  );
  assert.deepEqual(plain.share, original);
});

test('a data key is 32 bytes; wrapDataKey refuses anything else', async () => {
  const pk = await derivePasswordKey(password, DEFAULT_KDF_PARAMS, memoKdf);
  assert.throws(() => wrapDataKey(new Uint8Array(16), keyId, pk));
});
