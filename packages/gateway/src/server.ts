/**
 * The composition root: the signing key, the ban book, the Argon2id pool, the nodes and the app
 * from a configuration, listening; `close()` drains requests and stops the workers.
 * @module
 */

import { assertRngHealthy } from '@tessera/core';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';
import type pino from 'pino';
import type { Logger } from 'pino';
import { buildGatewayApp } from './app.ts';
import { ApiKeys } from './auth.ts';
import { BanBook } from './bans.ts';
import type { GatewayConfig } from './config.ts';
import { KdfPool } from './kdf-pool.ts';
import { loadGatewayKey } from './keyfile.ts';
import { createGatewayLogger } from './log.ts';
import { Nodes } from './nodes.ts';
import { TokenMinter } from './token.ts';

export interface RunningGateway {
  url: string;
  log: Logger;
  close(): Promise<void>;
}

export async function startGateway(
  config: GatewayConfig,
  opts: { logDestination?: pino.DestinationStream; fetch?: typeof fetch } = {}
): Promise<RunningGateway> {
  const log = createGatewayLogger(config.logLevel, opts.logDestination);
  assertRngHealthy();
  // The gateway runs the client's part of ECDSA key generation: the same backend as the server.
  const secp256k1 = installSecp256k1Backend();
  log.info({ secp256k1: secp256k1.backend }, 'secp256k1 arithmetic backend');
  if (secp256k1.warning) log.warn({ secp256k1: secp256k1.backend }, secp256k1.warning);
  const key = await loadGatewayKey(config.data);
  const pool = new KdfPool({ size: config.workers, maxQueue: config.maxQueue });
  const nodes = new Nodes({
    nodes: config.nodes,
    tokens: new TokenMinter(key, config.token),
    bans: new BanBook(config.data),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const app = await buildGatewayApp({
    config,
    log,
    apiKeys: new ApiKeys(config.apiKeys),
    kdf: pool.derive,
    nodes,
  });
  let url: string;
  try {
    url = await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await pool.close();
    throw e;
  }
  // An IPv6 host is bracketed in URLs; Fastify answers the first address it bound.
  const addr = app.server.address();
  if (addr && typeof addr === 'object')
    url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    url,
    log,
    async close() {
      await app.close();
      await pool.close();
    },
  };
}
