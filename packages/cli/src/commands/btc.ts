/**
 * `tessera btc address|sign-psbt`: an ECDSA key as P2WPKH, a BIP-340 key as P2TR (key path, the
 * BIP-341 tweak applied to the shared key). `sign-psbt` signs the inputs that spend the key's
 * outputs, finalises them and prints the PSBT and, once complete, the raw transaction.
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  type BtcNetworkName,
  p2trAddress,
  p2wpkhAddress,
  signPsbt,
  taprootBackend,
  taprootRemoteBackend,
} from '@tessera/chains';
import { type Command, Option } from 'commander';
import { type CliIo, Output, table, UsageError } from '../output.ts';
import { type ChainKeyFlags, chainKey, chainKeyOptions } from './chainkey.ts';

interface BtcFlags extends ChainKeyFlags {
  network: BtcNetworkName;
}

const networkOption = () =>
  new Option('--network <name>', 'address format')
    .choices(['mainnet', 'testnet', 'regtest'])
    .default('mainnet');

export function register(program: Command, io: CliIo): void {
  const btc = program.command('btc').description('Bitcoin: addresses, PSBT signing');

  chainKeyOptions(
    btc
      .command('address')
      .description("the key's address (P2WPKH or P2TR)")
      .addOption(networkOption())
  ).action(async (f: BtcFlags) => {
    const { backend } = await chainKey(f, io.env);
    let address: string;
    let type: 'p2wpkh' | 'p2tr';
    if (backend.scheme === 'ecdsa') {
      address = p2wpkhAddress(backend.publicKey, f.network);
      type = 'p2wpkh';
    } else if (backend.scheme === 'bip340') {
      address = p2trAddress(backend.publicKey, f.network);
      type = 'p2tr';
    } else throw new UsageError('Bitcoin needs an ecdsa (P2WPKH) or bip340 (P2TR) key');
    new Output(io, f).result(
      { address, type },
      table([
        ['address', address],
        ['type', type],
      ])
    );
  });

  chainKeyOptions(
    btc
      .command('sign-psbt')
      .description('sign the inputs of a PSBT that spend this key')
      .option('--psbt <base64>', 'the PSBT (base64)')
      .option('--in <file>', 'a file holding the PSBT (binary or base64)')
      .addOption(networkOption())
  ).action(async (f: BtcFlags & { psbt?: string; in?: string }) => {
    if ((f.psbt === undefined) === (f.in === undefined))
      throw new UsageError('give exactly one of --psbt and --in');
    const psbt = readPsbt(f.psbt ?? readFileSync(f.in as string));
    const { backend, shares } = await chainKey(f, io.env);
    let signers: Parameters<typeof signPsbt>[1];
    if (backend.scheme === 'ecdsa') signers = { ecdsa: backend };
    else if (backend.scheme === 'bip340') {
      // The output key is the tweaked one: local shares are tweaked here, a server key's on
      // both sides (a `taproot` payload).
      signers = { taproot: shares ? taprootBackend(shares) : taprootRemoteBackend(backend) };
    } else throw new UsageError('Bitcoin needs an ecdsa (P2WPKH) or bip340 (P2TR) key');
    const r = await signPsbt(psbt, signers, { network: f.network });
    const out = {
      psbt: Buffer.from(r.psbt).toString('base64'),
      complete: r.complete,
      tx: r.txHex,
      signed: r.signed.map((s) => s.index),
    };
    new Output(io, f).result(
      out,
      table([
        ['signed inputs', out.signed.join(', ')],
        ['complete', String(out.complete)],
        ['psbt', out.psbt],
        ...(out.tx ? [['tx', out.tx] as [string, string]] : []),
      ])
    );
  });
}

function readPsbt(input: string | Buffer): Uint8Array {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (/^[A-Za-z0-9+/=\s]+$/.test(text.trim()))
    return new Uint8Array(Buffer.from(text.trim(), 'base64'));
  return new Uint8Array(input as Buffer);
}
