/**
 * The verifiable backup file's strict parser (pve-backup.ts): a well-formed file reads back as
 * written, from its JSON text or as an object; every other shape is BAD_INPUT naming the field.
 * (Export and restore against servers: server/test/backups.test.ts and cli/test/pve-backup.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ClientError, PVE_BACKUP_FORMAT, parsePveBackupFile } from '@tessera/client';
import { encodeBackupKey, pveKeygen } from '@tessera/core';

const hex = (n: number) => randomBytes(n).toString('hex');
const b64 = (n: number) => randomBytes(n).toString('base64');

const valid = {
  format: PVE_BACKUP_FORMAT,
  keyId: hex(32),
  scheme: 'ecdsa',
  partyId: 1,
  epoch: hex(32),
  publicKey: `02${hex(32)}`,
  publicShare: `03${hex(32)}`,
  backupKey: encodeBackupKey(pveKeygen('x25519')),
  pve: b64(300),
  sealedShare: b64(100),
};

test('a well-formed file parses, as text or as an object, to exactly its fields', () => {
  assert.deepEqual(parsePveBackupFile(JSON.stringify(valid)), valid);
  assert.deepEqual(parsePveBackupFile(valid), valid);
  const ed = { ...valid, scheme: 'ed25519', publicKey: hex(32), publicShare: hex(32) };
  assert.deepEqual(parsePveBackupFile(ed), ed);
  const p256 = { ...valid, backupKey: encodeBackupKey(pveKeygen('p256')) };
  assert.deepEqual(parsePveBackupFile(p256), p256);
});

test('anything else is BAD_INPUT', () => {
  const { pve: _, ...noPve } = valid;
  const cases: [string, unknown][] = [
    ['not JSON', '{"format":'],
    ['an array', [valid]],
    ['null', null],
    ['an extra field', { ...valid, note: 'x' }],
    ['a missing field', noPve],
    ['another format', { ...valid, format: 'tessera-pve-backup/v2' }],
    ['a key id in upper case', { ...valid, keyId: valid.keyId.toUpperCase() }],
    ['an unknown scheme', { ...valid, scheme: 'rsa' }],
    ['a party id as a string', { ...valid, partyId: '1' }],
    ['party 0', { ...valid, partyId: 0 }],
    ['a short epoch', { ...valid, epoch: hex(31) }],
    ['an Ed25519-sized public key for ECDSA', { ...valid, publicKey: hex(32) }],
    ['a 32-byte public share on secp256k1', { ...valid, publicShare: hex(32) }],
    ['a backup key without its kem', { ...valid, backupKey: valid.backupKey.slice(7) }],
    ['a small-order backup key', { ...valid, backupKey: `x25519:${'00'.repeat(32)}` }],
    ['pve not base64', { ...valid, pve: 'not base64!' }],
    ['pve in non-canonical base64', { ...valid, pve: 'AAB=' }],
    ['an empty sealed share', { ...valid, sealedShare: '' }],
  ];
  for (const [what, input] of cases)
    assert.throws(
      () => parsePveBackupFile(input),
      (e: unknown) => e instanceof ClientError && e.code === 'BAD_INPUT',
      what
    );
});
