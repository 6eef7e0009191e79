/**
 * Passphrase-encrypted key-share backups and the two checks a recovery needs: "is this the right
 * passphrase?" and "is this share intact?". See docs/backup.md for the format.
 *
 * Argon2id (hash-wasm, WASM; floor m ≥ 64 MiB, t ≥ 3) stretches the passphrase into an AES-256-GCM
 * key and a MAC key. The GCM additional data is the public header (format version, scheme, key
 * id, party id, epoch, Argon2 parameters and salt), so none of them can be swapped. Each way a
 * blob can be wrong has its own error check code, in the order they are tested:
 * `BackupMalformed`, `BackupVersion`, `BackupCorrupt` (checksum), `BackupKdfWeak` (parameters
 * below the floor: a downgrade), `BackupPassphrase`, `BackupHeaderMismatch` (an edited header),
 * `BackupCiphertext`, `BackupStale` (an older epoch than the caller's).
 * @module
 */

import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { argon2id } from 'hash-wasm';
import { concatBytes, copyBytes, ctEqual, readU32be, u32be, utf8ToBytes, wipe } from './bytes.ts';
import type { CheckName } from './checks.ts';
import { decodeFields, type Fields, fixedBytes } from './codec.ts';
import { DecodeError, InputError, type PartyId } from './errors.ts';
import { checkSeeds, KeyShare, SCHEMES, type Scheme } from './keyshare.ts';
import { type Rng, systemRng } from './rng.ts';
import { enc } from './transcript.ts';

const MAGIC = utf8ToBytes('TSBK');
const VERSION = 1;

/** Argon2id cost parameters. */
export interface BackupKdfParams {
  /** Memory in KiB. */
  memoryKiB: number;
  /** Passes over the memory. */
  iterations: number;
  /** Lanes. */
  parallelism: number;
}

/** The least a backup may use, on export and on import (a lower blob is a downgrade). */
export const BACKUP_KDF_FLOOR: Readonly<BackupKdfParams> = Object.freeze({
  memoryKiB: 64 * 1024,
  iterations: 3,
  parallelism: 1,
});

/**
 * Upper bounds, so a crafted blob cannot make import allocate or spin without limit: 1 GiB is the
 * most a phone or a browser tab should be asked for, and 16× the floor.
 */
const KDF_MAX: Readonly<BackupKdfParams> = {
  memoryKiB: 1024 * 1024,
  iterations: 64,
  parallelism: 16,
};

/** What a backup says about itself, readable without the passphrase. */
export interface BackupInfo {
  version: number;
  scheme: Scheme;
  keyId: Uint8Array;
  partyId: PartyId;
  epoch: Uint8Array;
  kdf: BackupKdfParams;
}

const fail = (check: CheckName, message: string, hints: string[] = []): never => {
  throw new InputError(message, { check, hints });
};

function checkKdf(k: BackupKdfParams): void {
  for (const f of ['memoryKiB', 'iterations', 'parallelism'] as const) {
    const v = k[f];
    if (!Number.isInteger(v) || v < BACKUP_KDF_FLOOR[f] || v > KDF_MAX[f]) {
      fail(
        'BackupKdfWeak',
        `Argon2id ${f} = ${v} is outside ${BACKUP_KDF_FLOOR[f]}…${KDF_MAX[f]}`,
        ['a backup below the floor is refused: it may have been downgraded to ease guessing']
      );
    }
  }
}

function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string' || passphrase.length === 0)
    fail('BackupPassphrase', 'the passphrase must be a non-empty string');
  // One passphrase, one key, whichever way the keyboard composed its characters.
  return utf8ToBytes(passphrase.normalize('NFKC'));
}

interface Keys {
  enc: Uint8Array;
  mac: Uint8Array;
}

async function stretch(passphrase: string, salt: Uint8Array, k: BackupKdfParams): Promise<Keys> {
  const pw = passphraseBytes(passphrase);
  const out = await argon2id({
    password: pw,
    salt,
    memorySize: k.memoryKiB,
    iterations: k.iterations,
    parallelism: k.parallelism,
    hashLength: 64,
    outputType: 'binary',
  });
  wipe(pw);
  const keys = { enc: out.slice(0, 32), mac: out.slice(32) };
  wipe(out);
  return keys;
}

const verifierOf = (keys: Keys) =>
  hmac(sha256, keys.mac, utf8ToBytes('tessera/v1/backup/verifier'));
const headerMacOf = (keys: Keys, header: Uint8Array) =>
  hmac(sha256, keys.mac, enc(utf8ToBytes('tessera/v1/backup/header'), header));

function encodeHeader(info: BackupInfo, salt: Uint8Array): Uint8Array {
  return enc(
    u32be(info.version),
    utf8ToBytes(info.scheme),
    info.keyId,
    u32be(info.partyId),
    info.epoch,
    u32be(info.kdf.memoryKiB),
    u32be(info.kdf.iterations),
    u32be(info.kdf.parallelism),
    salt
  );
}

interface Parsed {
  info: BackupInfo;
  salt: Uint8Array;
  header: Uint8Array;
  verifier: Uint8Array;
  headerMac: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** Structure, version and checksum; no secret involved. */
function parse(blob: Uint8Array): Parsed {
  if (!(blob instanceof Uint8Array) || blob.length < 4 + 32 || !ctEqual(blob.subarray(0, 4), MAGIC))
    return fail('BackupMalformed', 'not a Tessera key-share backup');
  const body = blob.subarray(4, blob.length - 32);
  let f: Fields<5>;
  let h: Fields<9>;
  try {
    f = decodeFields(body, 5, 'backup');
    h = decodeFields(f[0], 9, 'backup header');
  } catch (e) {
    if (e instanceof DecodeError)
      return fail('BackupMalformed', `the backup is truncated or malformed: ${e.message}`);
    throw e;
  }
  const version = h[0].length === 4 ? readU32be(h[0]) : -1;
  if (version !== VERSION)
    fail('BackupVersion', `unsupported backup format version ${version}`, [
      'a newer Tessera may read it',
    ]);
  if (!ctEqual(sha256(blob.subarray(0, blob.length - 32)), blob.subarray(blob.length - 32)))
    fail('BackupCorrupt', 'the backup is damaged (checksum mismatch): bits were changed or lost', [
      'restore from another copy',
    ]);
  try {
    const scheme = String.fromCharCode(...h[1]) as Scheme;
    if (!SCHEMES.includes(scheme)) throw new DecodeError('MalformedMessage', 'unknown scheme');
    const u32 = (b: Uint8Array, what: string) => readU32be(fixedBytes(b, 4, what));
    return {
      info: {
        version,
        scheme,
        keyId: copyBytes(fixedBytes(h[2], 32, 'keyId')),
        partyId: u32(h[3], 'partyId'),
        epoch: copyBytes(fixedBytes(h[4], 32, 'epoch')),
        kdf: {
          memoryKiB: u32(h[5], 'memory'),
          iterations: u32(h[6], 'iterations'),
          parallelism: u32(h[7], 'parallelism'),
        },
      },
      salt: fixedBytes(h[8], 16, 'salt'),
      header: f[0],
      verifier: fixedBytes(f[1], 32, 'verifier'),
      headerMac: fixedBytes(f[2], 32, 'header MAC'),
      nonce: fixedBytes(f[3], 12, 'nonce'),
      ciphertext: f[4],
    };
  } catch (e) {
    if (e instanceof DecodeError) return fail('BackupMalformed', `malformed backup: ${e.message}`);
    throw e;
  }
}

/** Reads a backup's public header (no passphrase needed), e.g. to spot a stale epoch. */
export function inspectBackup(blob: Uint8Array): BackupInfo {
  return parse(blob).info;
}

/** Options of `exportShare`. */
export interface ExportShareOptions {
  /** Argon2id cost; each value at least `BACKUP_KDF_FLOOR`'s. */
  kdf?: Partial<BackupKdfParams>;
  rng?: Rng;
}

/** The fewest characters (code points) a backup passphrase may have. */
export const BACKUP_PASSPHRASE_MIN = 12;

/**
 * Encrypts a share under a passphrase (at least `BACKUP_PASSPHRASE_MIN` characters; the client
 * SDK also requires it to be hard to guess) into a versioned blob.
 */
export async function exportShare(
  share: KeyShare,
  passphrase: string,
  opts: ExportShareOptions = {}
): Promise<Uint8Array> {
  if (!(share instanceof KeyShare)) fail('InvalidInput', 'exportShare: expected a KeyShare');
  if (typeof passphrase !== 'string' || [...passphrase].length < BACKUP_PASSPHRASE_MIN)
    fail(
      'BackupPassphrase',
      `the passphrase must have at least ${BACKUP_PASSPHRASE_MIN} characters`
    );
  const kdf = { ...BACKUP_KDF_FLOOR, ...opts.kdf };
  checkKdf(kdf);
  const rng = opts.rng ?? systemRng;
  const info: BackupInfo = {
    version: VERSION,
    scheme: share.scheme,
    keyId: share.keyId,
    partyId: share.partyId,
    epoch: share.epoch,
    kdf,
  };
  const salt = rng(16);
  const header = encodeHeader(info, salt);
  const keys = await stretch(passphrase, salt, kdf);
  const nonce = rng(12);
  const plain = share.toBytes();
  const ciphertext = gcm(keys.enc, nonce, header).encrypt(plain);
  const body = concatBytes(
    MAGIC,
    enc(header, verifierOf(keys), headerMacOf(keys, header), nonce, ciphertext)
  );
  wipe(plain, keys.enc, keys.mac);
  return concatBytes(body, sha256(body));
}

/** Options of `importShare`. */
export interface ImportShareOptions {
  /** The key's current epoch, if known: a backup of another epoch is refused (`BackupStale`). */
  currentEpoch?: Uint8Array;
}

/** Decrypts and validates a backup. Throws `InputError` with one of the checks in the module comment. */
export async function importShare(
  blob: Uint8Array,
  passphrase: string,
  opts: ImportShareOptions = {}
): Promise<KeyShare> {
  const p = parse(blob);
  checkKdf(p.info.kdf);
  const keys = await stretch(passphrase, p.salt, p.info.kdf);
  try {
    if (!ctEqual(verifierOf(keys), p.verifier))
      fail('BackupPassphrase', 'wrong passphrase for this backup');
    if (!ctEqual(headerMacOf(keys, p.header), p.headerMac))
      fail('BackupHeaderMismatch', 'the backup header was altered (key id, party, epoch or KDF)', [
        'this blob was edited or assembled from two backups',
      ]);
    let plain: Uint8Array;
    try {
      plain = gcm(keys.enc, p.nonce, p.header).decrypt(p.ciphertext);
    } catch {
      return fail('BackupCiphertext', 'the encrypted share fails authentication: it was altered');
    }
    let share: KeyShare;
    try {
      share = KeyShare.fromBytes(plain);
    } finally {
      wipe(plain);
    }
    if (
      share.scheme !== p.info.scheme ||
      share.partyId !== p.info.partyId ||
      !ctEqual(share.keyId, p.info.keyId) ||
      !ctEqual(share.epoch, p.info.epoch)
    ) {
      fail('BackupHeaderMismatch', 'the share inside does not match the backup header');
    }
    if (opts.currentEpoch && !ctEqual(opts.currentEpoch, share.epoch)) {
      fail(
        'BackupStale',
        'this backup is of an older epoch of the key: its share no longer signs',
        ['a refresh or reshare replaced it; use a backup made after the last one']
      );
    }
    return share;
  } finally {
    wipe(keys.enc, keys.mac);
  }
}

/**
 * True when `passphrase` opens `blob`, false when it does not. Throws for a blob that is
 * malformed, damaged or downgraded (the same checks as `importShare`).
 */
export async function validatePassphrase(blob: Uint8Array, passphrase: string): Promise<boolean> {
  const p = parse(blob);
  checkKdf(p.info.kdf);
  const keys = await stretch(passphrase, p.salt, p.info.kdf);
  const ok = ctEqual(verifierOf(keys), p.verifier);
  wipe(keys.enc, keys.mac);
  return ok;
}

/**
 * Checks a share before use (is it whole and ours?): its public data are consistent and `x_i·G`
 * equals its verification share (`KeyShare.validate`, check `ShareInvalid`), and for `ecdsa` every
 * pairwise setup is intact: the sender's punctured leaves (index Δ_ν) are empty and every other
 * leaf, seed and id is non-zero (check `ShareCorrupted`). `KeyShare.fromBytes` runs both on every
 * load.
 */
export function validateShare(share: KeyShare): void {
  if (!(share instanceof KeyShare)) fail('ShareInvalid', 'validateShare: expected a KeyShare');
  share.validate();
  checkSeeds(share);
}
