/**
 * `tessera backup export|import`: this client's share, encrypted under a passphrase (Argon2id +
 * AES-256-GCM, by @tessera/core). The passphrase comes from TESSERA_BACKUP_PASSPHRASE only, so it
 * never shows in shell history or the process list, and must be strong (12 characters or more,
 * hard to guess). Exports are written 0600 and never replace a file unless --force: an
 * overwritten backup may be the only copy. An import recovers the key at once (a refresh with
 * the server), so the restored share itself never signs.
 *
 * `tessera backup pve-keygen|pve-export|pve-restore`: verifiable backups (docs/pve-backup.md).
 * The share is encrypted to a backup public key whose private key stays offline (in a file, or
 * in a PKCS#11 token it never leaves), with a proof the server checks before it keeps the
 * backup. A restore stores the share marked for a refresh and does not run it: the operator
 * runs `tessera refresh --key ID` once the drill has shown the restored share is the right one.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  decodeBackupKey,
  encodeBackupKey,
  type PveDecryptionKey,
  type PveKem,
  pveKeygen,
} from '@tessera/core';
import { type Command, Option } from 'commander';
import {
  type ClientFlags,
  clientOptions,
  connect,
  keyIdArg,
  type NodeFlags,
  nodeOptions,
  nodeSet,
  outputOptions,
} from '../connect.ts';
import { type CliIo, Output, table, UsageError } from '../output.ts';

interface ExportFlags extends ClientFlags {
  key: string;
  out: string;
  force?: boolean;
}

interface ImportFlags extends ClientFlags {
  in: string;
}

interface PveKeygenFlags {
  out: string;
  kem: PveKem;
  force?: boolean;
  pkcs11?: boolean;
  pkcs11Label?: string;
  json?: boolean;
  quiet?: boolean;
}

interface PveExportFlags extends ClientFlags {
  key: string;
  to: string;
  out: string;
  force?: boolean;
}

interface PveRestoreFlags extends ClientFlags, NodeFlags {
  in: string;
  backupKey: string;
}

/** The `format` of a backup key file (`pve-keygen`). */
const PVE_KEY_FORMAT = 'tessera-pve-key/v1';

/** Where a PKCS#11 backup key lives; the PIN is never in the file (TESSERA_PKCS11_PIN). */
interface Pkcs11KeyRef {
  module: string;
  token: string;
  label: string;
  /** CKA_ID, hex: with the label, it names the key pair in the token. */
  id: string;
}

/** A backup key file: the private key in hex, or where it is in a PKCS#11 token. */
type PveKeyFile = {
  format: typeof PVE_KEY_FORMAT;
  kem: PveKem;
  publicKey: string;
} & ({ privateKey: string } | { pkcs11: Pkcs11KeyRef });

export function register(program: Command, io: CliIo): void {
  const backup = program
    .command('backup')
    .description(
      "backups of this client's shares: passphrase-encrypted, or verifiable (PVE) to a backup key"
    );
  clientOptions(
    backup
      .command('export')
      .description('write a backup of a key (passphrase from TESSERA_BACKUP_PASSPHRASE)')
      .requiredOption('--key <id>', 'key id', keyIdArg)
      .requiredOption('--out <file>', 'where to write the backup')
      .option('--force', 'replace an existing file')
  ).action(async (f: ExportFlags) => {
    const passphrase = backupPassphrase(io.env);
    if (!f.force && existsSync(f.out))
      throw new UsageError(`${f.out} exists: pass --force to replace it`);
    const blob = await (await connect(f, io.env)).exportBackup(f.key, passphrase);
    try {
      writeFileSync(f.out, blob, { mode: 0o600, flag: f.force ? 'w' : 'wx' });
      chmodSync(f.out, 0o600); // a replaced file keeps its old mode otherwise
    } catch (e) {
      throw new UsageError(`cannot write ${f.out}: ${(e as Error).message}`);
    }
    new Output(io, f).result({ keyId: f.key, out: f.out, bytes: blob.length }, [
      `wrote the backup of key ${f.key} to ${f.out}`,
    ]);
  });
  clientOptions(
    backup
      .command('import')
      .description(
        'restore a backup into the local store (passphrase from TESSERA_BACKUP_PASSPHRASE)'
      )
      .requiredOption('--in <file>', 'the backup file')
  ).action(async (f: ImportFlags) => {
    const passphrase = backupPassphrase(io.env);
    let blob: Uint8Array;
    try {
      blob = readFileSync(f.in);
    } catch (e) {
      throw new UsageError(`cannot read ${f.in}: ${(e as Error).message}`);
    }
    const client = await connect(f, io.env);
    const out = new Output(io, f);
    const imported = await client.importBackup(blob, passphrase);
    // A restored share never signs: recovering replaces both shares (and retires the backup)
    // first. If this fails, the key stays marked and `tessera refresh` completes it later.
    const { epoch } = await client.recover(imported.keyId, { onProgress: out.progress() });
    const k = { ...imported, epoch };
    out.result(
      k,
      table([
        ['key', k.keyId],
        ['scheme', k.scheme],
        ['public key', k.publicKey],
        ['epoch', k.epoch],
      ])
    );
  });
  registerPve(backup, io);
}

function registerPve(backup: Command, io: CliIo): void {
  outputOptions(
    backup
      .command('pve-keygen')
      .description(
        'make a backup key pair for verifiable backups: the private key to --out (keep it offline), the public key printed'
      )
      .requiredOption('--out <file>', 'where to write the backup key file (0600)')
      .addOption(
        new Option('--kem <kem>', 'the curve of the backup key')
          .choices(['x25519', 'p256'])
          .default('x25519')
      )
      .option(
        '--pkcs11',
        'generate a P-256 key pair in a PKCS#11 token (TESSERA_PKCS11_MODULE, TESSERA_PKCS11_TOKEN, TESSERA_PKCS11_PIN); the file then names it'
      )
      .option(
        '--pkcs11-label <label>',
        'the key pair label in the token (default tessera-pve-<random>)'
      )
      .option('--force', 'replace an existing file')
  ).action(async (f: PveKeygenFlags, cmd: Command) => {
    refuseExisting(f.out, f.force);
    let file: PveKeyFile;
    if (f.pkcs11) {
      // x25519 is the default of --kem; only an explicit one conflicts.
      if (cmd.getOptionValueSource('kem') === 'cli' && f.kem !== 'p256')
        throw new UsageError('--pkcs11 keys are P-256: pass --kem p256 or leave --kem out');
      const { generatePkcs11BackupKey } = await import('@tessera/server');
      const label = f.pkcs11Label ?? `tessera-pve-${randomBytes(4).toString('hex')}`;
      const made = generatePkcs11BackupKey(pkcs11Env(io.env), label);
      file = {
        format: PVE_KEY_FORMAT,
        kem: 'p256',
        publicKey: encodeBackupKey({ kem: 'p256', publicKey: made.publicKey }),
        pkcs11: made.ref,
      };
    } else {
      const pair = pveKeygen(f.kem);
      file = {
        format: PVE_KEY_FORMAT,
        kem: pair.kem,
        publicKey: encodeBackupKey(pair),
        privateKey: Buffer.from(pair.privateKey).toString('hex'),
      };
      pair.privateKey.fill(0);
    }
    writeSecret(f.out, `${JSON.stringify(file, null, 2)}\n`, f.force);
    new Output(io, f).result({ publicKey: file.publicKey }, [
      `wrote the backup key to ${f.out}${'pkcs11' in file ? ` (its private key is in token "${file.pkcs11.token}")` : ': keep it offline'}`,
      `public key ${file.publicKey}`,
    ]);
  });

  clientOptions(
    backup
      .command('pve-export')
      .description(
        'write a verifiable backup of a key, encrypted to a backup public key; the server checks it and keeps a copy'
      )
      .requiredOption('--key <id>', 'key id', keyIdArg)
      .requiredOption(
        '--to <backup-key>',
        'the backup public key ("x25519:<hex>" or "p256:<hex>"), or a pve-keygen key file'
      )
      .requiredOption('--out <file>', 'where to write the backup (0600)')
      .option('--force', 'replace an existing file')
  ).action(async (f: PveExportFlags) => {
    const backupKey = backupPublicKey(f.to);
    refuseExisting(f.out, f.force);
    const client = await connect(f, io.env);
    const made = await client.exportPveBackup(f.key, backupKey);
    const text = `${JSON.stringify(made.file, null, 2)}\n`;
    writeSecret(f.out, text, f.force);
    const bytes = Buffer.byteLength(text);
    new Output(io, f).result(
      { keyId: f.key, backupId: made.backupId, out: f.out, bytes, backupKey },
      [
        `wrote the verifiable backup of key ${f.key} to ${f.out}`,
        ...table([
          ['backup id', made.backupId],
          ['backup key', backupKey],
          ['bytes', bytes],
        ]),
      ]
    );
  });

  clientOptions(
    nodeOptions(
      backup
        .command('pve-restore')
        .description(
          'restore a verifiable backup into the local store with the backup key file; the key then signs after `tessera refresh`'
        )
        .requiredOption('--in <file>', 'the backup file (pve-export)')
        .requiredOption('--backup-key <file>', 'the backup key file (pve-keygen)')
    )
  ).action(async (f: PveRestoreFlags) => {
    const backupFile = readText(f.in);
    const keyFile = parseKeyFile(readText(f.backupKey), f.backupKey);
    // Node flags or variables name a 2-of-3 key's nodes; a 2-of-2 key ignores them.
    const nodes = (f.node2 ?? io.env.TESSERA_NODE2_URL) ? nodeSet(f, io.env) : undefined;
    const client = await connect(f, io.env);
    const key = await withDecryptionKey(keyFile, io.env, (dk) =>
      client.restorePveBackup(backupFile, dk, nodes ? { nodes } : {})
    );
    const out = new Output(io, f);
    out.result({ ...key, refreshRequired: true }, [
      ...table([
        ['key', key.keyId],
        ['scheme', key.scheme],
        ['public key', key.publicKey],
        ['epoch', key.epoch],
      ]),
      `restored; it signs after a refresh: tessera refresh --key ${key.keyId}`,
    ]);
  });
}

/** A backup key given as itself, or as the public key of a pve-keygen key file. */
function backupPublicKey(to: string): string {
  if (/^(x25519|p256):/.test(to)) return encodeBackupKey(decodeBackupKey(to));
  if (!existsSync(to))
    throw new UsageError(`--to ${to}: neither a backup key ("x25519:<hex>") nor a key file`);
  return parseKeyFile(readText(to), to).publicKey;
}

/** Parses a backup key file strictly: exactly its fields, the public key checked. */
function parseKeyFile(text: string, path: string): PveKeyFile {
  const bad = (why: string): never => {
    throw new UsageError(`${path}: not a backup key file (${why})`);
  };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not an object');
  const secret = 'privateKey' in o ? 'privateKey' : 'pkcs11';
  const keys = Object.keys(o).sort().join(',');
  if (keys !== ['format', 'kem', 'publicKey', secret].sort().join(','))
    bad('expected exactly format, kem, publicKey and privateKey or pkcs11');
  if (o.format !== PVE_KEY_FORMAT) bad(`format is not ${PVE_KEY_FORMAT}`);
  if (o.kem !== 'x25519' && o.kem !== 'p256') bad('kem is not x25519 or p256');
  if (typeof o.publicKey !== 'string') bad('no publicKey');
  let publicKey: string;
  try {
    publicKey = encodeBackupKey(decodeBackupKey(o.publicKey as string));
  } catch (e) {
    return bad((e as Error).message);
  }
  if (!publicKey.startsWith(`${o.kem}:`)) bad('publicKey is not of its kem');
  if (secret === 'privateKey') {
    if (typeof o.privateKey !== 'string' || !/^[0-9a-f]{64}$/.test(o.privateKey))
      bad('privateKey is not 32 bytes of lower-case hex');
    return {
      format: PVE_KEY_FORMAT,
      kem: o.kem as PveKem,
      publicKey,
      privateKey: o.privateKey as string,
    };
  }
  const p = o.pkcs11 as Record<string, unknown> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    Object.keys(p).sort().join(',') !== 'id,label,module,token' ||
    !['module', 'token', 'label', 'id'].every((k) => typeof p[k] === 'string') ||
    !/^([0-9a-f]{2})+$/.test(p.id as string)
  )
    bad('pkcs11 must be { module, token, label, id (hex) }');
  if (o.kem !== 'p256') bad('a PKCS#11 backup key is P-256');
  return {
    format: PVE_KEY_FORMAT,
    kem: 'p256',
    publicKey,
    pkcs11: p as unknown as Pkcs11KeyRef,
  };
}

/**
 * Runs `use` with what decrypts: the file's private key (wiped after), or ECDH in the token that
 * holds it (the session closed after).
 */
async function withDecryptionKey<T>(
  k: PveKeyFile,
  env: NodeJS.ProcessEnv,
  use: (dk: PveDecryptionKey) => Promise<T>
): Promise<T> {
  if ('privateKey' in k) {
    const privateKey = new Uint8Array(Buffer.from(k.privateKey, 'hex'));
    try {
      return await use({ kem: k.kem, privateKey });
    } finally {
      privateKey.fill(0);
    }
  }
  const { openPkcs11BackupKey } = await import('@tessera/server');
  const pin = env.TESSERA_PKCS11_PIN;
  if (!pin) throw new UsageError("set TESSERA_PKCS11_PIN to the PIN of the backup key's token");
  const token = openPkcs11BackupKey(k.pkcs11, pin);
  try {
    const publicKey = decodeBackupKey(k.publicKey).publicKey;
    if (Buffer.compare(Buffer.from(publicKey), Buffer.from(token.publicKey)) !== 0)
      throw new UsageError(`the key in token "${k.pkcs11.token}" is not ${k.publicKey}`);
    return await use({ kem: 'p256', publicKey, ecdh: (e) => token.ecdh(e) });
  } finally {
    token.close();
  }
}

/** The PKCS#11 module, token and PIN, as the server takes them. */
function pkcs11Env(env: NodeJS.ProcessEnv): { module: string; token: string; pin: string } {
  const module = env.TESSERA_PKCS11_MODULE;
  const token = env.TESSERA_PKCS11_TOKEN;
  const pin = env.TESSERA_PKCS11_PIN;
  if (!module || !token || !pin)
    throw new UsageError(
      '--pkcs11 needs TESSERA_PKCS11_MODULE, TESSERA_PKCS11_TOKEN and TESSERA_PKCS11_PIN'
    );
  return { module, token, pin };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function refuseExisting(path: string, force: boolean | undefined): void {
  if (!force && existsSync(path))
    throw new UsageError(`${path} exists: pass --force to replace it`);
}

/** Writes `text` readable by its owner only, never over a file unless `force`. */
function writeSecret(path: string, text: string, force: boolean | undefined): void {
  try {
    writeFileSync(path, text, { mode: 0o600, flag: force ? 'w' : 'wx' });
    chmodSync(path, 0o600); // a replaced file keeps its old mode otherwise
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

function backupPassphrase(env: NodeJS.ProcessEnv): string {
  const p = env.TESSERA_BACKUP_PASSPHRASE;
  if (!p) throw new UsageError('set TESSERA_BACKUP_PASSPHRASE to the backup passphrase');
  return p;
}
