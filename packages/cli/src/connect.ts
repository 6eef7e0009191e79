/**
 * The flags every client command shares, and the client they configure. Flags win over the
 * environment so a one-off call can point elsewhere without unsetting variables.
 * @module
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MemoryShareStore, type NodeSet, TesseraClient } from '@tessera/client';
import { FileShareStore, nodeWebSocket } from '@tessera/client/node';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type OutputFlags, UsageError } from './output.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:7420';

export interface ClientFlags extends OutputFlags {
  server?: string;
  token?: string;
  home?: string;
  transport?: 'http' | 'ws' | 'relay';
}

/** `--json` and `--quiet`, on every command. */
export function outputOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print the result as one JSON object on stdout')
    .option('-q, --quiet', 'no progress or notes on stderr');
}

export function serverOption(cmd: Command): Command {
  return cmd.option(
    '--server <url>',
    `co-signing server (env TESSERA_SERVER, default ${DEFAULT_SERVER})`
  );
}

export function clientOptions(cmd: Command): Command {
  return outputOptions(
    serverOption(cmd)
      .option('--token <jwt>', 'bearer token (env TESSERA_TOKEN)')
      .option('--home <dir>', 'client share store (env TESSERA_HOME, default ~/.tessera)')
      .addOption(
        new Option('--transport <kind>', 'session transport')
          .choices(['http', 'ws', 'relay'])
          .default('http')
      )
  );
}

export function serverUrl(f: ClientFlags, env: NodeJS.ProcessEnv): string {
  return f.server ?? (env.TESSERA_SERVER || DEFAULT_SERVER);
}

/**
 * A client for the flags. Commands that only ask the server (`keys list`) pass `store: false`,
 * so they neither create nor unlock the local store.
 */
export async function connect(
  f: ClientFlags,
  env: NodeJS.ProcessEnv,
  opts: { store?: boolean } = {}
): Promise<TesseraClient> {
  const token = f.token ?? env.TESSERA_TOKEN;
  if (!token) throw new UsageError('no token: pass --token or set TESSERA_TOKEN');
  const home = f.home ?? (env.TESSERA_HOME || join(homedir(), '.tessera'));
  const passphrase = env.TESSERA_PASSPHRASE;
  const store =
    opts.store === false
      ? new MemoryShareStore()
      : await FileShareStore.open(home, passphrase ? { passphrase } : {});
  return new TesseraClient({
    server: serverUrl(f, env),
    token,
    store,
    transport: f.transport ?? 'http',
    webSocket: nodeWebSocket,
  });
}

/** The 2-of-3 flags: node 1 is `--server`; node 2's URL and both fingerprints are pinned. */
export interface NodeFlags {
  node2?: string;
  node1Fingerprint?: string;
  node2Fingerprint?: string;
}

export function nodeOptions(cmd: Command): Command {
  return cmd
    .option('--node2 <url>', '2-of-3: node 2 (the recovery node) URL (env TESSERA_NODE2_URL)')
    .option(
      '--node1-fingerprint <hex>',
      "2-of-3: node 1's pinned identity fingerprint (env TESSERA_NODE1_FINGERPRINT)"
    )
    .option(
      '--node2-fingerprint <hex>',
      "2-of-3: node 2's pinned identity fingerprint (env TESSERA_NODE2_FINGERPRINT)"
    );
}

/** Both nodes of a 2-of-3 key from the flags and environment; a usage error if one is missing. */
export function nodeSet(f: ClientFlags & NodeFlags, env: NodeJS.ProcessEnv): NodeSet {
  const node2 = f.node2 ?? env.TESSERA_NODE2_URL;
  const fp1 = f.node1Fingerprint ?? env.TESSERA_NODE1_FINGERPRINT;
  const fp2 = f.node2Fingerprint ?? env.TESSERA_NODE2_FINGERPRINT;
  if (!node2 || !fp1 || !fp2)
    throw new UsageError(
      '2-of-3 needs --node2, --node1-fingerprint and --node2-fingerprint (node 1 is --server)'
    );
  for (const fp of [fp1, fp2])
    if (!/^[0-9a-fA-F]{64}$/.test(fp))
      throw new UsageError(`fingerprint ${fp}: expected 64 hex digits (tessera node identity)`);
  return {
    node1: { url: serverUrl(f, env), fingerprint: fp1.toLowerCase() },
    node2: { url: node2, fingerprint: fp2.toLowerCase() },
  };
}

/** Option parser for a key id as the store names it: 64 hex digits, lower case. */
export function keyIdArg(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new InvalidArgumentError('a key id is 64 hex digits');
  return value.toLowerCase();
}
