/** Share backups and the two checks a recovery needs (docs/backup.md). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  BACKUP_KDF_FLOOR,
  exportShare,
  InputError,
  importShare,
  inspectBackup,
  KeyShare,
  validatePassphrase,
  validateShare,
} from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import { hex } from './helpers.ts';
import { reseal as resealShare } from './wire.ts';

const PASS = 'correct horse battery staple';

const rejectsWith = (p: Promise<unknown>, check: string) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.equal(e.check, check, e.message);
    return true;
  });

/** Re-seals the trailing checksum, as someone editing a blob on purpose would. */
function reseal(blob: Uint8Array): Uint8Array {
  const out = blob.slice();
  out.set(
    createHash('sha256')
      .update(out.subarray(0, out.length - 32))
      .digest(),
    out.length - 32
  );
  return out;
}

/** Offset of a header value: `"TSBK" ‖ u32(len) ‖ header ‖ …`, header = enc(fields). */
function headerFieldOffset(blob: Uint8Array, index: number): number {
  const view = new DataView(blob.buffer, blob.byteOffset);
  let off = 8; // magic + the header's length prefix
  for (let k = 0; k < index; k++) off += 4 + view.getUint32(off);
  return off + 4;
}

describe('share backups', () => {
  let shares: KeyShare[];
  let blob: Uint8Array;
  before(async () => {
    shares = await simulate.keygen('ed25519', { threshold: 2, parties: 3 });
    blob = await exportShare(shares[1] as KeyShare, PASS);
  });

  test('round trip restores the same share; the header is readable without the passphrase', async () => {
    const back = await importShare(blob, PASS);
    assert.equal(hex(back.toBytes()), hex((shares[1] as KeyShare).toBytes()));
    const info = inspectBackup(blob);
    assert.equal(info.partyId, 2);
    assert.equal(hex(info.keyId), hex((shares[1] as KeyShare).keyId));
    assert.deepEqual(info.kdf, { ...BACKUP_KDF_FLOOR });
    assert.ok(info.kdf.memoryKiB >= 65536 && info.kdf.iterations >= 3);
    // Two exports of one share differ (fresh salt and nonce).
    assert.notEqual(hex(await exportShare(shares[1] as KeyShare, PASS)), hex(blob));
  });

  test('validatePassphrase: true for the right one, false for a wrong one', async () => {
    assert.equal(await validatePassphrase(blob, PASS), true);
    assert.equal(await validatePassphrase(blob, `${PASS}!`), false);
  });

  test('each defect gets its own clear error', async () => {
    await rejectsWith(importShare(blob, 'wrong passphrase'), 'BackupPassphrase');
    await rejectsWith(importShare(blob.subarray(0, blob.length - 40), PASS), 'BackupMalformed');
    await rejectsWith(importShare(blob.subarray(0, 20), PASS), 'BackupMalformed');
    const flipped = blob.slice();
    flipped[blob.length - 60] = (flipped[blob.length - 60] as number) ^ 0x01; // in the ciphertext
    await rejectsWith(importShare(flipped, PASS), 'BackupCorrupt');
    // The same flip with the checksum re-sealed: only the AEAD can tell.
    await rejectsWith(importShare(reseal(flipped), PASS), 'BackupCiphertext');
    // Swapped AAD field: another party id in the header (4 → the party-id field).
    const swapped = blob.slice();
    swapped[headerFieldOffset(blob, 3) + 3] = 3;
    assert.equal(inspectBackup(reseal(swapped)).partyId, 3);
    await rejectsWith(importShare(reseal(swapped), PASS), 'BackupHeaderMismatch');
    // Downgraded Argon2: memory 64 MiB → 8 MiB, checksum re-sealed.
    const weak = blob.slice();
    new DataView(weak.buffer).setUint32(headerFieldOffset(blob, 5), 8 * 1024);
    await rejectsWith(importShare(reseal(weak), PASS), 'BackupKdfWeak');
    const fewer = blob.slice();
    new DataView(fewer.buffer).setUint32(headerFieldOffset(blob, 6), 1);
    await rejectsWith(validatePassphrase(reseal(fewer), PASS), 'BackupKdfWeak');
    // A crafted blob asking for more than 1 GiB of Argon2 memory is refused before any work.
    const greedy = blob.slice();
    new DataView(greedy.buffer).setUint32(headerFieldOffset(blob, 5), 1024 * 1024 + 1);
    await rejectsWith(importShare(reseal(greedy), PASS), 'BackupKdfWeak');
    const most = blob.slice();
    new DataView(most.buffer).setUint32(headerFieldOffset(blob, 5), 4 * 1024 * 1024);
    await rejectsWith(validatePassphrase(reseal(most), PASS), 'BackupKdfWeak');
    // A future format version.
    const v2 = blob.slice();
    new DataView(v2.buffer).setUint32(headerFieldOffset(blob, 0), 2);
    await rejectsWith(importShare(reseal(v2), PASS), 'BackupVersion');
    await rejectsWith(importShare(new Uint8Array(64), PASS), 'BackupMalformed');
  });

  test('export refuses weak parameters and short passphrases', async () => {
    const s = shares[0] as KeyShare;
    await rejectsWith(exportShare(s, PASS, { kdf: { memoryKiB: 1024 } }), 'BackupKdfWeak');
    await rejectsWith(exportShare(s, PASS, { kdf: { iterations: 2 } }), 'BackupKdfWeak');
    await rejectsWith(exportShare(s, 'short'), 'BackupPassphrase');
    await rejectsWith(exportShare(s, 'eleven char'), 'BackupPassphrase');
    await rejectsWith(
      exportShare(s, PASS, { kdf: { memoryKiB: 1024 * 1024 + 1 } }),
      'BackupKdfWeak'
    );
  });

  test('a backup of another epoch is recognised as stale', async () => {
    const s = shares[1] as KeyShare;
    const newer = new Uint8Array(32).fill(0xee);
    await rejectsWith(importShare(blob, PASS, { currentEpoch: newer }), 'BackupStale');
    const same = await importShare(blob, PASS, { currentEpoch: s.epoch });
    assert.equal(hex(same.epoch), hex(s.epoch));
  });
});

describe('validateShare and the checks on every load', () => {
  test('a damaged ECDSA share is ShareCorrupted on load: by its checksum, and with a forged checksum by the seed checks; never a ban of the peer', async () => {
    const shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
    for (const s of shares) validateShare(s);
    const bytes = (shares[0] as KeyShare).toBytes();
    const corrupted = (e: unknown) => e instanceof InputError && e.check === 'ShareCorrupted';
    // Zero a run of bytes deep in the pairwise data (the receiver's or sender's leaf seeds).
    const damaged = bytes.slice();
    damaged.fill(0, bytes.length - 5000, bytes.length - 4000);
    assert.throws(() => KeyShare.fromBytes(damaged), corrupted, 'the checksum catches it');
    assert.throws(
      () => KeyShare.fromBytes(resealShare(damaged)),
      corrupted,
      'so do the seed checks'
    );
    // A single flipped bit of a leaf seed is found by the checksum.
    const flipped = bytes.slice();
    flipped[bytes.length - 6000] = (flipped[bytes.length - 6000] as number) ^ 1;
    assert.throws(() => KeyShare.fromBytes(flipped), corrupted);
    // A backup round trip keeps the pairwise setups intact.
    const back = await importShare(await exportShare(shares[1] as KeyShare, PASS), PASS);
    validateShare(back);
  });

  test('rejects a share whose secret does not match its verification share', async () => {
    const [a] = await simulate.keygen('bip340', { threshold: 2, parties: 2 });
    const bytes = (a as KeyShare).toBytes();
    // "TSKS" ‖ enc(fields): walk to field 10, the secret x_i, and change its last byte.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let off = 4;
    for (let k = 0; k < 10; k++) off += 4 + view.getUint32(off);
    const forged = bytes.slice();
    forged[off + 4 + 31] = (forged[off + 4 + 31] as number) ^ 1;
    assert.throws(() => KeyShare.fromBytes(forged), { check: 'ShareCorrupted' });
    assert.throws(
      () => KeyShare.fromBytes(resealShare(forged)),
      (e: unknown) =>
        e instanceof InputError &&
        e.check === 'ShareInvalid' &&
        /verification share/.test(e.message)
    );
  });
});
