/**
 * Login: a single-use challenge, then an Ed25519 signature over it bound to the relay's origin,
 * answered with a bearer token bound to that key.
 * @module
 */
import { Challenge, LoginBody, Token } from '../schemas.ts';
import { type App, errors, type RelayDeps } from './shared.ts';

export function registerLoginRoutes(app: App, d: RelayDeps): void {
  app.post(
    '/v1/relay/challenge',
    {
      schema: {
        description: 'A fresh 32-byte challenge, valid 30 s, single use.',
        response: { 200: Challenge, ...errors },
      },
      bodyLimit: 1024,
    },
    async (req) => d.auth.challenge(req.ip)
  );

  app.post(
    '/v1/relay/login',
    {
      schema: {
        description:
          'Ed25519 over utf8("tessera-relay-login/v1") ‖ utf8(origin) ‖ challenge: a token for 15 minutes.',
        body: LoginBody,
        response: { 200: Token, ...errors },
      },
      bodyLimit: 4096,
    },
    async (req) => {
      const r = await d.auth.login(req.body, d.origin());
      d.metrics.logins.inc();
      return r;
    }
  );
}
