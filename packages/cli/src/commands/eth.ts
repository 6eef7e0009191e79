/**
 * `tessera eth address|sign-message|sign-typed-data|send`: a Tessera ECDSA key on Ethereum
 * through the viem account of @tessera/chains. `send` builds an EIP-1559 transfer against a
 * JSON-RPC node (nonce, fees and chain id from the node), has it signed (the co-signing server
 * parses it and applies the key's policy first) and broadcasts it.
 * @module
 */
import { readFileSync } from 'node:fs';
import { EthereumKey } from '@tessera/chains';
import type { Command } from 'commander';
import {
  type Address,
  createPublicClient,
  createWalletClient,
  getAddress,
  http,
  isAddress,
  parseEther,
  type TypedDataDefinition,
} from 'viem';
import { type CliIo, Output, table, UsageError } from '../output.ts';
import { type ChainKeyFlags, chainBackend, chainKeyOptions } from './chainkey.ts';

const ethKey = async (f: ChainKeyFlags, io: CliIo) =>
  new EthereumKey(await chainBackend(f, io.env));

function addressArg(value: string): Address {
  if (!isAddress(value, { strict: false })) throw new UsageError(`not an address: ${value}`);
  return getAddress(value);
}

function etherArg(value: string): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(value))
    throw new UsageError(`--value: an amount of ether like 0.5, got "${value}"`);
  return parseEther(value);
}

export function register(program: Command, io: CliIo): void {
  const eth = program
    .command('eth')
    .description('Ethereum: address, messages, typed data, transfers');

  chainKeyOptions(eth.command('address').description("the key's Ethereum address")).action(
    async (f: ChainKeyFlags) => {
      const key = await ethKey(f, io);
      new Output(io, f).result({ address: key.address }, [key.address]);
    }
  );

  chainKeyOptions(
    eth
      .command('sign-message')
      .description('EIP-191 personal_sign of a text message')
      .requiredOption('--message <text>', 'the message (UTF-8 text)')
  ).action(async (f: ChainKeyFlags & { message: string }) => {
    const signature = await (await ethKey(f, io)).signMessage(f.message);
    new Output(io, f).result({ signature }, [signature]);
  });

  chainKeyOptions(
    eth
      .command('sign-typed-data')
      .description('EIP-712 typed data, from a JSON file ({domain, types, primaryType, message})')
      .requiredOption('--data <file>', 'the typed data as JSON')
  ).action(async (f: ChainKeyFlags & { data: string }) => {
    let typedData: TypedDataDefinition;
    try {
      typedData = JSON.parse(readFileSync(f.data, 'utf8')) as TypedDataDefinition;
    } catch (e) {
      throw new UsageError(`--data ${f.data}: ${(e as Error).message}`);
    }
    const signature = await (await ethKey(f, io)).signTypedData(typedData);
    new Output(io, f).result({ signature }, [signature]);
  });

  chainKeyOptions(
    eth
      .command('send')
      .description('send ether: an EIP-1559 transfer, signed jointly and broadcast')
      .requiredOption('--rpc <url>', 'Ethereum JSON-RPC endpoint')
      .requiredOption('--to <address>', 'recipient', addressArg)
      .requiredOption('--value <ether>', 'amount in ether, e.g. 0.5', etherArg)
      .option('--no-wait', 'return after broadcasting, without waiting for the receipt')
  ).action(
    async (f: ChainKeyFlags & { rpc: string; to: Address; value: bigint; wait: boolean }) => {
      const out = new Output(io, f);
      const key = await ethKey(f, io);
      const transport = http(f.rpc);
      const client = createPublicClient({ transport });
      const chainId = await client.getChainId();
      const wallet = createWalletClient({ account: key.toViemAccount(), transport });
      const request = await wallet.prepareTransactionRequest({
        to: f.to,
        value: f.value,
        type: 'eip1559',
        chain: null,
        chainId,
      });
      const signed = await wallet.signTransaction({ ...request, chain: null });
      const hash = await client.sendRawTransaction({ serializedTransaction: signed });
      if (!f.wait) {
        out.result({ hash }, table([['hash', hash]]));
        return;
      }
      const receipt = await client.waitForTransactionReceipt({ hash });
      if (receipt.status !== 'success')
        throw new UsageError(`transaction ${hash} was mined but reverted`);
      out.result(
        { hash },
        table([
          ['hash', hash],
          ['status', receipt.status],
          ['block', Number(receipt.blockNumber)],
        ])
      );
    }
  );
}
