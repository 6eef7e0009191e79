/**
 * Composition root: store, custody, auth, engine and HTTP app from a resolved configuration.
 * `startServer` listens and returns a handle whose `close()` drains in-flight requests first.
 * @module
 */
import type pino from 'pino';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { Authenticator } from './auth.ts';
import type { ServerConfig } from './config.ts';
import { type KeyWrapper, LocalKek, Sealer } from './custody.ts';
import { SessionEngine } from './engine.ts';
import { createLogger } from './log.ts';
import { Metrics } from './metrics.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/store.ts';

export interface RunningServer {
  url: string;
  app: Awaited<ReturnType<typeof buildApp>>;
  engine: SessionEngine;
  store: Store;
  metrics: Metrics;
  log: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Log destination (tests capture it); defaults to stdout. */
  logDestination?: pino.DestinationStream;
  /** A key wrapper other than the local KEK file (HSM, KMS). */
  keyWrapper?: KeyWrapper;
  /** Clock (tests). */
  now?: () => number;
  /** Crash tests: the engine fault point at which this process kills itself with SIGKILL. */
  killAt?: string;
}

export async function startServer(
  config: ServerConfig,
  opts: StartOptions = {}
): Promise<RunningServer> {
  const log = createLogger(config.logLevel, opts.logDestination);
  const store = openSqliteStore(config.store);
  await store.init();
  const recovered = await store.recoverPairMarkers();
  if (recovered > 0)
    log.warn(
      { pairs: recovered },
      'pair markers left by a crash are now bans (protocol-spec §15.1)'
    );
  const wrapper = opts.keyWrapper ?? LocalKek.load(config.kekFile, { create: true });
  const sealer = await Sealer.open(wrapper, {
    get: () => store.getWrappedDataKey(),
    putIfAbsent: (w) => store.putWrappedDataKeyIfAbsent(w),
  });
  const auth = await Authenticator.create(config);
  const metrics = new Metrics();
  const engine = new SessionEngine({
    store,
    sealer,
    config,
    metrics,
    log,
    ...(opts.now ? { now: opts.now } : {}),
  });
  if (opts.killAt) {
    const point = opts.killAt;
    engine.faultPoint = (name) => {
      if (name === point) process.kill(process.pid, 'SIGKILL');
    };
  }
  await engine.reap();
  const app = await buildApp({ config, store, engine, auth, metrics, log });
  const address = await app.listen({ host: config.host, port: config.port });
  const reaper = setInterval(
    () => void engine.reap().catch((e: Error) => log.error({ err: e.message }, 'reaper failed')),
    30_000
  );
  reaper.unref();
  log.info(
    { address, store: store.description, keyWrapper: wrapper.description, dev: config.dev },
    'tessera server listening'
  );
  let closing: Promise<void> | null = null;
  return {
    url: address.replace('[::1]', 'localhost'),
    app,
    engine,
    store,
    metrics,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(reaper);
        await app.close();
        await store.close();
      })();
      return closing;
    },
  };
}
