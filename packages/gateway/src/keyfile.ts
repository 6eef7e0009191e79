/**
 * The gateway's token-signing key: an Ed25519 pair made once by `tessera gateway init`. The
 * private JWK stays in the data directory (0600); the public JWKS beside it is what the nodes are
 * started with (`--trust-jwks`). Every gateway instance given the same data directory signs with
 * the same key, so they are interchangeable.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import { GatewayConfigError } from './config.ts';

export const KEY_FILE = 'gateway-key.json';
export const JWKS_FILE = 'gateway.jwks.json';

export interface SigningKey {
  key: CryptoKey;
  kid: string;
}

/**
 * Creates the key pair in `data` and returns the JWKS path. An existing key is kept unless
 * `force`: replacing it makes every node that trusts the old JWKS refuse the gateway.
 */
export async function initGatewayKey(
  data: string,
  opts: { force?: boolean } = {}
): Promise<{ jwks: string }> {
  const keyPath = join(data, KEY_FILE);
  const jwksPath = join(data, JWKS_FILE);
  if (existsSync(keyPath) && !opts.force)
    throw new GatewayConfigError(
      `${keyPath} exists: the gateway already has a key (pass --force to replace it, then give the nodes the new JWKS)`
    );
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  const priv: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA', use: 'sig' };
  mkdirSync(data, { recursive: true, mode: 0o700 });
  // Written whole or not at all: a torn key file would lock the gateway out of every node.
  const tmp = `${keyPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(priv)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, keyPath);
  const jwks = { keys: [{ ...pub, kid, alg: 'EdDSA', use: 'sig' }] };
  writeFileSync(jwksPath, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644 });
  return { jwks: jwksPath };
}

/** The signing key of `data`, or a configuration error saying to run `init`. */
export async function loadGatewayKey(data: string): Promise<SigningKey> {
  const keyPath = join(data, KEY_FILE);
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(keyPath, 'utf8')) as JWK;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new GatewayConfigError(`${keyPath} not found: run tessera gateway init --data ${data}`);
    throw new GatewayConfigError(`${keyPath} cannot be read as a JWK`);
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.kid)
    throw new GatewayConfigError(`${keyPath} is not the gateway's Ed25519 private key`);
  const key = (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  return { key, kid: jwk.kid };
}
