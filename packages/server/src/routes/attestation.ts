/**
 * `GET /v1/attestation?nonce=HEX`: the enclave's attestation document for the caller's nonce, and
 * the identity its `user_data` vouches for (docs/attestation.md). Authenticated, so that only
 * the service's users can make the enclave call its NSM; the attestor caps calls in flight.
 * @module
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { AttestationInfo, AttestationQuery } from '@tessera/api';
import { ApiError } from '../errors.ts';
import { type App, type AppDeps, authenticator, errors, secured } from './shared.ts';

export function registerAttestationRoutes(app: App, d: AppDeps): void {
  app.get(
    '/v1/attestation',
    {
      schema: {
        ...secured,
        description:
          "The enclave's Nitro attestation document for the caller's nonce; user_data is SHA-256(publicKey ‖ x25519) of the server's identity, which signs every session reply and opens sealed sessions.",
        querystring: AttestationQuery,
        response: { 200: AttestationInfo, ...errors, 503: errors[429] },
      },
      onRequest: authenticator(d.auth),
    },
    async (req, reply) => {
      if (!d.attestation)
        throw new ApiError(
          'ATTESTATION_DISABLED',
          'this server has no attestation provider (it does not run in an enclave)'
        );
      void reply.header('cache-control', 'no-store');
      return d.attestation.attest(req.subject, hexToBytes(req.query.nonce));
    }
  );
}
