/**
 * The composition root: the room store (Redis, or memory in dev mode), the services and the app
 * from a configuration, listening; `close()` drains requests and closes the store.
 * @module
 */
import type pino from 'pino';
import type { Logger } from 'pino';
import { buildRelayApp } from './app.ts';
import { RelayAuth } from './auth.ts';
import type { RelayConfig } from './config.ts';
import { createRelayLogger } from './log.ts';
import { Metrics } from './metrics.ts';
import { RedisRoomStore } from './redis-store.ts';
import { Rooms } from './rooms.ts';
import { MemoryRoomStore, type RoomStore } from './store.ts';

export interface RunningRelay {
  url: string;
  /** The origin logins are bound to. */
  origin: string;
  log: Logger;
  close(): Promise<void>;
}

export interface StartRelayOptions {
  logDestination?: pino.DestinationStream;
  /** The clock (tests); `Date.now` by default. */
  now?: () => number;
  /** A store of the caller's (tests); by default Redis, or memory in dev mode. */
  store?: RoomStore;
  metricsToken?: string | null;
}

export async function startRelay(
  config: RelayConfig,
  opts: StartRelayOptions = {}
): Promise<RunningRelay> {
  const log = createRelayLogger(config.logLevel, opts.logDestination);
  const now = opts.now ?? Date.now;
  const store =
    opts.store ??
    (config.redis
      ? new RedisRoomStore(config.redis, config.redisPrefix, log)
      : new MemoryRoomStore({ now }));
  const metrics = new Metrics();
  let origin = config.publicUrl ?? '';
  const app = await buildRelayApp(
    {
      config,
      log,
      store,
      auth: new RelayAuth(store, config.limits, now),
      rooms: new Rooms(store, config.limits, now, metrics),
      metrics,
      now,
      origin: () => origin,
    },
    { metricsToken: opts.metricsToken ?? null }
  );
  let url: string;
  try {
    url = await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await store.close();
    throw e;
  }
  const addr = app.server.address();
  if (addr && typeof addr === 'object')
    url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (!config.publicUrl) origin = new URL(url).origin;
  return {
    url,
    origin,
    log,
    async close() {
      await app.close();
      await store.close();
    },
  };
}
