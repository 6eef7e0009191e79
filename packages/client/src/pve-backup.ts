/**
 * The file of a verifiable (PVE) backup (docs/pve-backup.md): one client share, encrypted to a
 * backup public key with a proof anyone can check (`pve`), and the whole share sealed to the same
 * key (`sealedShare`), with the public facts that say which share it is. JSON, parsed strictly:
 * exactly these fields, each of its type and canonical form.
 * @module
 */
import { fromBase64 } from '@tessera/api/relay';
import { decodeBackupKey } from '@tessera/core';
import { ClientError } from './errors.ts';

/** The `format` of a backup file. */
export const PVE_BACKUP_FORMAT = 'tessera-pve-backup/v1';

export interface PveBackupFile {
  format: typeof PVE_BACKUP_FORMAT;
  keyId: string;
  scheme: 'ecdsa' | 'ed25519' | 'bip340';
  /** The client's party id in the key. */
  partyId: number;
  /** The key epoch of the share. */
  epoch: string;
  /** The key's group public key, hex, as the server reports it. */
  publicKey: string;
  /** The share's public verification share X_i, hex (33 bytes on secp256k1, 32 on Ed25519). */
  publicShare: string;
  /** The backup public key (`encodeBackupKey`): `x25519:<hex>` or `p256:<hex>`. */
  backupKey: string;
  /** base64 of the PVE ciphertext (`pveEncrypt`). */
  pve: string;
  /** base64 of the sealed share (`pveSealShare`). */
  sealedShare: string;
}

const FIELDS = [
  'format',
  'keyId',
  'scheme',
  'partyId',
  'epoch',
  'publicKey',
  'publicShare',
  'backupKey',
  'pve',
  'sealedShare',
] as const;

const bad = (why: string): never => {
  throw new ClientError('BAD_INPUT', `PVE backup file: ${why}`);
};

const hexOf = (bytes: number) => new RegExp(`^[0-9a-f]{${2 * bytes}}$`);

/**
 * Parses a backup file (its JSON text, or the object) strictly; `BAD_INPUT` naming the first
 * field that is wrong. The cryptography is checked on restore, against the server's record.
 */
export function parsePveBackupFile(input: unknown): PveBackupFile {
  let v = input;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return bad('not JSON');
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  const extra = keys.filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) bad(`unknown field ${extra[0]}`);
  for (const f of FIELDS) if (!Object.hasOwn(o, f)) bad(`missing field ${f}`);
  if (o.format !== PVE_BACKUP_FORMAT) bad(`format must be "${PVE_BACKUP_FORMAT}"`);
  const str = (f: (typeof FIELDS)[number], re: RegExp, what: string): string => {
    const s = o[f];
    if (typeof s !== 'string' || !re.test(s)) bad(`${f} must be ${what}`);
    return s as string;
  };
  str('keyId', hexOf(32), '32 bytes of lower-case hex');
  const scheme = o.scheme;
  if (scheme !== 'ecdsa' && scheme !== 'ed25519' && scheme !== 'bip340')
    bad('scheme must be ecdsa, ed25519 or bip340');
  const partyId = o.partyId;
  if (typeof partyId !== 'number' || !Number.isInteger(partyId) || partyId < 1 || partyId > 255)
    bad('partyId must be an integer from 1 to 255');
  str('epoch', hexOf(32), '32 bytes of lower-case hex');
  // An ECDSA group key is compressed SEC1; Ed25519 and BIP-340 (x-only) keys are 32 bytes.
  str('publicKey', hexOf(scheme === 'ecdsa' ? 33 : 32), `the ${scheme} public key in hex`);
  str('publicShare', hexOf(scheme === 'ed25519' ? 32 : 33), `the ${scheme} public share in hex`);
  const backupKey = str('backupKey', /^(x25519|p256):[0-9a-f]+$/, '"x25519:<hex>" or "p256:<hex>"');
  try {
    decodeBackupKey(backupKey);
  } catch (e) {
    bad(`backupKey: ${(e as Error).message}`);
  }
  for (const f of ['pve', 'sealedShare'] as const) {
    const s = o[f];
    if (typeof s !== 'string' || s.length === 0) bad(`${f} must be base64`);
    try {
      fromBase64(s as string);
    } catch {
      bad(`${f} must be canonical, padded base64`);
    }
  }
  return Object.fromEntries(FIELDS.map((f) => [f, o[f]])) as unknown as PveBackupFile;
}
