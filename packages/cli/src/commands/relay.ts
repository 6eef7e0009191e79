/**
 * `tessera relay start`: the message relay (docs/relay.md) in the foreground until
 * SIGINT/SIGTERM. Its logs go to stderr, so stdout carries only the `listening on URL` line a
 * supervisor or test waits for.
 * @module
 */
import { walletAssets } from '@tessera/wallet';
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, serveUntilSignal } from '../output.ts';
import { defined, portArg } from './parse.ts';

interface StartFlags extends OutputFlags {
  host?: string;
  port?: number;
  dev?: boolean;
  redis?: string;
  publicUrl?: string;
  wallet: boolean;
}

export function register(program: Command, io: CliIo): void {
  const relay = program
    .command('relay')
    .description('the message relay: sealed envelopes between the members of a room');

  outputOptions(
    relay
      .command('start')
      .description('serve the relay in the foreground (Redis rooms, or in-memory with --dev)')
      .option('--host <host>', 'listen address (env TESSERA_RELAY_HOST, default 127.0.0.1)')
      .option(
        '--port <port>',
        'listen port, 0 for a free one (env TESSERA_RELAY_PORT, default 7440)',
        portArg
      )
      .option('--dev', 'in-memory rooms on this instance only (no Redis)')
      .option('--redis <url>', 'Redis URL shared by every instance (env TESSERA_RELAY_REDIS)')
      .option(
        '--public-url <url>',
        'the origin logins are bound to (env TESSERA_RELAY_PUBLIC_URL, default the listening URL)'
      )
      .option(
        '--no-wallet',
        'do not serve the web wallet at /wallet (env TESSERA_RELAY_WALLET_DIR serves another build)'
      )
  ).action(async (f: StartFlags) => {
    // Loaded here: the relay's dependencies would slow every other command down.
    const { loadRelayConfig, startRelay } = await import('@tessera/relay');
    const { host, port, dev, redis, publicUrl } = f;
    const loaded = loadRelayConfig(defined({ host, port, dev, redis, publicUrl }), io.env);
    // The wallet this package ships, unless the environment names another or none is wanted.
    const config = {
      ...loaded,
      walletDir: !f.wallet ? null : (loaded.walletDir ?? walletAssets()),
    };
    const relayed = await startRelay(config, {
      logDestination: io.stderr,
      metricsToken: io.env.TESSERA_RELAY_METRICS_TOKEN || null,
    });
    await serveUntilSignal(
      new Output(io, f),
      relayed.url,
      [
        `rooms in ${config.redis ? 'Redis' : 'memory (dev mode: one instance, nothing kept)'}; logins bound to ${relayed.origin}`,
        ...(config.walletDir ? [`wallet at ${relayed.url}/wallet/`] : []),
      ],
      () => relayed.close()
    );
  });
}
