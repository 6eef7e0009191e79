/**
 * `GET /v1/node/identity`: the public identity of a node of the 2-of-3 topology (its Ed25519
 * and X25519 public keys and the fingerprint clients pin). Public: it is what a client checks
 * against its pinned fingerprint before it trusts the node with a session.
 * @module
 */
import { NodeIdentitySchema } from '@tessera/api';
import { ApiError } from '../errors.ts';
import { type App, type AppDeps, errors } from './shared.ts';

export function registerNodeRoutes(app: App, d: AppDeps): void {
  app.get(
    '/v1/node/identity',
    {
      schema: {
        description: "This node's public identity in the 2-of-3 topology.",
        response: { 200: NodeIdentitySchema, ...errors },
      },
    },
    async () => {
      const id = d.engine.identity;
      if (!id)
        throw new ApiError(
          'ROLE_FORBIDDEN',
          'this server is not a node of the 2-of-3 topology (start it with --node-id)'
        );
      return id.public;
    }
  );
}
