/**
 * Server configuration: defaults, then an optional JSON/YAML file (`--config` /
 * `TESSERA_CONFIG`), then environment variables, then explicit overrides (CLI flags). The file's
 * schema is `ServerConfigFile` below (documented in docs/server.md); unknown keys are refused.
 * @module
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { PolicySchema } from '@tessera/api';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';

/** `recovery.delay` as a string: a number and an optional unit. */
const DURATION = '^(\\d{1,7})([smhd]?)$';
const strict = { additionalProperties: false } as const;
/** The default of `auth.maxTokenLifetimeSeconds`, which dev tokens keep to. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 24 * 3600;

export const ServerConfigFile = Type.Object(
  {
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    data: Type.Optional(
      Type.String({ description: 'data directory (SQLite file, dev keys, KEK)' })
    ),
    store: Type.Optional(
      Type.String({ description: 'store URL: sqlite:PATH or postgres://USER@HOST:PORT/DB' })
    ),
    workers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 64,
        description:
          'worker threads for protocol arithmetic (default: the cores but one, at least 1 and at most 4; 0: on the event loop)',
      })
    ),
    payloadWorkers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 64,
        description:
          'worker threads of their own for hashing sign payloads (typed data, transactions), beside `workers` (default 1; 0: they share the signing workers)',
      })
    ),
    bulkWorkers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 64,
        description:
          'worker threads of their own for key-generation and refresh steps, beside `workers` (default 1; 0: they share the signing workers)',
      })
    ),
    storePoolSize: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description: 'PostgreSQL connections per instance',
      })
    ),
    redis: Type.Optional(
      Type.String({
        description: 'Redis URL: shared rate limits and session events across instances',
      })
    ),
    redisPrefix: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9:_-]{1,64}$',
        description: 'prefix of every Redis key and channel (deployments sharing one Redis)',
      })
    ),
    rateLimitOnRedisDown: Type.Optional(
      Type.Union([Type.Literal('open'), Type.Literal('closed')], {
        description:
          'when Redis is unreachable: let requests through (open) or refuse them (closed)',
      })
    ),
    pkcs11: Type.Optional(
      Type.Object(
        {
          module: Type.String({ description: 'path of the PKCS#11 library (.so)' }),
          token: Type.String({ description: 'label of the token holding the key-encryption key' }),
          keyLabel: Type.Optional(
            Type.String({ description: 'label of the AES key (default tessera-kek)' })
          ),
          pinFile: Type.Optional(
            Type.String({ description: 'file holding the user PIN (else env TESSERA_PKCS11_PIN)' })
          ),
          createKey: Type.Optional(
            Type.Boolean({ description: 'generate the key inside the token if it is missing' })
          ),
        },
        strict
      )
    ),
    kekFile: Type.Optional(
      Type.String({ description: 'file holding the 32-byte key-encryption key (hex)' })
    ),
    epochAnchorFile: Type.Optional(
      Type.String({
        description:
          'append-only file of confirmed share generations, kept outside the store (rollback detection)',
      })
    ),
    dev: Type.Optional(
      Type.Boolean({ description: 'development mode: local JWT key, blind signing allowed' })
    ),
    auth: Type.Optional(
      Type.Object(
        {
          issuer: Type.Optional(Type.String()),
          audience: Type.Optional(Type.String()),
          algorithms: Type.Optional(
            Type.Array(
              Type.Union([
                Type.Literal('EdDSA'),
                Type.Literal('ES256'),
                Type.Literal('ES384'),
                Type.Literal('ES256K'),
                Type.Literal('RS256'),
                Type.Literal('PS256'),
              ])
            )
          ),
          jwksUrl: Type.Optional(Type.String()),
          jwksFile: Type.Optional(
            Type.String({ description: 'a JSON Web Key Set file of public keys' })
          ),
          trustJwks: Type.Optional(
            Type.Array(Type.String(), {
              description:
                'more JWKS files whose keys are trusted beside the configured or dev keys (a gateway that signs tokens for its users)',
            })
          ),
          maxTokenLifetimeSeconds: Type.Optional(
            Type.Integer({
              minimum: 60,
              description: 'longest token lifetime accepted (exp - iat, and exp from now)',
            })
          ),
        },
        strict
      )
    ),
    metrics: Type.Optional(
      Type.Object(
        {
          token: Type.Optional(
            Type.String({
              minLength: 16,
              description: 'bearer token a scraper must send (env TESSERA_METRICS_TOKEN)',
            })
          ),
          host: Type.Optional(Type.String({ description: 'bind address of the metrics listener' })),
          port: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 65535,
              description: 'serve /metrics on this port only, not on the API listener',
            })
          ),
        },
        strict
      )
    ),
    limits: Type.Optional(
      Type.Object(
        {
          requestsPerMinutePerIp: Type.Optional(Type.Integer({ minimum: 1 })),
          keygensPerHourPerSubject: Type.Optional(Type.Integer({ minimum: 1 })),
          signsPerHourPerSubject: Type.Optional(Type.Integer({ minimum: 1 })),
          wsMessagesPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
          requestTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
          headersTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
          keepAliveSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
          idleTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
          connectionsPerIp: Type.Optional(Type.Integer({ minimum: 1 })),
          stepsInFlightPerSubject: Type.Optional(Type.Integer({ minimum: 1 })),
          stepsInFlightPerIp: Type.Optional(Type.Integer({ minimum: 1 })),
          payloadHashMs: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 60_000,
              description:
                'time budget of parsing and hashing one sign payload (typed data, transaction) on a worker',
            })
          ),
        },
        strict
      )
    ),
    sessions: Type.Optional(
      Type.Object(
        {
          idleSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
          lifetimeSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        strict
      )
    ),
    replayWindowSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
    allowedOrigins: Type.Optional(Type.Array(Type.String())),
    trustProxy: Type.Optional(Type.Boolean()),
    policy: Type.Optional(PolicySchema),
    node: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(
            Type.Union([Type.Literal('node1'), Type.Literal('node2')], {
              description: 'run as a node of the 2-of-3 topology (docs/topologies.md)',
            })
          ),
          peerFingerprint: Type.Optional(
            Type.String({
              pattern: '^[0-9a-f]{64}$',
              description: "the other node's identity fingerprint: refuse keys naming another",
            })
          ),
        },
        strict
      )
    ),
    relay: Type.Optional(
      Type.Object(
        {
          url: Type.Optional(
            Type.String({
              description:
                'take part in sessions through this relay (docs/relay-participant.md); env TESSERA_RELAY_URL',
            })
          ),
        },
        strict
      )
    ),
    wallet: Type.Optional(
      Type.Object(
        {
          dir: Type.Optional(
            Type.String({
              description:
                "serve the web wallet's built files from this directory at /wallet (docs/wallet.md); env TESSERA_WALLET_DIR",
            })
          ),
        },
        strict
      )
    ),
    attestation: Type.Optional(
      Type.Object(
        {
          provider: Type.Optional(
            Type.Union([Type.Literal('off'), Type.Literal('nitro')], {
              description:
                'serve GET /v1/attestation and sign session replies: nitro inside an AWS Nitro Enclave (docs/attestation.md); env TESSERA_ATTESTATION',
            })
          ),
          helper: Type.Optional(
            Type.String({
              description:
                'the NSM helper program the nitro provider runs (--nonce HEX --user-data HEX, prints the document in base64); env TESSERA_ATTESTATION_HELPER',
            })
          ),
        },
        strict
      )
    ),
    recovery: Type.Optional(
      Type.Object(
        {
          delay: Type.Optional(
            Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: DURATION })], {
              description:
                'time between a recovery request and the recovery (seconds, or 30m, 24h, 2d); default 24h, 0 in dev mode',
            })
          ),
          notifyUrl: Type.Optional(
            Type.String({ description: 'webhook called (POST, JSON) at each recovery event' })
          ),
        },
        strict
      )
    ),
    logLevel: Type.Optional(
      Type.Union([
        Type.Literal('fatal'),
        Type.Literal('error'),
        Type.Literal('warn'),
        Type.Literal('info'),
        Type.Literal('debug'),
        Type.Literal('trace'),
        Type.Literal('silent'),
      ])
    ),
  },
  strict
);
export type ServerConfigInput = Static<typeof ServerConfigFile>;

/** The resolved configuration the server runs with. */
export interface ServerConfig {
  host: string;
  port: number;
  data: string;
  store: string;
  storePoolSize: number;
  /** Worker threads for protocol arithmetic (0: on the event loop). */
  workers: number;
  /** Workers for key-generation and refresh steps only (0: they share `workers`). */
  bulkWorkers: number;
  /** Workers for hashing sign payloads only (0: they share `workers`). */
  payloadWorkers: number;
  redis: string | null;
  redisPrefix: string;
  rateLimitOnRedisDown: 'open' | 'closed';
  kekFile: string;
  /** Confirmed share generations, outside the store: a restored store cannot sign with old shares. */
  epochAnchorFile: string;
  /** Key-encryption key in a PKCS#11 token instead of `kekFile` (null: the local KEK). */
  pkcs11: {
    module: string;
    token: string;
    keyLabel: string;
    pin: string;
    createKey: boolean;
  } | null;
  dev: boolean;
  auth: {
    issuer: string;
    audience: string;
    algorithms: string[];
    jwksUrl: string | null;
    jwksFile: string | null;
    /** More JWKS files trusted beside the keys above (`--trust-jwks`). */
    trustJwks: string[];
    /** Tokens living longer than this (exp - iat, or exp from now) are refused. */
    maxTokenLifetimeSeconds: number;
  };
  /** Who may read /metrics: a bearer token, a listener of its own, or (dev only) anyone. */
  metrics: { token: string | null; host: string; port: number | null };
  limits: {
    requestsPerMinutePerIp: number;
    keygensPerHourPerSubject: number;
    signsPerHourPerSubject: number;
    wsMessagesPerMinute: number;
    /** The whole request (headers and body) must arrive within this. */
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    /** An idle keep-alive connection between two requests. */
    keepAliveMs: number;
    /** A connection with no traffic either way (a client that stopped reading a reply). */
    idleTimeoutMs: number;
    /** Open connections per client address (its rate-limit bucket), WebSockets included. */
    connectionsPerIp: number;
    /** Step requests received but not yet answered (their bodies in memory). */
    stepsInFlightPerSubject: number;
    stepsInFlightPerIp: number;
    /** Budget of hashing one sign payload on a worker (none with `workers: 0`). */
    payloadHashMs: number;
  };
  sessions: { idleMs: number; lifetimeMs: number };
  replayWindowMs: number;
  allowedOrigins: string[];
  trustProxy: boolean;
  policy: Static<typeof PolicySchema>;
  /** The 2-of-3 topology: this server's node id (null: a plain 2-of-2 co-signer). */
  node: { id: 'node1' | 'node2' | null; peerFingerprint: string | null };
  /** Sessions may run through this relay (null: start/step over HTTP and WebSocket only). */
  relay: { url: string | null };
  /** The web wallet's built files, served at /wallet (null: no wallet). */
  wallet: { dir: string | null };
  /** Enclave attestation: the provider, and the Nitro provider's NSM helper. */
  attestation: { provider: 'off' | 'nitro'; helper: string | null };
  recovery: { delayMs: number; notifyUrl: string | null };
  logLevel: string;
}

/** A configuration value that is missing, malformed or contradictory. */
/**
 * Whoever can answer the JWKS URL can mint tokens for every subject, so it must be fetched over
 * TLS; plain HTTP is allowed only to this machine (a sidecar or a test).
 */
function checkJwksUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`auth.jwksUrl: "${value}" is not a URL`);
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new ConfigError(
      `auth.jwksUrl: expected an https:// URL (http:// only to 127.0.0.1, [::1] or localhost), got ${url.protocol}//${url.host}`
    );
  if (url.username || url.password)
    throw new ConfigError('auth.jwksUrl: credentials in the URL are not accepted');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ENV: Record<string, keyof ServerConfigInput> = {
  TESSERA_HOST: 'host',
  TESSERA_PORT: 'port',
  TESSERA_DATA: 'data',
  TESSERA_STORE_URL: 'store',
  TESSERA_REDIS_URL: 'redis',
  TESSERA_KEK_FILE: 'kekFile',
  TESSERA_EPOCH_ANCHOR_FILE: 'epochAnchorFile',
  TESSERA_STORE_POOL_SIZE: 'storePoolSize',
  TESSERA_WORKERS: 'workers',
  TESSERA_BULK_WORKERS: 'bulkWorkers',
  TESSERA_PAYLOAD_WORKERS: 'payloadWorkers',
  TESSERA_RATE_LIMIT_ON_REDIS_DOWN: 'rateLimitOnRedisDown',
  TESSERA_REDIS_PREFIX: 'redisPrefix',
  TESSERA_DEV: 'dev',
  TESSERA_LOG_LEVEL: 'logLevel',
};

function fromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (['port', 'storePoolSize', 'workers', 'bulkWorkers', 'payloadWorkers'].includes(key)) {
      if (!/^\d{1,5}$/.test(v)) throw new ConfigError(`${name}: expected a number, got "${v}"`);
      out[key] = Number(v);
    } else if (key === 'dev') {
      out[key] = v === '1' || v === 'true';
    } else out[key] = v;
  }
  // The HSM: module and token by environment, the rest from the file's defaults.
  if (env.TESSERA_METRICS_TOKEN) out.metrics = { token: env.TESSERA_METRICS_TOKEN };
  if (env.TESSERA_PKCS11_MODULE || env.TESSERA_PKCS11_TOKEN)
    out.pkcs11 = {
      module: env.TESSERA_PKCS11_MODULE ?? '',
      token: env.TESSERA_PKCS11_TOKEN ?? '',
      ...(env.TESSERA_PKCS11_KEY ? { keyLabel: env.TESSERA_PKCS11_KEY } : {}),
    };
  return out as ServerConfigInput;
}

function readFile(path: string): ServerConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `config file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`
    );
  }
  let parsed: unknown;
  try {
    parsed = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `config file ${path}: not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message}`
    );
  }
  return check(parsed, `config file ${path}`);
}

function check(value: unknown, where: string): ServerConfigInput {
  if (!Value.Check(ServerConfigFile, value)) {
    const first = Value.Errors(ServerConfigFile, value)[0];
    throw new ConfigError(
      `${where}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`
    );
  }
  return value;
}

/**
 * Resolves the configuration. `overrides` (CLI flags) win over the environment, which wins over
 * the file, which wins over the defaults.
 */
export function loadConfig(
  overrides: ServerConfigInput & { config?: string } = {},
  env: NodeJS.ProcessEnv = process.env
): ServerConfig {
  const { config: file, ...flags } = overrides;
  const path = file ?? env.TESSERA_CONFIG;
  const fromFile = path ? readFile(path) : {};
  const envIn = fromEnv(env);
  // The HSM section merges field by field: the environment names the token, the file the rest.
  if (fromFile.pkcs11 && envIn.pkcs11) envIn.pkcs11 = { ...fromFile.pkcs11, ...envIn.pkcs11 };
  if (fromFile.metrics && envIn.metrics) envIn.metrics = { ...fromFile.metrics, ...envIn.metrics };
  // Sections a flag sets one field of (`--node-id`, `--trust-jwks`) merge with the file's.
  for (const section of ['node', 'auth'] as const) {
    const fromFlags = flags[section];
    if (fromFlags && fromFile[section])
      (flags as Record<string, unknown>)[section] = { ...fromFile[section], ...fromFlags };
  }
  if (env.TESSERA_NODE_ID && !flags.node?.id)
    envIn.node = { ...fromFile.node, id: env.TESSERA_NODE_ID as 'node1' | 'node2' };
  if (env.TESSERA_RELAY_URL) envIn.relay = { ...fromFile.relay, url: env.TESSERA_RELAY_URL };
  if (env.TESSERA_WALLET_DIR) envIn.wallet = { ...fromFile.wallet, dir: env.TESSERA_WALLET_DIR };
  if (env.TESSERA_ATTESTATION || env.TESSERA_ATTESTATION_HELPER)
    envIn.attestation = {
      ...fromFile.attestation,
      ...(env.TESSERA_ATTESTATION ? { provider: env.TESSERA_ATTESTATION as 'off' | 'nitro' } : {}),
      ...(env.TESSERA_ATTESTATION_HELPER ? { helper: env.TESSERA_ATTESTATION_HELPER } : {}),
    };
  if (env.TESSERA_NODE_PEER_FINGERPRINT)
    envIn.node = {
      ...fromFile.node,
      ...envIn.node,
      peerFingerprint: env.TESSERA_NODE_PEER_FINGERPRINT.toLowerCase(),
    };
  const merged = check(
    { ...fromFile, ...envIn, ...stripUndefined(flags) },
    'configuration (file, environment and options)'
  );
  const dev = merged.dev ?? false;
  const data = resolve(merged.data ?? './data');
  const store = merged.store ?? `sqlite:${resolve(data, 'tessera.db')}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(store))
    throw new ConfigError(
      `store ${redactUrl(store)}: expected sqlite:PATH or postgres://USER@HOST:PORT/DB`
    );
  const redis = merged.redis ?? null;
  if (redis !== null && !/^rediss?:\/\//.test(redis))
    throw new ConfigError(`redis ${redactUrl(redis)}: expected redis://HOST:PORT`);
  const auth = merged.auth ?? {};
  if (!dev && !auth.jwksUrl && !auth.jwksFile)
    throw new ConfigError(
      'no JWT verification keys: set auth.jwksUrl or auth.jwksFile in the config file, or run with --dev'
    );
  if (auth.jwksUrl && auth.jwksFile)
    throw new ConfigError('auth: set one of jwksUrl and jwksFile, not both');
  if (auth.jwksUrl) checkJwksUrl(auth.jwksUrl);
  const limits = merged.limits ?? {};
  const seconds = (s: number | undefined, byDefault: number) => (s ?? byDefault) * 1000;
  const requestTimeoutMs = seconds(limits.requestTimeoutSeconds, 30);
  const headersTimeoutMs = seconds(limits.headersTimeoutSeconds, 10);
  if (headersTimeoutMs > requestTimeoutMs)
    throw new ConfigError('limits: headersTimeoutSeconds must not exceed requestTimeoutSeconds');
  return {
    host: merged.host ?? '127.0.0.1',
    port: merged.port ?? 7420,
    data,
    store,
    storePoolSize: merged.storePoolSize ?? 10,
    // One core stays the event loop's; at least one worker keeps a DKG round off the loop.
    workers: merged.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
    bulkWorkers: merged.bulkWorkers ?? 1,
    payloadWorkers: merged.payloadWorkers ?? 1,
    redis,
    redisPrefix: merged.redisPrefix ?? 'tessera:',
    rateLimitOnRedisDown: merged.rateLimitOnRedisDown ?? 'open',
    kekFile: resolve(merged.kekFile ?? resolve(data, 'kek.hex')),
    epochAnchorFile: resolve(merged.epochAnchorFile ?? resolve(data, 'epoch-anchor.jsonl')),
    pkcs11: merged.pkcs11 ? pkcs11Config(merged.pkcs11, env) : null,
    dev,
    auth: {
      issuer: auth.issuer ?? 'tessera',
      audience: auth.audience ?? 'tessera',
      algorithms: auth.algorithms ?? ['EdDSA', 'ES256'],
      jwksUrl: auth.jwksUrl ?? null,
      jwksFile: auth.jwksFile ? resolve(auth.jwksFile) : null,
      trustJwks: (auth.trustJwks ?? []).map((f) => resolve(f)),
      maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S,
    },
    metrics: {
      token: merged.metrics?.token ?? null,
      host: merged.metrics?.host ?? '127.0.0.1',
      port: merged.metrics?.port ?? null,
    },
    limits: {
      requestsPerMinutePerIp: limits.requestsPerMinutePerIp ?? (dev ? 100_000 : 600),
      keygensPerHourPerSubject: limits.keygensPerHourPerSubject ?? (dev ? 10_000 : 10),
      signsPerHourPerSubject: limits.signsPerHourPerSubject ?? (dev ? 1_000_000 : 100),
      wsMessagesPerMinute: limits.wsMessagesPerMinute ?? 600,
      requestTimeoutMs,
      headersTimeoutMs,
      keepAliveMs: seconds(limits.keepAliveSeconds, 5),
      idleTimeoutMs: seconds(limits.idleTimeoutSeconds, 60),
      // Behind a proxy every connection is the proxy's: it caps its clients, this caps it.
      connectionsPerIp:
        limits.connectionsPerIp ?? (dev ? 100_000 : (merged.trustProxy ?? false) ? 10_000 : 100),
      stepsInFlightPerSubject: limits.stepsInFlightPerSubject ?? (dev ? 10_000 : 16),
      stepsInFlightPerIp: limits.stepsInFlightPerIp ?? (dev ? 10_000 : 64),
      payloadHashMs: limits.payloadHashMs ?? 250,
    },
    sessions: {
      idleMs: (merged.sessions?.idleSeconds ?? 300) * 1000,
      lifetimeMs: (merged.sessions?.lifetimeSeconds ?? 600) * 1000,
    },
    replayWindowMs: (merged.replayWindowSeconds ?? 300) * 1000,
    allowedOrigins: merged.allowedOrigins ?? [],
    trustProxy: merged.trustProxy ?? false,
    policy: merged.policy ?? { blindSigning: dev },
    node: {
      id: merged.node?.id ?? null,
      peerFingerprint: merged.node?.peerFingerprint ?? null,
    },
    relay: { url: merged.relay?.url ? checkedRelayUrl(merged.relay.url, dev) : null },
    wallet: { dir: merged.wallet?.dir || null },
    attestation: checkedAttestation(merged.attestation),
    recovery: {
      delayMs: durationMs(merged.recovery?.delay ?? (dev ? 0 : '24h')),
      notifyUrl: merged.recovery?.notifyUrl ? checkedNotifyUrl(merged.recovery.notifyUrl) : null,
    },
    logLevel: merged.logLevel ?? 'info',
  };
}

/** A relay URL: http(s), and https unless dev or on loopback (the relay sees who talks to whom). */
function checkedRelayUrl(url: string, dev: boolean): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`relay.url is not a URL: ${url}`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && (dev || loopback)))
    throw new ConfigError('relay.url must be https (http only in dev mode or on loopback)');
  return u.toString().replace(/\/+$/, '');
}

function pkcs11Config(
  p: NonNullable<ServerConfigInput['pkcs11']>,
  env: NodeJS.ProcessEnv
): NonNullable<ServerConfig['pkcs11']> {
  if (!p.module || !p.token)
    throw new ConfigError(
      'pkcs11: both the module path and the token label are needed (TESSERA_PKCS11_MODULE, TESSERA_PKCS11_TOKEN)'
    );
  let pin = env.TESSERA_PKCS11_PIN ?? '';
  // Read once, then gone from process.env: child processes and later readers do not see it
  // (the initial environment block of the process is beyond reach).
  if (env === process.env) delete process.env.TESSERA_PKCS11_PIN;
  if (p.pinFile) {
    try {
      pin = readFileSync(p.pinFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(
        `pkcs11.pinFile ${p.pinFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`
      );
    }
  }
  if (!pin) throw new ConfigError('pkcs11: no PIN; set pkcs11.pinFile or TESSERA_PKCS11_PIN');
  return {
    module: p.module,
    token: p.token,
    keyLabel: p.keyLabel ?? 'tessera-kek',
    pin,
    createKey: p.createKey ?? false,
  };
}

/** A duration as the config writes it: seconds, or a number with s, m, h or d. */
function durationMs(d: number | string): number {
  if (typeof d === 'number') return d * 1000;
  const m = new RegExp(DURATION).exec(d);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m?.[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m?.[1] ?? 0) * unit * 1000;
}

function checkedNotifyUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`recovery.notifyUrl: "${value}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigError(`recovery.notifyUrl: expected an http(s) URL, got ${url.protocol}`);
  return url.toString();
}

/** A URL with its password replaced, fit for errors and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function checkedAttestation(
  a: { provider?: 'off' | 'nitro'; helper?: string } | undefined
): ServerConfig['attestation'] {
  const provider = a?.provider ?? 'off';
  if (provider !== 'off' && provider !== 'nitro')
    throw new ConfigError(`attestation.provider must be off or nitro, not ${String(provider)}`);
  if (provider === 'nitro' && !a?.helper)
    throw new ConfigError(
      'attestation.provider nitro needs attestation.helper (TESSERA_ATTESTATION_HELPER): the NSM helper program'
    );
  return { provider, helper: a?.helper ?? null };
}
