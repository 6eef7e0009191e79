/**
 * `tessera server start`: runs the co-signing server in the foreground until SIGINT/SIGTERM, then
 * drains in-flight requests before returning. Server logs go to stderr so stdout carries only the
 * `listening on URL` line a supervisor or test can wait for.
 * @module
 */
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags } from '../output.ts';
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
  ).action(async (f: StartFlags) => {
    // Loaded here: the server's dependencies would slow every other command down.
    const { loadConfig, startServer } = await import('@tessera/server');
    const { host, port, data, store, redis, kekFile, dev, config: file } = f;
    const config = loadConfig(
      defined({ host, port, data, store, redis, kekFile, dev, config: file }),
      io.env
    );
    const srv = await startServer(config, { logDestination: io.stderr });
    const out = new Output(io, f);
    // Repeats while closing (a terminal's Ctrl-C reaches the launcher and us) just resolve again.
    let stop: (s: NodeJS.Signals) => void = () => {};
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      stop = resolve;
    });
    for (const s of SIGNALS) process.on(s, stop);
    try {
      out.result({ url: srv.url }, [`listening on ${srv.url}`]);
      out.note(`data in ${config.data} (store ${srv.store.description})`);
      out.note(`${await stopped}: closing`);
      await srv.close();
    } finally {
      for (const s of SIGNALS) process.off(s, stop);
    }
  });
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
