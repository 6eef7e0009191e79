/**
 * `tessera backup export|import`: this client's share, encrypted under a passphrase (Argon2id +
 * AES-256-GCM, by @tessera/core). The passphrase comes from TESSERA_BACKUP_PASSPHRASE only, so it
 * never shows in shell history or the process list, and must be strong (12 characters or more,
 * hard to guess). Exports are written 0600 and never replace a file unless --force: an
 * overwritten backup may be the only copy. An import recovers the key at once (a refresh with
 * the server), so the restored share itself never signs.
 * @module
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ClientFlags, clientOptions, connect, keyIdArg } from '../connect.ts';
import { type CliIo, Output, table, UsageError } from '../output.ts';

interface ExportFlags extends ClientFlags {
  key: string;
  out: string;
  force?: boolean;
}

interface ImportFlags extends ClientFlags {
  in: string;
}

export function register(program: Command, io: CliIo): void {
  const backup = program
    .command('backup')
    .description("passphrase-encrypted backups of this client's shares");
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
}

function backupPassphrase(env: NodeJS.ProcessEnv): string {
  const p = env.TESSERA_BACKUP_PASSPHRASE;
  if (!p) throw new UsageError('set TESSERA_BACKUP_PASSPHRASE to the backup passphrase');
  return p;
}
