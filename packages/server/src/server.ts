/**
 * Composition root: store, custody, auth, engine and HTTP app from a resolved configuration.
 * `startServer` listens and returns a handle whose `close()` drains in-flight requests first.
 * @module
 */
import { join } from 'node:path';
import { assertRngHealthy } from '@tessera/core';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';
import type pino from 'pino';
import type { Logger } from 'pino';
import { FileEpochAnchor } from './anchor.ts';
import { buildApp, renderMetrics } from './app.ts';
import { type AttestationProvider, Attestor, nitroHelperProvider } from './attestation.ts';
import { Authenticator } from './auth.ts';
import { ComputePool } from './compute.ts';
import type { ServerConfig } from './config.ts';
import { type KeyWrapper, LocalKek, Sealer } from './custody.ts';
import { createLogger } from './log.ts';
import { listenMetrics, Metrics } from './metrics.ts';
import { IDENTITY_FILE, NodeIdentity } from './node/identity.ts';
import { Pkcs11KeyWrapper } from './pkcs11.ts';
import { LocalSessionEvents, RedisLink, RedisSessionEvents } from './redis.ts';
import { openRelayIdentity, RelayParticipant } from './relay/participant.ts';
import { SessionEngine } from './sessions/engine.ts';
import { openPostgresStore } from './store/postgres.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { Store } from './store/store.ts';

export interface RunningServer {
  url: string;
  /** The metrics listener's `/metrics` URL (`metrics.port`), or null when there is none. */
  metricsUrl: string | null;
  app: Awaited<ReturnType<typeof buildApp>>;
  engine: SessionEngine;
  store: Store;
  /** Where protocol arithmetic and payload hashing run (tests observe its dispatches). */
  compute: ComputePool;
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
  /** An attestation provider other than the configured one (tests serve fixtures with it). */
  attestationProvider?: AttestationProvider;
  /** Crash tests: the engine fault point at which this process kills itself with SIGKILL. */
  killAt?: string;
}

/** The store a configuration names: `sqlite:PATH` (embedded) or `postgres://…` (scale-out). */
export function openStore(config: Pick<ServerConfig, 'store' | 'storePoolSize'>): Store {
  return config.store.startsWith('sqlite:')
    ? openSqliteStore(config.store)
    : openPostgresStore(config.store, { poolSize: config.storePoolSize });
}

export async function startServer(
  config: ServerConfig,
  opts: StartOptions = {}
): Promise<RunningServer> {
  const log = createLogger(config.logLevel, opts.logDestination);
  // Before anything opens: a broken random source or a chosen backend that does not load stops
  // the server here, loudly.
  assertRngHealthy();
  const secp256k1 = installSecp256k1Backend();
  log.info({ secp256k1: secp256k1.backend }, 'secp256k1 arithmetic backend');
  if (secp256k1.warning) log.warn({ secp256k1: secp256k1.backend }, secp256k1.warning);
  const store = openStore(config);
  // A wrapper opened here is closed here (a PKCS#11 session); one passed in belongs to the caller.
  let owned: Pkcs11KeyWrapper | null = null;
  let sealer: Sealer;
  let wrapper: KeyWrapper;
  let storeIsNew = true;
  try {
    await store.init();
    storeIsNew = (await store.getWrappedDataKey()) === null;
    if (opts.keyWrapper) wrapper = opts.keyWrapper;
    else if (config.pkcs11) wrapper = owned = Pkcs11KeyWrapper.open(config.pkcs11);
    else wrapper = LocalKek.load(config.kekFile, { create: true });
    sealer = await Sealer.open(wrapper, {
      get: () => store.getWrappedDataKey(),
      putIfAbsent: (w) => store.putWrappedDataKeyIfAbsent(w),
    });
  } catch (e) {
    owned?.close();
    await store.close().catch(() => {});
    throw e;
  }
  const identity = config.node.id
    ? await NodeIdentity.open(config.node.id, store, sealer, join(config.data, IDENTITY_FILE))
    : undefined;
  const auth = await Authenticator.create(config, store);
  const metrics = new Metrics();
  const redis = config.redis ? new RedisLink(config.redis, config.redisPrefix, log) : null;
  const events = redis ? new RedisSessionEvents(redis) : new LocalSessionEvents();
  const compute = new ComputePool(config.workers, undefined, {
    bulkWorkers: config.bulkWorkers,
    payloadWorkers: config.payloadWorkers,
  });
  const anchor = new FileEpochAnchor(config.epochAnchorFile);
  if (anchor.created && !storeIsNew)
    log.warn(
      { epochAnchorFile: config.epochAnchorFile },
      'the epoch anchor was missing for a store in use: created empty, so rollback and ban detection start from now; if it was lost or restored with the database, check the store'
    );
  const provider =
    opts.attestationProvider ??
    (config.attestation.provider === 'nitro' && config.attestation.helper
      ? nitroHelperProvider(config.attestation.helper)
      : null);
  // The same identity the server has in relay rooms: one key to attest, whichever transport.
  const serverIdentity =
    provider || config.relay.url ? await openRelayIdentity(store, sealer) : null;
  const attestation =
    provider && serverIdentity ? new Attestor(provider, serverIdentity, log) : null;
  const engine = new SessionEngine({
    ...(identity ? { identity } : {}),
    ...(attestation
      ? {
          signReply: (kind: 'started' | 'step', r: object) => attestation.signReply(kind, r),
          sessionIdentity: attestation.identity,
        }
      : {}),
    anchor,
    events,
    compute,
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
  await engine.recoverPairMarkers();
  await engine.reap();
  const relay = config.relay.url
    ? new RelayParticipant({
        url: config.relay.url,
        identity: serverIdentity ?? (await openRelayIdentity(store, sealer)),
        engine,
        log,
        idleMs: config.sessions.idleMs,
        messagesPerMinute: config.limits.wsMessagesPerMinute,
      })
    : null;
  const d = {
    config,
    store,
    engine,
    auth,
    metrics,
    log,
    redis,
    events,
    relay,
    attestation,
    compute,
  };
  const app = await buildApp(d);
  const address = await app.listen({ host: config.host, port: config.port });
  const metricsListener =
    config.metrics.port === null ? null : await listenMetrics(config, () => renderMetrics(d));
  const reaper = setInterval(
    () => void engine.reap().catch((e: Error) => log.error({ err: e.message }, 'reaper failed')),
    30_000
  );
  reaper.unref();
  log.info(
    {
      address,
      store: store.description,
      redis: redis?.description ?? 'off',
      keyWrapper: wrapper.description,
      dev: config.dev,
      node: identity ? { id: identity.nodeId, fingerprint: identity.public.fingerprint } : 'off',
      relay: relay ? { url: relay.url, fingerprint: relay.public.fingerprint } : 'off',
      attestation: attestation?.description ?? 'off',
      metrics:
        metricsListener?.url ??
        (config.metrics.token ? 'with the metrics token' : config.dev ? 'open (dev)' : 'off'),
    },
    'tessera server listening'
  );
  let closing: Promise<void> | null = null;
  return {
    url: address.replace('[::1]', 'localhost'),
    metricsUrl: metricsListener?.url ?? null,
    app,
    engine,
    store,
    compute,
    metrics,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(reaper);
        relay?.close();
        metricsListener?.server.close();
        await app.close();
        await compute.close();
        await events.close();
        await redis?.close();
        await store.close();
        owned?.close();
      })();
      return closing;
    },
  };
}
