/**
 * The gateway's tokens for the nodes: one short-lived JWT per request and subject, signed with
 * the key of `tessera gateway init`. A token lives at most two minutes, so one that leaks from a
 * node's logs or a proxy is useless soon after.
 * @module
 */
import { KEYS_PUBLIC_SCOPE } from '@tessera/api';
import { SignJWT } from 'jose';
import { type GatewayConfig, MAX_TOKEN_TTL_S } from './config.ts';
import type { SigningKey } from './keyfile.ts';

const SERVICE_SUBJECT = 'tessera gateway';

export class TokenMinter {
  readonly #key: SigningKey;
  readonly #claims: GatewayConfig['token'];

  constructor(key: SigningKey, claims: GatewayConfig['token']) {
    if (claims.ttlSeconds > MAX_TOKEN_TTL_S || claims.ttlSeconds < 1)
      throw new RangeError(`token lifetime must be 1..${MAX_TOKEN_TTL_S} s`);
    this.#key = key;
    this.#claims = claims;
  }

  /** A fresh token for `subject` (the user the request acts for). */
  mint(subject: string): Promise<string> {
    return this.#sign(subject, {});
  }

  /**
   * A fresh token for the gateway itself, with one scope: reading any key's public facts at
   * node 1 (`POST /v3/wallet/publickey` with a key id alone). Its subject has a space, which no
   * `userId` may, so it never acts as a user.
   */
  mintPublicReader(): Promise<string> {
    return this.#sign(SERVICE_SUBJECT, { scope: KEYS_PUBLIC_SCOPE });
  }

  #sign(subject: string, claims: Record<string, string>): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: this.#key.kid, typ: 'JWT' })
      .setSubject(subject)
      .setIssuer(this.#claims.issuer)
      .setAudience(this.#claims.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#claims.ttlSeconds)
      .sign(this.#key.key);
  }

  /**
   * The token function a request's SDK client gets: one token reused while it has more than
   * half its life left, so a protocol run of many calls signs a handful, not one per call.
   */
  forSubject(subject: string): () => Promise<string> {
    let token: Promise<string> | null = null;
    let renewAt = 0;
    return () => {
      const now = Date.now();
      if (token === null || now >= renewAt) {
        token = this.mint(subject);
        renewAt = now + (this.#claims.ttlSeconds * 1000) / 2;
      }
      return token;
    };
  }
}
