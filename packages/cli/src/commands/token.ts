/**
 * `tessera token`: a development JWT signed with the dev key a `--dev` server keeps in its data
 * directory, so a local setup needs no identity provider.
 * @module
 */
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, UsageError } from '../output.ts';
import { positiveIntArg } from './parse.ts';

interface TokenFlags extends OutputFlags {
  data?: string;
  sub: string;
  ttl?: number;
}

export function register(program: Command, io: CliIo): void {
  outputOptions(
    program
      .command('token')
      .description('print a development token (the server must have run with --dev --data DIR)')
      .option('--data <dir>', "the dev server's data directory (env TESSERA_DATA)")
      .requiredOption('--sub <name>', 'subject: who the token is for')
      .option(
        '--ttl <seconds>',
        'lifetime in seconds (default 3600, at most 86400)',
        positiveIntArg
      )
  ).action(async (f: TokenFlags) => {
    const data = f.data ?? io.env.TESSERA_DATA;
    if (!data) throw new UsageError('no data directory: pass --data or set TESSERA_DATA');
    const { devToken } = await import('@tessera/server');
    let token: string;
    try {
      token = await devToken(data, f.sub, f.ttl === undefined ? {} : { ttlSeconds: f.ttl });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    new Output(io, f).result({ token }, [token]);
  });
}
