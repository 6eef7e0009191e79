/**
 * `tessera sign`: a joint signature with the server. `--digest` signs 32 bytes as given (ECDSA
 * blind signing, which the server's policy must allow); `--message` sends the bytes so the server
 * sees what it signs and hashes them itself (ECDSA) or signs them directly (Ed25519, BIP-340).
 * @module
 */
import type { SignInput } from '@tessera/client';
import { type Command, Option } from 'commander';
import { type ClientFlags, clientOptions, connect, keyIdArg } from '../connect.ts';
import { type CliIo, Output, table, UsageError } from '../output.ts';
import { hexArg } from './parse.ts';

interface SignFlags extends ClientFlags {
  key: string;
  digest?: string;
  message?: string;
  hash?: 'sha256' | 'keccak256';
}

export function register(program: Command, io: CliIo): void {
  clientOptions(
    program
      .command('sign')
      .description('sign a digest or a message with a key')
      .requiredOption('--key <id>', 'key id', keyIdArg)
      .option('--digest <hex>', 'the 32-byte digest to sign (ECDSA)', hexArg(32))
      .option('--message <hex>', 'the message bytes to sign', hexArg())
      .addOption(
        new Option(
          '--hash <hash>',
          'how the server hashes an ECDSA --message (default sha256)'
        ).choices(['sha256', 'keccak256'])
      )
  ).action(async (f: SignFlags) => {
    const what = input(f);
    const out = new Output(io, f);
    const sig = await (await connect(f, io.env)).sign(f.key, what, { onProgress: out.progress() });
    const { keyId, signature, r, s, recovery, der } = sig;
    const ecdsa = r === undefined ? {} : { r, s, recovery, der };
    out.result(
      { keyId, signature, ...ecdsa },
      table([
        ['signature', signature],
        ...Object.entries(ecdsa).map(([k, v]): [string, string] => [k, String(v)]),
      ])
    );
  });
}

function input(f: SignFlags): SignInput {
  if ((f.digest === undefined) === (f.message === undefined))
    throw new UsageError('give exactly one of --digest and --message');
  if (f.digest !== undefined) {
    if (f.hash)
      throw new UsageError('--hash applies to --message only: a digest is already hashed');
    return { digest: f.digest };
  }
  return { message: f.message ?? '', ...(f.hash ? { hash: f.hash } : {}) };
}
