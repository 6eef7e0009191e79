/**
 * Key routes: list, read, the confirmation of a refreshed epoch, and the start route each
 * protocol declares (key generation, sign, refresh, recover). Starts are idempotent by their
 * request nonce and charged to the subject's hourly quota.
 * @module
 */
import { createHash } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import {
  KEYS_PUBLIC_SCOPE,
  KeyIdParams,
  KeyInfo,
  type KeyInfoResponse,
  KeyList,
  KeyMetaBody,
  KeyPublicInfo,
  type KeyPublicInfoResponse,
  RefreshBody,
  SessionStarted,
  type SessionStartedResponse,
} from '@tessera/api';
import { checkPartyPublic } from '@tessera/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ApiError, notFound } from '../errors.ts';
import type { QuotaUnit } from '../quota.ts';
import type { StartRequest } from '../sessions/engine.ts';
import { PROTOCOLS } from '../sessions/protocols/index.ts';
import type { KeyRecord } from '../store/store.ts';
import { statusOf } from './recovery.ts';
import { type App, type AppDeps, authenticator, errors, secured, subjectQuota } from './shared.ts';

export function registerKeyRoutes(app: App, d: AppDeps): void {
  const { config, store, engine } = d;
  const authenticate = authenticator(d.auth);
  const quota = subjectQuota(d);
  /**
   * A session start, run once per (subject, nonce). The timestamp must be in the window; a
   * resend of the identical request (route, key and body) gets the reply the first one got, the
   * same bytes, and another request with the nonce 409 REPLAYED_REQUEST. The subject's hourly
   * quota is charged only for a start that is accepted. Answers the reply's JSON text.
   */
  const startOnce = async (
    req: FastifyRequest,
    guard: { nonce: string; timestamp: number; sealed?: StartRequest['sealed'] },
    limit: { scope: string; max: number },
    start: (request: StartRequest) => Promise<SessionStartedResponse>
  ): Promise<string> => {
    const now = engine.now();
    if (Math.abs(now - guard.timestamp) > config.replayWindowMs)
      throw new ApiError(
        'STALE_REQUEST',
        `timestamp is more than ${config.replayWindowMs / 1000} s from the server's clock`
      );
    const digest = createHash('sha256')
      .update(JSON.stringify([req.routeOptions.url, req.params, req.body]))
      .digest('hex');
    const expiresAt = now + 2 * config.replayWindowMs;
    const claim = await store.claimStart(req.subject, guard.nonce, digest, expiresAt);
    if (claim.state === 'replay') return claim.reply;
    if (claim.state === 'conflict')
      throw new ApiError('REPLAYED_REQUEST', 'this request nonce was already used');
    if (claim.state === 'pending')
      throw new ApiError(
        'SESSION_BUSY',
        'this start request is still being answered; resend it to get the reply',
        { retryAfter: 1 }
      );
    let unit: QuotaUnit | undefined;
    try {
      unit = await quota.take(limit.scope, req.subject, limit.max);
      return JSON.stringify(
        await start({ nonce: guard.nonce, ...(guard.sealed ? { sealed: guard.sealed } : {}) })
      );
    } catch (e) {
      // A payload refused for what it would cost still cost work to refuse (its worker may have
      // been terminated): it counts against the quota; every other refusal does not.
      if (!(e instanceof ApiError && e.code === 'PAYLOAD_TOO_COMPLEX')) await unit?.refund();
      // The start left nothing: its resend runs again rather than finding the nonce taken.
      await store.releaseStart(req.subject, guard.nonce).catch((err: Error) => {
        req.log.warn({ err: err.message }, 'a failed start request kept its nonce');
      });
      throw e;
    }
  };

  // One start route per protocol, as the protocol declares it.
  for (const protocol of PROTOCOLS) {
    const route = protocol.route;
    app.post(
      `/v1${route.path}`,
      {
        schema: {
          ...secured,
          ...(route.description ? { description: route.description } : {}),
          ...(route.params ? { params: route.params } : {}),
          body: route.body,
          response: { 201: SessionStarted, ...errors },
        },
        onRequest: authenticate,
      },
      async (req, reply) => {
        // Validated against `route.body`, which carries the nonce and timestamp of every start.
        const body = req.body as {
          nonce: string;
          timestamp: number;
          sealed?: StartRequest['sealed'];
        };
        const params = (req.params ?? {}) as Readonly<Record<string, string>>;
        // Before any work or quota: a sealed session needs an attested server and a sound key.
        if (body.sealed) checkSealedStart(d, body.sealed);
        return sendStarted(
          reply,
          await startOnce(req, body, route.quota(config.limits), (request) =>
            engine.start(protocol, req.subject, route.input(params, body), request)
          )
        );
      }
    );
  }
  app.get(
    '/v1/keys',
    { schema: { ...secured, response: { 200: KeyList, ...errors } }, onRequest: authenticate },
    async (req) => ({
      keys: (await store.listKeys(req.subject)).map((k) => keyInfo(k, engine.now())),
    })
  );
  app.get(
    '/v1/keys/:keyId',
    {
      schema: { ...secured, params: KeyIdParams, response: { 200: KeyInfo, ...errors } },
      onRequest: authenticate,
    },
    async (req) => {
      const key = await store.getKey(req.params.keyId, req.subject);
      if (!key || key.subject !== req.subject) throw notFound('key');
      return keyInfo(key, engine.now());
    }
  );
  app.get(
    '/v1/keys/:keyId/public',
    {
      schema: {
        ...secured,
        description: `A key's public facts, for its owner or a token with the \`${KEYS_PUBLIC_SCOPE}\` scope (a gateway looking a key up by its id alone).`,
        params: KeyIdParams,
        response: { 200: KeyPublicInfo, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => {
      const anyKey = req.scopes.has(KEYS_PUBLIC_SCOPE);
      const key = await store.getKey(req.params.keyId, anyKey ? undefined : req.subject);
      // Not the owner's and no scope: the same 404 as a key that does not exist.
      if (!key || (!anyKey && key.subject !== req.subject)) throw notFound('key');
      return publicInfo(key);
    }
  );
  app.patch(
    '/v1/keys/:keyId',
    {
      schema: {
        ...secured,
        description:
          "Set the key's label and register its addresses (public facts kept with the key's record).",
        params: KeyIdParams,
        body: KeyMetaBody,
        response: { 200: KeyInfo, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) => {
      const key = await engine.vault.ownedKey(req.subject, req.params.keyId);
      const { label, addresses } = req.body;
      await store.setKeyMeta(key.keyId, {
        ...(label !== undefined ? { label } : {}),
        ...(addresses !== undefined ? { addresses } : {}),
      });
      const updated = await store.getKey(key.keyId, req.subject);
      if (!updated) throw notFound('key');
      return keyInfo(updated, engine.now());
    }
  );
  app.post(
    '/v1/keys/:keyId/refresh/confirm',
    {
      schema: {
        ...secured,
        params: KeyIdParams,
        body: Type.Object({ epoch: RefreshBody.properties.epoch }, { additionalProperties: false }),
        response: { 200: KeyInfo, ...errors },
      },
      onRequest: authenticate,
    },
    async (req) =>
      keyInfo(
        await engine.confirmEpoch(req.subject, req.params.keyId, req.body.epoch),
        engine.now()
      )
  );
}

/** A start's reply as its own text, so that a resend gets the same bytes. */
const sendStarted = (reply: FastifyReply, text: string) =>
  reply
    .status(201)
    .header('content-type', 'application/json; charset=utf-8')
    .serializer((x) => x as string)
    .send(text as never);

function publicInfo(k: KeyRecord): KeyPublicInfoResponse {
  return {
    keyId: k.keyId,
    scheme: k.scheme,
    publicKey: k.publicKey,
    ...(k.topology ? { topology: k.topology.kind } : {}),
    ...(k.retiredBy ? { retiredBy: k.retiredBy } : {}),
    ...(k.addresses ? { addresses: k.addresses } : {}),
  };
}

/** A key's record for its owner; `now` (the engine's clock) dates a pending recovery. */
function keyInfo(k: KeyRecord, now: number): KeyInfoResponse {
  return {
    keyId: k.keyId,
    scheme: k.scheme,
    label: k.label,
    publicKey: k.publicKey,
    threshold: k.threshold,
    parties: k.parties,
    party: k.party,
    epoch: k.epoch,
    ...(k.pendingEpoch ? { pendingEpoch: k.pendingEpoch } : {}),
    policy: k.policy,
    createdAt: k.createdAt,
    ...(k.topology
      ? { topology: k.topology.kind, node: k.topology.node, peer: k.topology.peer }
      : {}),
    ...(k.recovery ? { recovery: statusOf(k, now) } : {}),
    ...(k.retiredBy ? { retiredBy: k.retiredBy } : {}),
    ...(k.addresses ? { addresses: k.addresses } : {}),
  };
}

/** A start's `sealed` identity: only an attested server seals, and only to a well-formed key. */
function checkSealedStart(d: AppDeps, k: { publicKey: string; x25519: string }): void {
  if (!d.attestation)
    throw new ApiError(
      'ATTESTATION_DISABLED',
      'sealed sessions need a server with an attestation provider'
    );
  const bad = checkPartyPublic({
    publicKey: hexToBytes(k.publicKey),
    x25519: hexToBytes(k.x25519),
  });
  if (bad) throw new ApiError('SCHEMA', `invalid request: sealed: ${bad}`);
}
