/**
 * `tessera sol address|sign`: a Tessera Ed25519 key on Solana. `sign` builds a SOL transfer
 * message with @solana/kit, has it signed (the server sees the message bytes it signs) and
 * prints the signed transaction in wire format (base64), ready for `sendTransaction`.
 * @module
 */
import { LAMPORTS_PER_SOL, signSolanaTransfer, solanaAddress } from '@tessera/chains';
import type { Command } from 'commander';
import { type CliIo, Output, table, UsageError } from '../output.ts';
import { type ChainKeyFlags, chainBackend, chainKeyOptions } from './chainkey.ts';

function solArg(value: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (!m) throw new UsageError(`--amount: an amount of SOL like 0.5, got "${value}"`);
  return BigInt(m[1] as string) * LAMPORTS_PER_SOL + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export function register(program: Command, io: CliIo): void {
  const sol = program.command('sol').description('Solana: address, SOL transfers');

  chainKeyOptions(sol.command('address').description("the key's Solana address")).action(
    async (f: ChainKeyFlags) => {
      const address = solanaAddress((await chainBackend(f, io.env)).publicKey);
      new Output(io, f).result({ address }, [address]);
    }
  );

  chainKeyOptions(
    sol
      .command('sign')
      .description('sign a SOL transfer; prints the signed transaction (base64 wire format)')
      .requiredOption('--to <address>', 'recipient (base58)')
      .requiredOption('--amount <sol>', 'amount in SOL, e.g. 0.5', solArg)
      .requiredOption('--blockhash <hash>', 'a recent blockhash (base58), from getLatestBlockhash')
  ).action(async (f: ChainKeyFlags & { to: string; amount: bigint; blockhash: string }) => {
    const signed = await signSolanaTransfer(await chainBackend(f, io.env), {
      to: f.to,
      lamports: f.amount,
      recentBlockhash: f.blockhash,
    });
    const signature = signed.txid;
    new Output(io, f).result(
      { signature, transaction: signed.transaction, from: signed.from },
      table([
        ['from', signed.from],
        ['signature', signature],
        ['transaction', signed.transaction],
      ])
    );
  });
}
