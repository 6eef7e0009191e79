/**
 * Server configuration: defaults, then an optional JSON/YAML file (`--config` /
 * `TESSERA_CONFIG`), then environment variables, then explicit overrides (CLI flags). The file's
 * schema is `ServerConfigFile` below (documented in docs/server.md); unknown keys are refused.
 * @module
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PolicySchema } from '@tessera/api';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';

const strict = { additionalProperties: false } as const;

export const ServerConfigFile = Type.Object(
  {
    host: Type.Optional(Type.String()),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    data: Type.Optional(
      Type.String({ description: 'data directory (SQLite file, dev keys, KEK)' })
    ),
    store: Type.Optional(Type.String({ description: 'store URL: sqlite:PATH' })),
    redis: Type.Optional(
      Type.String({ description: 'Redis URL (scale-out; unused by the embedded default)' })
    ),
    kekFile: Type.Optional(
      Type.String({ description: 'file holding the 32-byte key-encryption key (hex)' })
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
  redis: string | null;
  kekFile: string;
  dev: boolean;
  auth: {
    issuer: string;
    audience: string;
    algorithms: string[];
    jwksUrl: string | null;
    jwksFile: string | null;
  };
  limits: {
    requestsPerMinutePerIp: number;
    keygensPerHourPerSubject: number;
    signsPerHourPerSubject: number;
    wsMessagesPerMinute: number;
  };
  sessions: { idleMs: number; lifetimeMs: number };
  replayWindowMs: number;
  allowedOrigins: string[];
  trustProxy: boolean;
  policy: Static<typeof PolicySchema>;
  logLevel: string;
}

/** A configuration value that is missing, malformed or contradictory. */
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
  TESSERA_DEV: 'dev',
  TESSERA_LOG_LEVEL: 'logLevel',
};

function fromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (key === 'port') {
      if (!/^\d{1,5}$/.test(v))
        throw new ConfigError(`${name}: expected a port number, got "${v}"`);
      out[key] = Number(v);
    } else if (key === 'dev') {
      out[key] = v === '1' || v === 'true';
    } else out[key] = v;
  }
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
  const merged = { ...fromFile, ...fromEnv(env), ...check(stripUndefined(flags), 'options') };
  const dev = merged.dev ?? false;
  const data = resolve(merged.data ?? './data');
  const store = merged.store ?? `sqlite:${resolve(data, 'tessera.db')}`;
  if (!store.startsWith('sqlite:'))
    throw new ConfigError(`store ${store}: only sqlite:PATH is supported by this build`);
  const auth = merged.auth ?? {};
  if (!dev && !auth.jwksUrl && !auth.jwksFile)
    throw new ConfigError(
      'no JWT verification keys: set auth.jwksUrl or auth.jwksFile in the config file, or run with --dev'
    );
  const limits = merged.limits ?? {};
  return {
    host: merged.host ?? '127.0.0.1',
    port: merged.port ?? 7420,
    data,
    store,
    redis: merged.redis ?? null,
    kekFile: resolve(merged.kekFile ?? resolve(data, 'kek.hex')),
    dev,
    auth: {
      issuer: auth.issuer ?? 'tessera',
      audience: auth.audience ?? 'tessera',
      algorithms: auth.algorithms ?? ['EdDSA', 'ES256'],
      jwksUrl: auth.jwksUrl ?? null,
      jwksFile: auth.jwksFile ? resolve(auth.jwksFile) : null,
    },
    limits: {
      requestsPerMinutePerIp: limits.requestsPerMinutePerIp ?? (dev ? 100_000 : 600),
      keygensPerHourPerSubject: limits.keygensPerHourPerSubject ?? (dev ? 10_000 : 10),
      signsPerHourPerSubject: limits.signsPerHourPerSubject ?? (dev ? 1_000_000 : 100),
      wsMessagesPerMinute: limits.wsMessagesPerMinute ?? 600,
    },
    sessions: {
      idleMs: (merged.sessions?.idleSeconds ?? 300) * 1000,
      lifetimeMs: (merged.sessions?.lifetimeSeconds ?? 600) * 1000,
    },
    replayWindowMs: (merged.replayWindowSeconds ?? 300) * 1000,
    allowedOrigins: merged.allowedOrigins ?? [],
    trustProxy: merged.trustProxy ?? false,
    policy: merged.policy ?? { blindSigning: dev },
    logLevel: merged.logLevel ?? 'info',
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
