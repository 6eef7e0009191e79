/**
 * `tessera server start`: runs the co-signing server in the foreground until SIGINT/SIGTERM, then
 * drains in-flight requests before returning. Server logs go to stderr so stdout carries only the
 * `listening on URL` line a supervisor or test can wait for.
 * @module
 */
import { walletAssets } from '@tessera/wallet';
import { type Command, InvalidArgumentError } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, serveUntilSignal } from '../output.ts';
import { defined, portArg } from './parse.ts';

interface StartFlags extends OutputFlags {
  host?: string;
  port?: number;
  data?: string;
  store?: string;
  redis?: string;
  kekFile?: string;
  dev?: boolean;
  config?: string;
  nodeId?: 'node1' | 'node2';
  trustJwks?: string[];
  wallet: boolean;
}

export function register(program: Command, io: CliIo): void {
  const server = program.command('server').description('run the co-signing server');
  outputOptions(
    server
      .command('start')
      .description('start the server in the foreground (SIGINT/SIGTERM stop it gracefully)')
      .option('--host <host>', 'listen address (env TESSERA_HOST, default 127.0.0.1)')
      .option(
        '--port <port>',
        'listen port, 0 for a free one (env TESSERA_PORT, default 7420)',
        portArg
      )
      .option('--data <dir>', 'data directory (env TESSERA_DATA, default ./data)')
      .option('--store <url>', 'store URL, sqlite:PATH (env TESSERA_STORE_URL)')
      .option('--redis <url>', 'Redis URL (env TESSERA_REDIS_URL)')
      .option('--kek-file <file>', 'key-encryption key file (env TESSERA_KEK_FILE)')
      .option('--dev', 'development mode: local JWT key, blind signing allowed')
      .option('--config <file>', 'JSON or YAML config file (env TESSERA_CONFIG)')
      .option(
        '--node-id <id>',
        'run as node1 or node2 of the 2-of-3 topology (env TESSERA_NODE_ID; config node.id)',
        nodeIdArg
      )
      .option(
        '--trust-jwks <file>',
        "also trust the token keys of this JWKS file (a gateway's); repeatable",
        (v: string, prev: string[] = []) => [...prev, v]
      )
      .option('--no-wallet', 'do not serve the web wallet at /wallet (env TESSERA_WALLET_DIR)')
  ).action(async (f: StartFlags) => {
    // Loaded here: the server's dependencies would slow every other command down.
    const { loadConfig, startServer } = await import('@tessera/server');
    const { host, port, data, store, redis, kekFile, dev, config: file } = f;
    const config = loadConfig(
      {
        ...defined({ host, port, data, store, redis, kekFile, dev, config: file }),
        ...(f.nodeId ? { node: { id: f.nodeId } } : {}),
        ...(f.trustJwks ? { auth: { trustJwks: f.trustJwks } } : {}),
      },
      io.env
    );
    // The wallet this package ships, unless the configuration names another or none is wanted.
    const walletDir = !f.wallet ? null : (config.wallet.dir ?? walletAssets());
    const srv = await startServer(
      { ...config, wallet: { dir: walletDir } },
      { logDestination: io.stderr }
    );
    await serveUntilSignal(
      new Output(io, f),
      srv.url,
      [
        `data in ${config.data} (store ${srv.store.description})`,
        ...(walletDir ? [`wallet at ${srv.url}/wallet/`] : []),
      ],
      () => srv.close()
    );
  });
}

function nodeIdArg(v: string): 'node1' | 'node2' {
  if (v !== 'node1' && v !== 'node2') throw new InvalidArgumentError('expected node1 or node2');
  return v;
}
