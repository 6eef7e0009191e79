/**
 * `tessera proxy start`: the parent proxy (docs/proxy.md) in the foreground until SIGINT/SIGTERM,
 * on the host of the enclave the co-signer runs in. Its logs go to stderr, so stdout carries only
 * the `listening on URL` line a supervisor or test waits for.
 * @module
 */
import type { ProxyFlags } from '@tessera/proxy';
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, serveUntilSignal } from '../output.ts';
import { defined, portArg, positiveIntArg } from './parse.ts';

/** The proxy's own flags, with `--rate-window` under commander's name for it. */
interface StartFlags extends OutputFlags, Omit<ProxyFlags, 'rateWindowSeconds'> {
  rateWindow?: number;
}

export function register(program: Command, io: CliIo): void {
  const proxy = program
    .command('proxy')
    .description(
      "the parent proxy: TLS 1.3 in front of a co-signer in an enclave, on the enclave's host"
    );

  outputOptions(
    proxy
      .command('start')
      .description('serve the proxy in the foreground, forwarding to the upstream over plain HTTP')
      .option(
        '--upstream <host:port>',
        "the co-signer: the parent's end of the vsock bridge (env TESSERA_PROXY_UPSTREAM)"
      )
      .option('--tls-cert <file>', 'certificate chain, PEM (env TESSERA_PROXY_TLS_CERT)')
      .option('--tls-key <file>', 'private key, PEM (env TESSERA_PROXY_TLS_KEY)')
      .option('--host <host>', 'listen address (env TESSERA_PROXY_HOST, default 127.0.0.1)')
      .option(
        '--port <port>',
        'listen port, 0 for a free one (env TESSERA_PROXY_PORT, default 8443)',
        portArg
      )
      .option(
        '--rate-limit <n>',
        'requests per client address and window (env TESSERA_PROXY_RATE_LIMIT, default 100)',
        positiveIntArg
      )
      .option(
        '--rate-window <seconds>',
        'the rate window (env TESSERA_PROXY_RATE_WINDOW, default 900)',
        positiveIntArg
      )
  ).action(async (f: StartFlags) => {
    // Loaded here: the proxy's dependencies would slow every other command down.
    const { loadProxyConfig, startProxy } = await import('@tessera/proxy');
    const { upstream, tlsCert, tlsKey, host, port, rateLimit, rateWindow } = f;
    const config = loadProxyConfig(
      defined({ upstream, tlsCert, tlsKey, host, port, rateLimit, rateWindowSeconds: rateWindow }),
      io.env
    );
    const running = await startProxy(config, { logDestination: io.stderr });
    await serveUntilSignal(
      new Output(io, f),
      running.url,
      [
        `forwarding to http://${config.upstream.host}:${config.upstream.port}; ${config.rateLimit} requests per ${config.rateWindowMs / 1000} s per client address`,
      ],
      () => running.close()
    );
  });
}
