/**
 * `tessera node identity`: prints the public identity a node of the 2-of-3 topology wrote to its
 * data directory at its first start (what clients and gateways pin), without the node running
 * and without its key-encryption key.
 * @module
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, UsageError } from '../output.ts';

interface IdentityFlags extends OutputFlags {
  data?: string;
}

export function register(program: Command, io: CliIo): void {
  const node = program.command('node').description('a node of the 2-of-3 topology');
  outputOptions(
    node
      .command('identity')
      .description("print the node's public identity: fingerprint, Ed25519 and X25519 keys")
      .option('--data <dir>', "the node's data directory (env TESSERA_DATA)")
  ).action(async (f: IdentityFlags) => {
    const data = f.data ?? io.env.TESSERA_DATA;
    if (!data) throw new UsageError('no data directory: pass --data or set TESSERA_DATA');
    const { IDENTITY_FILE, readNodeIdentity } = await import('@tessera/server');
    let id: ReturnType<typeof readNodeIdentity>;
    try {
      id = readNodeIdentity(join(data, IDENTITY_FILE));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    new Output(io, f).result(
      { fingerprint: id.fingerprint, ed25519: id.ed25519, x25519: id.x25519 },
      [`${id.nodeId} ${id.fingerprint}`, `ed25519 ${id.ed25519}`, `x25519 ${id.x25519}`]
    );
  });
}
