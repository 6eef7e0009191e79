/**
 * Bearer-token authentication (JWT, verified with `jose`) and one-time WebSocket tickets.
 *
 * The verifier pins issuer, audience, an explicit algorithm allow-list (never `none`, never an
 * HMAC algorithm, so a public key cannot be used as an HMAC secret), and requires `sub` and
 * `exp`. Keys come from a local JWKS file, a JWKS URL, or (dev mode) a key pair the server
 * creates in its data directory. `jku`/`x5u` headers are never followed; `kid` only selects
 * among the configured keys.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BoundedCache } from '@tessera/core';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import { DEFAULT_MAX_TOKEN_LIFETIME_S, type ServerConfig } from './config.ts';
import { ApiError } from './errors.ts';
import type { Store } from './store/store.ts';

const DEV_KEY_FILE = 'dev-jwt-key.json';
/** Verified tokens kept (see `#verified`), and for how long at most. */
const VERIFIED_TOKENS = 4096;
const VERIFIED_TTL_MS = 60_000;
const CLOCK_TOLERANCE_S = 30;
const ALLOWED = new Set(['EdDSA', 'ES256', 'ES384', 'ES256K', 'RS256', 'PS256']);

type KeySet = JWTVerifyGetKey;

export class Authenticator {
  readonly #keys: KeySet;
  readonly #config: ServerConfig['auth'];
  /** One-time WebSocket tickets, kept in the store by hash: any instance redeems them. */
  readonly #tickets: TicketStore;
  /**
   * Tokens that passed every check, by SHA-256 of the token, with their subject and expiry: a
   * signature takes three or four requests with one token, and a full verification costs
   * ≈ 0.3 ms. An entry serves for at most a minute and never past the token's `exp` (with the
   * same clock tolerance), so a key removed from the JWKS stops working within a minute.
   */
  readonly #verified = new BoundedCache<string, VerifiedToken & { exp: number; until: number }>(
    VERIFIED_TOKENS
  );

  private constructor(keys: KeySet, config: ServerConfig['auth'], tickets: TicketStore) {
    this.#keys = keys;
    this.#config = config;
    this.#tickets = tickets;
  }

  static async create(config: ServerConfig, tickets: TicketStore): Promise<Authenticator> {
    const algorithms = config.auth.algorithms.filter((a) => ALLOWED.has(a));
    if (algorithms.length === 0)
      throw new Error('auth.algorithms: no allowed algorithm configured');
    const auth = { ...config.auth, algorithms };
    // Keys trusted beside the main ones (`--trust-jwks`: a gateway signing for its users).
    const trusted = auth.trustJwks.flatMap(
      (f) => publicOnly(readJwks(f), `auth.trustJwks ${f}`).keys
    );
    const withTrusted = (keys: KeySet): KeySet =>
      trusted.length === 0 ? keys : eitherKeySet(createLocalJWKSet({ keys: trusted }), keys);
    if (auth.jwksUrl)
      return new Authenticator(withTrusted(remoteKeys(new URL(auth.jwksUrl))), auth, tickets);
    if (auth.jwksFile) {
      const jwks = publicOnly(readJwks(auth.jwksFile));
      return new Authenticator(
        createLocalJWKSet({ keys: [...jwks.keys, ...trusted] }),
        auth,
        tickets
      );
    }
    const dev = await devKey(config.data);
    return new Authenticator(
      createLocalJWKSet({ keys: [dev.publicJwk, ...trusted] }),
      auth,
      tickets
    );
  }

  /** Verifies `Authorization: Bearer …` and returns the subject. Every failure is 401. */
  async verify(authorization: string | undefined): Promise<string> {
    return (await this.verifyToken(authorization)).subject;
  }

  /** Verifies `Authorization: Bearer …`: its subject and scopes. Every failure is 401. */
  async verifyToken(authorization: string | undefined): Promise<VerifiedToken> {
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization ?? '');
    if (!m?.[1]) throw new ApiError('UNAUTHORIZED', 'a bearer token is required');
    const now = Date.now();
    const id = createHash('sha256').update(m[1]).digest('hex');
    const hit = this.#verified.get(id);
    if (hit && now < hit.until && now < (hit.exp + CLOCK_TOLERANCE_S) * 1000)
      return { subject: hit.subject, scopes: hit.scopes };
    if (hit) this.#verified.delete(id);
    try {
      const { payload } = await jwtVerify(m[1], this.#keys, {
        issuer: this.#config.issuer,
        audience: this.#config.audience,
        algorithms: this.#config.algorithms,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256)
        throw new Error('bad subject');
      // A token that lives too long is a stolen one's long life: refuse what lasts beyond the
      // limit from now, was issued in the future, or was issued for longer.
      const exp = payload.exp as number;
      const nowS = Math.floor(now / 1000);
      const max = this.#config.maxTokenLifetimeSeconds;
      if (exp - nowS > max + CLOCK_TOLERANCE_S) throw new Error('lives too long');
      if (
        payload.iat !== undefined &&
        (payload.iat > nowS + CLOCK_TOLERANCE_S || exp - payload.iat > max)
      )
        throw new Error('issued in the future or for too long');
      const verified: VerifiedToken = { subject: payload.sub, scopes: scopesOf(payload.scope) };
      this.#verified.set(id, { ...verified, exp, until: now + VERIFIED_TTL_MS });
      return verified;
    } catch (e) {
      // The token may be fine: the keys to check it are out of reach, so the client retries.
      if (e instanceof KeySetUnavailable)
        throw new ApiError('UNAVAILABLE', 'the token verification keys cannot be fetched now', {
          retryAfter: 5,
        });
      // One message for every cause: no oracle on which check failed.
      throw new ApiError('UNAUTHORIZED', 'the bearer token is invalid or expired');
    }
  }

  /** Issues a one-time ticket (30 s) that opens the WebSocket of one session. */
  async issueTicket(
    subject: string,
    sessionId: string,
    now: number
  ): Promise<{ ticket: string; expiresAt: number }> {
    const ticket = randomBytes(32).toString('hex');
    const expiresAt = now + 30_000;
    await this.#tickets.putTicket(ticketHash(ticket), { subject, sessionId, expiresAt });
    return { ticket, expiresAt };
  }

  /** Redeems a ticket once; the subject it was issued to, or a 401. */
  async redeemTicket(ticket: string, sessionId: string, now: number): Promise<string> {
    const t = await this.#tickets.takeTicket(ticketHash(ticket), now);
    if (!t || t.sessionId !== sessionId)
      throw new ApiError('UNAUTHORIZED', 'the WebSocket ticket is invalid, used or expired');
    return t.subject;
  }
}

type TicketStore = Pick<Store, 'putTicket' | 'takeTicket'>;

/** What a verified token grants: the subject it acts for and its OAuth scopes. */
export interface VerifiedToken {
  subject: string;
  scopes: ReadonlySet<string>;
}

/** The `scope` claim (RFC 8693: space-separated) as a set; anything else grants none. */
function scopesOf(scope: unknown): ReadonlySet<string> {
  if (typeof scope !== 'string' || scope.length > 1024) return new Set();
  return new Set(scope.split(' ').filter((s) => s.length > 0));
}

// The store keeps hashes: a reader of the database cannot open sockets with what it finds.
const ticketHash = (ticket: string) => createHash('sha256').update(ticket).digest('hex');

/** The JWKS URL did not answer with a key set: a fault of the server's side, not the token's. */
class KeySetUnavailable extends Error {
  override name = 'KeySetUnavailable';
}

/** How long a fetched key set serves, and the least time between two fetches for unknown `kid`s. */
const JWKS_MAX_AGE_MS = 600_000;
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_TIMEOUT_MS = 5_000;
/** After a failed fetch, requests needing one get 503 without a new attempt for this long. */
const JWKS_RETRY_MS = 5_000;

/**
 * Keys from a JWKS URL, fetched again every 10 minutes and on an unknown `kid` (at most every
 * 30 s, so junk `kid`s cannot make the server hammer the URL). Redirects are not followed. A
 * failed fetch (refused, timed out, not 200, not a key set) fails the request with 503 without
 * judging the token, and the next attempt waits 5 s. A set is never used past 10 minutes without
 * a successful fetch (fail closed). Symmetric keys and private members of the set are dropped.
 */
function remoteKeys(url: URL): KeySet {
  let failedAt = Number.NEGATIVE_INFINITY;
  return createRemoteJWKSet(url, {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    [customFetch]: async (input, init) => {
      if (Date.now() - failedAt < JWKS_RETRY_MS)
        throw new KeySetUnavailable(`JWKS ${url.origin}${url.pathname}: failed moments ago`);
      let set: JSONWebKeySet;
      try {
        const res = await fetch(input, init);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        set = (await res.json()) as JSONWebKeySet;
        if (!Array.isArray(set?.keys) || !set.keys.every((k) => typeof k === 'object' && k))
          throw new Error('not a JSON Web Key Set');
      } catch (cause) {
        failedAt = Date.now();
        throw new KeySetUnavailable(`JWKS ${url.origin}${url.pathname}: fetch failed`, { cause });
      }
      const keys = set.keys.filter((k) => k.kty !== 'oct').map(publicMembers);
      return new Response(JSON.stringify({ keys }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    },
  });
}

function publicMembers(k: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, k: _k, ...pub } = k;
  return pub;
}

function publicOnly(jwks: JSONWebKeySet, what = 'auth.jwksFile'): JSONWebKeySet {
  if (!Array.isArray(jwks.keys)) throw new Error(`${what}: not a JSON Web Key Set`);
  return {
    keys: jwks.keys.map((k) => {
      if (k.kty === 'oct' || k.k !== undefined)
        throw new Error(`${what}: symmetric keys are not accepted`);
      return publicMembers(k);
    }),
  };
}

interface DevKey {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** The dev-mode signing key pair (Ed25519), created in the data directory on first use. */
export async function devKey(dataDir: string): Promise<DevKey> {
  const file = join(dataDir, DEV_KEY_FILE);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevKey;
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const kid = randomBytes(8).toString('hex');
  const key: DevKey = {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' },
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600, flag: 'wx' });
  return key;
}

/** A development token for `sub`, signed with the data directory's dev key (`tessera token`). */
export async function devToken(
  dataDir: string,
  sub: string,
  opts: { issuer?: string; audience?: string; ttlSeconds?: number } = {}
): Promise<string> {
  const ttl = opts.ttlSeconds ?? 3600;
  if (ttl > DEFAULT_MAX_TOKEN_LIFETIME_S)
    throw new Error(
      `a token may live at most ${DEFAULT_MAX_TOKEN_LIFETIME_S} s (the server's auth.maxTokenLifetimeSeconds)`
    );
  if (!existsSync(join(dataDir, DEV_KEY_FILE)))
    throw new Error(
      `no dev key in ${dataDir}: start the server with --dev --data ${dataDir} first`
    );
  const { privateJwk } = await devKey(dataDir);
  const key = await importJWK(privateJwk, 'EdDSA');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid as string, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(opts.issuer ?? 'tessera')
    .setAudience(opts.audience ?? 'tessera')
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`)
    .sign(key);
}

function readJwks(file: string): JSONWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`JWKS file ${file}: ${(e as Error).message}`);
  }
  return parsed as JSONWebKeySet;
}

/** The first key set's key for a token, else the second's (a remote set stays the fallback). */
function eitherKeySet(first: KeySet, second: KeySet): KeySet {
  return async (header, token) => {
    try {
      return await first(header, token);
    } catch {
      return second(header, token);
    }
  };
}
