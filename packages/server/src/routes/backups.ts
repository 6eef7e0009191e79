/**
 * Verifiable (PVE) backups of a key's client share (docs/pve-backup.md): its owner registers one
 * (`POST /v1/keys/:keyId/backups`) and reads them back (`GET`). A backup is a ciphertext of the
 * client's secret share under a backup public key, with a proof that it decrypts to the discrete
 * logarithm of the client's public share, and the whole share sealed to the same key.
 *
 * The server checks the proof against its own record of the key: the label (key id, the client's
 * party id, the key's current epoch, scheme) and the client's public share X_client come from the
 * key record and the server's share, never from the request or the ciphertext, so a backup that
 * passes is one of this key's client share at this epoch, under the named backup key. It cannot
 * open the sealed share (only the backup key's holder can); a restore checks it against the proof.
 * The check costs ≈ 100 ms of CPU on bytes the caller chose: it runs on the compute pool's bulk
 * lane, after every cheap refusal, and is charged to the subject's hourly quota.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import {
  BackupCreated,
  type BackupCreatedResponse,
  BackupList,
  type BackupListResponse,
  CreateBackupBody,
  KeyIdParams,
  PVE_BACKUP_LIMITS,
} from '@tessera/api';
import { fromBase64, toBase64 } from '@tessera/api/relay';
import { decodeBackupKey, type PveBackupKey, pveLabel, TesseraError } from '@tessera/core';
import type { FastifyRequest } from 'fastify';
import { Value } from 'typebox/value';
import { ComputePool } from '../compute.ts';
import { ApiError } from '../errors.ts';
import { refuseRetired } from '../node/topology.ts';
import type { AuditEvent, BackupRecord, KeyRecord } from '../store/store.ts';
import {
  type App,
  type AppDeps,
  authenticator,
  cappedBody,
  errors,
  secured,
  subjectQuota,
} from './shared.ts';

const tooLarge = () =>
  new ApiError(
    'PAYLOAD_TOO_LARGE',
    `a backup request is at most ${PVE_BACKUP_LIMITS.bodyBytes} bytes`
  );

export function registerBackupRoutes(app: App, d: AppDeps): void {
  const { store, engine, config } = d;
  const authenticate = authenticator(d.auth);
  const quota = subjectQuota(d);
  const compute = d.compute ?? new ComputePool(0);
  /** The key each request was found to own before its body was read. */
  const owned = new WeakMap<FastifyRequest, KeyRecord>();
  const audit = (e: Omit<AuditEvent, 'at' | 'sessionId' | 'action'>): AuditEvent => ({
    at: engine.now(),
    sessionId: null,
    action: 'backup.create',
    ...e,
  });

  app.post(
    '/v1/keys/:keyId/backups',
    {
      bodyLimit: PVE_BACKUP_LIMITS.bodyBytes,
      schema: {
        ...secured,
        description: `Register a verifiable (PVE) backup of the client share of a key. The server checks its proof against its own record of the key (the client's public share, key id, party, current epoch and scheme), keeps it, and answers 400 BACKUP_INVALID if it does not verify. At most ${PVE_BACKUP_LIMITS.perKey} per key (409 BACKUP_LIMIT); charged to the hourly quota of key generations, counted apart.`,
        params: KeyIdParams,
        body: CreateBackupBody,
        response: { 201: BackupCreated, ...errors },
      },
      onRequest: authenticate,
      // Before a byte of the body is read: the key is the caller's (404 otherwise, as for a
      // missing one), and the body fits.
      preParsing: async (req, _reply, payload) => {
        if (!Value.Check(KeyIdParams, req.params))
          throw new ApiError('SCHEMA', 'invalid request: params/keyId must be 64 hex digits');
        owned.set(req, await engine.vault.ownedKey(req.subject, req.params.keyId));
        const limit = PVE_BACKUP_LIMITS.bodyBytes;
        if (Number(req.headers['content-length']) > limit) throw tooLarge();
        return cappedBody(payload, limit, tooLarge);
      },
    },
    async (req, reply) => {
      const key = owned.get(req) ?? (await engine.vault.ownedKey(req.subject, req.params.keyId));
      refuseRetired(key);
      const body = req.body;
      if (body.epoch !== key.epoch)
        throw new ApiError(
          'EPOCH_STALE',
          body.epoch === key.pendingEpoch
            ? `epoch ${body.epoch} of key ${key.keyId} is not confirmed yet: confirm the refresh, then back up`
            : `the backup is of epoch ${body.epoch}, but key ${key.keyId} is at epoch ${key.epoch}: back up the current share`
        );
      const pve = base64Field(body.pve, 'pve');
      const sealedShare = base64Field(body.sealedShare, 'sealedShare');
      let backupKey: PveBackupKey;
      try {
        backupKey = decodeBackupKey(body.backupKey);
      } catch (e) {
        throw invalid(e);
      }
      const max = PVE_BACKUP_LIMITS.perKey;
      if ((await store.countBackups(key.keyId, key.epoch)) >= max) throw limitReached(key, max);
      // Never refunded: a backup that fails its check cost the same CPU as one that passes.
      await quota.take('backup', req.subject, config.limits.keygensPerHourPerSubject);
      const share = await engine.vault.share(key, key.epoch);
      const facts = { epoch: key.epoch, backupKey: body.backupKey };
      try {
        await compute.checkBackup(
          {
            pve,
            publicShare: share.verificationShare(key.party),
            backupKey,
            label: pveLabel({
              keyId: hexToBytes(key.keyId),
              partyId: key.party,
              epoch: hexToBytes(key.epoch),
              scheme: key.scheme,
            }),
          },
          { affinity: key.keyId, subject: req.subject }
        );
      } catch (e) {
        if (!isInputError(e)) throw e;
        await store.audit(
          audit({
            subject: req.subject,
            keyId: key.keyId,
            outcome: 'invalid',
            details: { ...facts, check: e.check },
          })
        );
        throw invalid(e);
      }
      const rec: BackupRecord = {
        backupId: randomBytes(16).toString('hex'),
        keyId: key.keyId,
        subject: req.subject,
        epoch: key.epoch,
        backupKey: body.backupKey,
        pve,
        sealedShare,
        createdAt: engine.now(),
      };
      const bytes = pve.length + sealedShare.length;
      const kept = await store.putBackup(rec, {
        max,
        audit: audit({
          subject: req.subject,
          keyId: key.keyId,
          outcome: 'ok',
          details: { backupId: rec.backupId, ...facts, bytes },
        }),
      });
      if (kept === 'limit') throw limitReached(key, max);
      const created: BackupCreatedResponse = {
        backupId: rec.backupId,
        keyId: rec.keyId,
        epoch: rec.epoch,
        backupKey: rec.backupKey,
        createdAt: rec.createdAt,
        bytes,
      };
      return reply.status(201).send(created);
    }
  );

  app.get(
    '/v1/keys/:keyId/backups',
    {
      schema: {
        ...secured,
        description: "The key's verifiable backups, newest first (its owner only).",
        params: KeyIdParams,
        response: { 200: BackupList, ...errors },
      },
      onRequest: authenticate,
    },
    async (req): Promise<BackupListResponse> => {
      const key = await engine.vault.ownedKey(req.subject, req.params.keyId);
      const backups = await store.listBackups(key.keyId, req.subject);
      return {
        backups: backups.map((b) => ({
          backupId: b.backupId,
          keyId: b.keyId,
          epoch: b.epoch,
          backupKey: b.backupKey,
          createdAt: b.createdAt,
          pve: toBase64(b.pve),
          sealedShare: toBase64(b.sealedShare),
        })),
      };
    }
  );
}

/** A core `InputError`, also as the plain copy of its data a compute worker sends back. */
const isInputError = (e: unknown): e is TesseraError =>
  e instanceof TesseraError && e.code === 'INVALID_INPUT';

function invalid(e: unknown): ApiError {
  const check = (e as { check?: unknown }).check;
  return new ApiError('BACKUP_INVALID', `the backup does not verify: ${(e as Error).message}`, {
    ...(typeof check === 'string' ? { details: { check } } : {}),
  });
}

const limitReached = (key: KeyRecord, max: number) =>
  new ApiError('BACKUP_LIMIT', `key ${key.keyId} holds ${max} backups, the most it keeps`);

/** The schema admits base64's alphabet; only canonical, padded base64 decodes. */
function base64Field(s: string, field: string): Uint8Array {
  try {
    return fromBase64(s);
  } catch {
    throw new ApiError('SCHEMA', `invalid request: body/${field} is not canonical base64`);
  }
}
