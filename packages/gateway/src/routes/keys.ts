/**
 * Routes on a key's public record at node 1: its public key and addresses, the user's keys, and
 * the registration of a key's label and addresses. No share is involved.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { ethereumAddress, p2wpkhAddress, solanaAddress } from '@tessera/chains';
import { GatewayError } from '../errors.ts';
import {
  KeyListReply,
  KeyMetaBody,
  KeyMetaReply,
  PublicKeyBody,
  PublicKeyReply,
  UserQuery,
} from '../schemas.ts';
import { type App, errors, type GatewayDeps, requireApiKey, secured } from './shared.ts';

export function registerKeyRoutes(app: App, d: GatewayDeps): void {
  const onRequest = requireApiKey(d.apiKeys);
  app.post(
    '/v3/wallet/publickey',
    {
      schema: {
        ...secured,
        description: "The key's public key as node 1 records it, and its addresses (mainnet).",
        body: PublicKeyBody,
        response: { 200: PublicKeyReply, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const info = await d.nodes.publicKey(req.body.keyId, req.body.userId);
      if (info.scheme === 'ecdsa') {
        const publicKey = compressedKey(info.publicKey);
        return {
          publicKey,
          curve: 'secp256k1' as const,
          addresses: addressesOf('ecdsa', publicKey),
        };
      }
      if (info.scheme === 'ed25519')
        return {
          publicKey: info.publicKey,
          curve: 'ed25519' as const,
          addresses: addressesOf('ed25519', info.publicKey),
        };
      throw new GatewayError('WRONG_SIGNING_METHOD', 'BIP-340 keys are not served by the gateway');
    }
  );

  app.get(
    '/v3/wallet/key',
    {
      schema: {
        ...secured,
        description: 'The keys node 1 holds for userId.',
        querystring: UserQuery,
        response: { 200: KeyListReply, ...errors },
      },
      onRequest,
    },
    async (req) => ({ keys: await d.nodes.listKeys(req.query.userId) })
  );

  app.post(
    '/v3/wallet/key',
    {
      schema: {
        ...secured,
        description:
          "Registers a key's label and addresses at node 1 (PATCH /v1/keys/:keyId there).",
        body: KeyMetaBody,
        response: { 200: KeyMetaReply, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const { userId, keyId, label, addresses } = req.body;
      const body = {
        ...(label !== undefined ? { label } : {}),
        ...(addresses ? { addresses } : {}),
      };
      await d.nodes.patchKey(userId, keyId, body);
      return { keyId, ...body };
    }
  );
}

/** A secp256k1 public key as compressed SEC1 (33 bytes, 66 hex), whatever form it came in. */
export function compressedKey(hex: string): string {
  try {
    return secp256k1.Point.fromHex(hex).toHex(true);
  } catch {
    throw new GatewayError('NODE_FAILED', "node 1's public key for the key is not a curve point");
  }
}

/**
 * What a key can spend from. A secp256k1 ECDSA key: Ethereum and Bitcoin P2WPKH. P2TR needs
 * BIP-340 Schnorr signatures, which an ECDSA key cannot make: an address it could receive on but
 * never spend from is not offered. An ed25519 key: Solana.
 */
export function addressesOf(
  scheme: 'ecdsa' | 'ed25519',
  publicKey: string
): Record<string, string> {
  const pub = hexToBytes(publicKey);
  if (scheme === 'ed25519') return { solana: solanaAddress(pub) };
  return { ethereum: ethereumAddress(pub), bitcoinP2wpkh: p2wpkhAddress(pub, 'mainnet') };
}
