/**
 * Key routes: create (key generation), list, read, and the sessions started on a key (sign,
 * refresh, recover), plus the confirmation of a refreshed epoch. Starts are idempotent by their
 * request nonce and charged to the subject's hourly quota.
 * @module
 */
import { createHash } from 'node:crypto';
import {
  CreateKeyBody,
  KeyIdParams,
  KeyInfo,
  type KeyInfoResponse,
  KeyList,
  RefreshBody,
  SessionStarted,
  type SessionStartedResponse,
  SignBody,
} from '@tessera/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ApiError, notFound } from '../errors.ts';
import { type QuotaUnit, SubjectQuota } from '../quota.ts';
import type { StartRequest } from '../sessions/engine.ts';
import { keygen } from '../sessions/protocols/keygen.ts';
import { recover } from '../sessions/protocols/recover.ts';
import { refresh } from '../sessions/protocols/refresh.ts';
import { sign } from '../sessions/protocols/sign.ts';
import type { KeyRecord } from '../store/store.ts';
import { type App, type AppDeps, authenticator, errors, secured } from './shared.ts';

export function registerKeyRoutes(app: App, d: AppDeps): void {
  const { config, store, engine } = d;
  const authenticate = authenticator(d.auth);
  const quota = new SubjectQuota({
    redis: d.redis,
    failOpen: config.rateLimitOnRedisDown === 'open',
    metrics: d.metrics,
    now: () => engine.now(),
  });
  /**
   * A session start, run once per (subject, nonce). The timestamp must be in the window; a
   * resend of the identical request (route, key and body) gets the reply the first one got, the
   * same bytes, and another request with the nonce 409 REPLAYED_REQUEST. The subject's hourly
   * quota is charged only for a start that is accepted. Answers the reply's JSON text.
   */
  const startOnce = async (
    req: FastifyRequest,
    guard: { nonce: string; timestamp: number },
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
      return JSON.stringify(await start({ nonce: guard.nonce }));
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

  app.post(
    '/v1/keys',
    {
      schema: { ...secured, body: CreateKeyBody, response: { 201: SessionStarted, ...errors } },
      onRequest: authenticate,
    },
    async (req, reply) =>
      sendStarted(
        reply,
        await startOnce(
          req,
          req.body,
          { scope: 'keygen', max: config.limits.keygensPerHourPerSubject },
          (request) =>
            engine.start(
              keygen,
              req.subject,
              { scheme: req.body.scheme, label: req.body.label ?? '' },
              request
            )
        )
      )
  );
  app.get(
    '/v1/keys',
    { schema: { ...secured, response: { 200: KeyList, ...errors } }, onRequest: authenticate },
    async (req) => ({
      keys: (await store.listKeys(req.subject)).map(keyInfo),
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
      return keyInfo(key);
    }
  );
  app.post(
    '/v1/keys/:keyId/sign',
    {
      schema: {
        ...secured,
        params: KeyIdParams,
        body: SignBody,
        response: { 201: SessionStarted, ...errors },
      },
      onRequest: authenticate,
    },
    async (req, reply) =>
      sendStarted(
        reply,
        await startOnce(
          req,
          req.body,
          { scope: 'sign', max: config.limits.signsPerHourPerSubject },
          (request) =>
            engine.start(
              sign,
              req.subject,
              { keyId: req.params.keyId, payload: req.body.payload, epoch: req.body.epoch },
              request
            )
        )
      )
  );
  // Refresh, and recover: the same protocol, started by a client restored from a backup.
  const refreshLimit = { scope: 'refresh', max: config.limits.keygensPerHourPerSubject };
  for (const protocol of [refresh, recover]) {
    app.post(
      `/v1/keys/:keyId/${protocol.name}`,
      {
        schema: {
          ...secured,
          description:
            protocol === refresh
              ? 'Proactive refresh: same public key, new shares on both sides.'
              : 'Prove possession of a share restored from a backup; both shares are replaced.',
          params: KeyIdParams,
          body: RefreshBody,
          response: { 201: SessionStarted, ...errors },
        },
        onRequest: authenticate,
      },
      async (req, reply) =>
        sendStarted(
          reply,
          await startOnce(req, req.body, refreshLimit, (request) =>
            engine.start(
              protocol,
              req.subject,
              { keyId: req.params.keyId, epoch: req.body.epoch },
              request
            )
          )
        )
    );
  }
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
    async (req) => keyInfo(await engine.confirmEpoch(req.subject, req.params.keyId, req.body.epoch))
  );
}

/** A start's reply as its own text, so that a resend gets the same bytes. */
const sendStarted = (reply: FastifyReply, text: string) =>
  reply
    .status(201)
    .header('content-type', 'application/json; charset=utf-8')
    .serializer((x) => x as string)
    .send(text as never);

function keyInfo(k: KeyRecord): KeyInfoResponse {
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
  };
}
