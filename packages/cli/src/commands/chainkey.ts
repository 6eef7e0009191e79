/**
 * The key a chain command signs with: `--key ID` (our share in the client store, the other at
 * the co-signing server) or `--local FILE` (every share of a key in one passphrase-sealed file,
 * made by `tessera keygen --local FILE`: for tests and single-machine setups, never a co-signer).
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalBackend, RemoteBackend, type SigningBackend } from '@tessera/chains';
import { checkBackupPassphrase } from '@tessera/client';
import { exportShare, importShare, type KeyShare, local, type Scheme } from '@tessera/core';
import type { Command } from 'commander';
import { type ClientFlags, clientOptions, connect, keyIdArg } from '../connect.ts';
import { UsageError } from '../output.ts';

export interface ChainKeyFlags extends ClientFlags {
  key?: string;
  local?: string;
}

/** `--key` / `--local` and the client flags. */
export function chainKeyOptions(cmd: Command): Command {
  return clientOptions(
    cmd
      .option('--key <id>', 'key id (shared with the co-signing server)', keyIdArg)
      .option('--local <file>', 'a local key file (tessera keygen --local FILE)')
  );
}

interface LocalKeyFile {
  format: 'tessera-local-key/v1';
  scheme: Scheme;
  /** Each share sealed by core's backup format (Argon2id + AES-256-GCM) under the passphrase. */
  shares: string[];
}

function passphrase(env: NodeJS.ProcessEnv): string {
  const p = env.TESSERA_PASSPHRASE;
  if (!p) throw new UsageError('a local key file needs its passphrase in TESSERA_PASSPHRASE');
  return p;
}

/** Creates a 2-of-2 key whose two shares both go, sealed, into `file`. */
export async function createLocalKey(
  file: string,
  scheme: Scheme,
  env: NodeJS.ProcessEnv
): Promise<KeyShare> {
  const pass = passphrase(env);
  // The file holds every share of the key: the passphrase must be at least a backup's.
  await checkBackupPassphrase(pass);
  const shares = await local.keygen(scheme, { threshold: 2, parties: 2 });
  const sealed = await Promise.all(shares.map((s) => exportShare(s, pass)));
  const body: LocalKeyFile = {
    format: 'tessera-local-key/v1',
    scheme,
    shares: sealed.map((b) => Buffer.from(b).toString('base64')),
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return shares[0] as KeyShare;
}

async function openLocal(file: string, env: NodeJS.ProcessEnv): Promise<KeyShare[]> {
  let body: LocalKeyFile;
  try {
    body = JSON.parse(readFileSync(file, 'utf8')) as LocalKeyFile;
  } catch (e) {
    throw new UsageError(`--local ${file}: ${(e as Error).message}`);
  }
  if (body.format !== 'tessera-local-key/v1' || !Array.isArray(body.shares))
    throw new UsageError(`--local ${file}: not a tessera local key file`);
  const pass = passphrase(env);
  return Promise.all(
    body.shares.map((b) => importShare(new Uint8Array(Buffer.from(b, 'base64')), pass))
  );
}

/**
 * The key for the flags (exactly one of `--key` and `--local`): its backend, and for a local key
 * its shares (a Taproot key signs with tweaked shares).
 */
export async function chainKey(
  f: ChainKeyFlags,
  env: NodeJS.ProcessEnv
): Promise<{ backend: SigningBackend; shares: KeyShare[] | null }> {
  if ((f.key === undefined) === (f.local === undefined))
    throw new UsageError('give exactly one of --key ID and --local FILE');
  if (f.local !== undefined) {
    const shares = await openLocal(f.local, env);
    return { backend: new LocalBackend(shares), shares };
  }
  return {
    backend: await RemoteBackend.open(await connect(f, env), f.key as string),
    shares: null,
  };
}

export async function chainBackend(
  f: ChainKeyFlags,
  env: NodeJS.ProcessEnv
): Promise<SigningBackend> {
  return (await chainKey(f, env)).backend;
}
