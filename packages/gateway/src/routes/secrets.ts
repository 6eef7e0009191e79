/**
 * Routes on the sealed blobs alone (no node is contacted): check a password, check a share,
 * change the password (the data key is rewrapped; the `encryptedShare` does not change).
 * @module
 */
import { KeyShare, TesseraError, validateShare } from '@tessera/core';
import { GatewayError } from '../errors.ts';
import {
  PasswordBody,
  SecretStoreReply,
  ValidatePasswordBody,
  ValidatePasswordReply,
  ValidateShareBody,
  ValidateShareReply,
} from '../schemas.ts';
import { parseSecretStore, wipe } from '../secret.ts';
import { parsePair, passwordOpens, rewrap, unlock } from '../vault.ts';
import { type App, errors, type GatewayDeps, requireApiKey, secured } from './shared.ts';

export function registerSecretRoutes(app: App, d: GatewayDeps): void {
  const onRequest = requireApiKey(d.apiKeys);
  app.post(
    '/v3/wallet/validate/password',
    {
      schema: {
        ...secured,
        description:
          'Whether the password opens the secretStore. A malformed secretStore is 400 SECRET_STORE_INVALID.',
        body: ValidatePasswordBody,
        response: { 200: ValidatePasswordReply, ...errors },
      },
      onRequest,
    },
    async (req) => ({
      valid: await passwordOpens(parseSecretStore(req.body.secretStore), req.body.password, d.kdf),
    })
  );

  app.post(
    '/v3/wallet/validate/share',
    {
      schema: {
        ...secured,
        description:
          'Opens the encryptedShare and checks the share inside: its integrity, its key id and epoch, and its secret against its own public verification share. A wrong password is 400 INVALID_PASSWORD.',
        body: ValidateShareBody,
        response: { 200: ValidateShareReply, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const { encryptedShare, secretStore, password } = req.body;
      let parsed: ReturnType<typeof parsePair>;
      try {
        parsed = parsePair(encryptedShare, secretStore);
      } catch (e) {
        // A secretStore that cannot be read says nothing about the share: an error, not a verdict.
        if (e instanceof GatewayError && e.code !== 'SECRET_STORE_INVALID')
          return { valid: false, reason: e.code };
        throw e;
      }
      let plain: Awaited<ReturnType<typeof unlock>>;
      try {
        plain = await unlock(parsed, password, d.kdf);
      } catch (e) {
        if (e instanceof GatewayError && e.code === 'SHARE_CORRUPTED')
          return { valid: false, reason: e.code };
        throw e;
      }
      try {
        const share = KeyShare.fromBytes(plain.share);
        if (
          share.keyIdHex !== plain.keyId ||
          Buffer.from(share.epoch).toString('hex') !== plain.epoch ||
          share.partyId !== plain.party ||
          share.scheme !== plain.scheme
        )
          return { valid: false, reason: 'SHARE_MISMATCH' };
        validateShare(share);
        return { valid: true };
      } catch (e) {
        if (e instanceof TesseraError && e.check === 'ShareCorrupted')
          return { valid: false, reason: 'SHARE_CORRUPTED' };
        if (e instanceof TesseraError) return { valid: false, reason: 'SHARE_INVALID' };
        throw e;
      } finally {
        wipe(plain.share);
      }
    }
  );

  app.post(
    '/v3/wallet/password',
    {
      schema: {
        ...secured,
        description:
          'A new secretStore for the same share under newPassword. The encryptedShare does not change; the old secretStore keeps opening it, so replace it where it is kept.',
        body: PasswordBody,
        response: { 200: SecretStoreReply, ...errors },
      },
      onRequest,
    },
    async (req) => ({
      secretStore: await rewrap(
        req.body.secretStore,
        req.body.password,
        req.body.newPassword,
        d.config.kdf,
        d.kdf
      ),
    })
  );
}
