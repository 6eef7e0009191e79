/**
 * Routes that make a share: key generation with both nodes, and recovery (a new share of the
 * same key, under a new key id, from the two nodes' shares). Each runs the whole protocol within
 * the request and answers the client's share sealed under the user's password; the gateway
 * keeps nothing of it.
 * @module
 */
import type { RequestStore } from '../bans.ts';
import { GatewayError } from '../errors.ts';
import { CLIENT_PARTY } from '../nodes.ts';
import { GenerateBody, RecoverBody, Recovered, Wallet } from '../schemas.ts';
import { type PasswordKey, wipe } from '../secret.ts';
import { lock, newPasswordKey, type Sealed } from '../vault.ts';
import { compressedKey } from './keys.ts';
import { type App, errors, type GatewayDeps, requireApiKey, secured } from './shared.ts';

export function registerWalletRoutes(app: App, d: GatewayDeps): void {
  const onRequest = requireApiKey(d.apiKeys);
  app.post(
    '/v3/wallet/generate',
    {
      schema: {
        ...secured,
        description:
          "Generates a 2-of-3 key with node 1 and node 2 and answers the client's share sealed under the password. Store encryptedShare and secretStore: the gateway keeps neither.",
        body: GenerateBody,
        response: { 200: Wallet, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const { curve, password, userId, label } = req.body;
      const scheme = curve === 'secp256k1' ? 'ecdsa' : 'ed25519';
      // The password key first: a full hashing queue refuses before any node works for us.
      const pk = await newPasswordKey(password, d.config.kdf, d.kdf);
      const { client, store } = d.nodes.session(userId);
      try {
        const created = await client.createKey({
          scheme,
          ...(label ? { label } : {}),
          topology: '2-of-3',
          nodes: d.nodes.nodes,
        });
        const sealed = await sealStored(store, userId, created.keyId, pk);
        req.log.info({ keyId: created.keyId, curve }, 'key generated');
        return {
          keyId: created.keyId,
          ...sealed,
          curve,
          publicKey: curve === 'secp256k1' ? compressedKey(created.publicKey) : created.publicKey,
        };
      } finally {
        wipe(pk.key);
        await store.wipe();
      }
    }
  );

  app.post(
    '/v3/wallet/recover',
    {
      schema: {
        ...secured,
        description:
          'A new share of the key (by keyId or publicKey) from the two nodes, under a new key id; the old share is retired (KEY_RETIRED). While a node delays recoveries: 409 RECOVERY_PENDING with Retry-After and details.readyAt.',
        body: RecoverBody,
        response: { 200: Recovered, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const { userId, password, keyId, publicKey } = req.body;
      if ((keyId === undefined) === (publicKey === undefined))
        throw new GatewayError(
          'SCHEMA',
          'invalid request: give exactly one of keyId and publicKey'
        );
      const pk = await newPasswordKey(password, d.config.kdf, d.kdf);
      const { client, store } = d.nodes.session(userId);
      try {
        const which = keyId !== undefined ? { keyId } : { publicKey: publicKey as string };
        const created = await client.recoverKey({ nodes: d.nodes.nodes, ...which });
        const sealed = await sealStored(store, userId, created.keyId, pk);
        req.log.info({ keyId: created.keyId }, 'key recovered');
        return {
          keyId: created.keyId,
          ...sealed,
          publicKey:
            created.scheme === 'ecdsa' ? compressedKey(created.publicKey) : created.publicKey,
        };
      } finally {
        wipe(pk.key);
        await store.wipe();
      }
    }
  );
}

/** The share the SDK just stored for `keyId`, sealed, its data key wrapped under `pk`. */
async function sealStored(
  store: RequestStore,
  userId: string,
  keyId: string,
  pk: PasswordKey
): Promise<Sealed> {
  const stored = await store.getKey(keyId);
  const share = await store.get(keyId);
  if (!stored || !share) throw new GatewayError('INTERNAL', 'the new share is missing');
  const { epochs: _, ...meta } = stored;
  return lock(
    { keyId, epoch: stored.epoch, party: CLIENT_PARTY, scheme: stored.scheme, userId, meta, share },
    pk
  );
}
