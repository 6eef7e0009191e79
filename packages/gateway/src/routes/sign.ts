/**
 * The signing routes: `/v3/wallet/sign` for EdDSA (ed25519 keys, FROST) and
 * `/v3/wallet/sign/mta` for ECDSA (secp256k1 keys, DKLs23, named for its multiplicative-to-
 * additive step). The share is opened, put in the request's store, and signs with node 1 under
 * a token for the user the key was made for; the signature is checked here once more before it
 * leaves (docs/architecture.md, invariant 4).
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { type SignPayload, signingInput } from '@tessera/api';
import type { StoredKey } from '@tessera/client';
import type { NodeSet } from '../config.ts';
import { GatewayError } from '../errors.ts';
import { EcdsaSignature, EddsaSignature, SignBody, type SignRequest } from '../schemas.ts';
import { wipe } from '../secret.ts';
import { parsePair, unlock } from '../vault.ts';
import { type App, errors, type GatewayDeps, requireApiKey, secured } from './shared.ts';

const ROUTES = {
  ecdsa: { path: '/v3/wallet/sign/mta', curve: 'secp256k1' },
  ed25519: { path: '/v3/wallet/sign', curve: 'ed25519' },
} as const;

interface Signed {
  signature: string;
  r?: string;
  s?: string;
  recovery?: 0 | 1;
}

export function registerSignRoutes(app: App, d: GatewayDeps): void {
  const onRequest = requireApiKey(d.apiKeys);

  const sign = async (scheme: 'ecdsa' | 'ed25519', body: SignRequest): Promise<Signed> => {
    const payload = payloadOf(body);
    // What the signature is over, before any secret is opened: a bad payload costs no hashing.
    const expected = signingInput(scheme, payload);
    if (expected.taproot)
      throw new GatewayError('BAD_PAYLOAD', 'taproot payloads need a BIP-340 key');
    const plain = await unlock(
      parsePair(body.encryptedShare, body.secretStore, body.keyId),
      body.password,
      d.kdf
    );
    // The scheme is read from the opened share (its header is authenticated only then), so a
    // flipped byte is damage, never a misleading route.
    if (plain.scheme !== scheme) {
      wipe(plain.share);
      const right = plain.scheme === 'ecdsa' ? ROUTES.ecdsa : ROUTES.ed25519;
      throw new GatewayError(
        'WRONG_SIGNING_METHOD',
        plain.scheme === 'bip340'
          ? 'BIP-340 keys are not signed through the gateway'
          : `a ${right.curve} key signs at ${right.path}`
      );
    }
    const { client, store } = d.nodes.session(plain.userId);
    try {
      if (body.userId !== undefined && body.userId !== plain.userId)
        throw new GatewayError('SHARE_MISMATCH', 'the encryptedShare is of another userId');
      await store.put(atTheseNodes(plain.meta, d.nodes.nodes), plain.share);
      const sig = await client.sign(plain.keyId, payload);
      const publicKey = hexToBytes(String(plain.meta.publicKey));
      const signature = hexToBytes(sig.signature);
      // A second, independent check (the SDK checked too): a wrong signature never leaves.
      const ok =
        scheme === 'ecdsa'
          ? secp256k1.verify(signature, expected.bytes, publicKey, { prehash: false })
          : ed25519.verify(signature, expected.bytes, publicKey);
      if (!ok)
        throw new GatewayError(
          'NODE_FAILED',
          'the joint signature did not verify: nothing was returned'
        );
      return {
        signature: sig.signature,
        ...(sig.r !== undefined ? { r: sig.r } : {}),
        ...(sig.s !== undefined ? { s: sig.s } : {}),
        ...(sig.recovery !== undefined ? { recovery: sig.recovery } : {}),
      };
    } finally {
      wipe(plain.share);
      await store.wipe();
    }
  };

  app.post(
    ROUTES.ed25519.path,
    {
      schema: {
        ...secured,
        description:
          'EdDSA signature (64 bytes) of an ed25519 key with node 1. A secp256k1 key is 400 WRONG_SIGNING_METHOD: it signs at /v3/wallet/sign/mta.',
        body: SignBody,
        response: { 200: EddsaSignature, ...errors },
      },
      onRequest,
    },
    async (req) => ({ signature: (await sign('ed25519', req.body)).signature })
  );

  app.post(
    ROUTES.ecdsa.path,
    {
      schema: {
        ...secured,
        description:
          'ECDSA (DKLs23) signature of a secp256k1 key with node 1: r ‖ s (low s) and the recovery id v. An ed25519 key is 400 WRONG_SIGNING_METHOD: it signs at /v3/wallet/sign.',
        body: SignBody,
        response: { 200: EcdsaSignature, ...errors },
      },
      onRequest,
    },
    async (req) => {
      const sig = await sign('ecdsa', req.body);
      if (sig.r === undefined || sig.s === undefined || sig.recovery === undefined)
        throw new GatewayError(
          'NODE_FAILED',
          'the ECDSA signature came without r, s or recovery id'
        );
      return { signature: sig.signature, r: sig.r, s: sig.s, v: sig.recovery };
    }
  );
}

/**
 * The key record with the nodes' addresses as this gateway reaches them: instances may reach the
 * nodes under other names, and nodes move. What binds a key to its nodes is their pinned
 * fingerprints, which must be the configured ones.
 */
function atTheseNodes(meta: Record<string, unknown>, nodes: NodeSet): Omit<StoredKey, 'epochs'> {
  const key = meta as Omit<StoredKey, 'epochs'>;
  const pinned = key.nodes;
  if (!pinned) return { ...key, server: nodes.node1.url };
  if (
    pinned.node1.fingerprint !== nodes.node1.fingerprint ||
    pinned.node2.fingerprint !== nodes.node2.fingerprint
  )
    throw new GatewayError(
      'BAD_INPUT',
      "this share's key belongs to other nodes than this gateway's (their fingerprints differ)"
    );
  return {
    ...key,
    server: nodes.node1.url,
    nodes: {
      node1: { ...pinned.node1, url: nodes.node1.url },
      node2: { ...pinned.node2, url: nodes.node2.url },
    },
  };
}

/** The request's one signing input as the API's payload. */
function payloadOf(b: SignRequest): SignPayload {
  const given = [b.digest, b.message, b.payload].filter((x) => x !== undefined).length;
  if (given !== 1)
    throw new GatewayError(
      'SCHEMA',
      'invalid request: give exactly one of digest, message and payload'
    );
  if (b.hash !== undefined && b.message === undefined)
    throw new GatewayError('SCHEMA', 'invalid request: hash goes with message');
  if (b.payload) return b.payload;
  if (b.digest !== undefined) return { kind: 'digest', digest: b.digest };
  return { kind: 'message', message: b.message as string, ...(b.hash ? { hash: b.hash } : {}) };
}
