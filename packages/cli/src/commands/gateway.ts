/**
 * `tessera gateway init|start`: the client node for users without an SDK (docs/gateway.md).
 * `init` makes the token-signing key the nodes are told to trust; `start` serves the REST API in
 * the foreground until SIGINT/SIGTERM. Its logs go to stderr, so stdout carries only the
 * `listening on URL` line a supervisor or test waits for.
 * @module
 */
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, serveUntilSignal, UsageError } from '../output.ts';
import { defined, portArg } from './parse.ts';

interface InitFlags extends OutputFlags {
  data?: string;
  force?: boolean;
}

interface StartFlags extends OutputFlags {
  data?: string;
  host?: string;
  port?: number;
}

export function register(program: Command, io: CliIo): void {
  const gateway = program
    .command('gateway')
    .description('the client node: a stateless REST service for users without an SDK');

  outputOptions(
    gateway
      .command('init')
      .description("create the gateway's token-signing key and the JWKS the nodes trust")
      .option('--data <dir>', 'gateway data directory (env TESSERA_GATEWAY_DATA)')
      .option('--force', 'replace an existing key (the nodes must then get the new JWKS)')
  ).action(async (f: InitFlags) => {
    const data = f.data ?? io.env.TESSERA_GATEWAY_DATA;
    if (!data) throw new UsageError('no data directory: pass --data or set TESSERA_GATEWAY_DATA');
    // Loaded here: the gateway's dependencies would slow every other command down.
    const { initGatewayKey } = await import('@tessera/gateway');
    const { jwks } = await initGatewayKey(data, f.force ? { force: true } : {});
    const out = new Output(io, f);
    out.result({ jwks }, [`jwks ${jwks}`]);
    out.note(`start the nodes with --trust-jwks ${jwks}`);
  });

  outputOptions(
    gateway
      .command('start')
      .description(
        'serve the gateway in the foreground (nodes and API keys from TESSERA_GATEWAY_* variables)'
      )
      .option('--data <dir>', 'gateway data directory (env TESSERA_GATEWAY_DATA)')
      .option('--host <host>', 'listen address (env TESSERA_GATEWAY_HOST, default 127.0.0.1)')
      .option(
        '--port <port>',
        'listen port, 0 for a free one (env TESSERA_GATEWAY_PORT, default 7430)',
        portArg
      )
  ).action(async (f: StartFlags) => {
    const { loadGatewayConfig, startGateway } = await import('@tessera/gateway');
    const { data, host, port } = f;
    const config = loadGatewayConfig(defined({ data, host, port }), io.env);
    const gw = await startGateway(config, { logDestination: io.stderr });
    await serveUntilSignal(
      new Output(io, f),
      gw.url,
      [
        `data in ${config.data}; node 1 ${config.nodes.node1.url}, node 2 ${config.nodes.node2.url}`,
      ],
      () => gw.close()
    );
  });
}
