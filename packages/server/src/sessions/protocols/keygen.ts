/**
 * Key generation: a 2-of-2 DKG with the client. Its result is the server's share and the key's
 * record, created together when the last step commits.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CreateKeyBody } from '@tessera/api';
import { dkg, SCHEMES, type Scheme } from '@tessera/core';
import { ApiError } from '../../errors.ts';
import type { KeyRecord } from '../../store/store.ts';
import {
  CLIENT_PARTY,
  encodedStart,
  isKeyShare,
  PARTIES,
  SERVER_PARTY,
  type ServerProtocol,
  sessionCodec,
  startRoute,
} from '../protocol.ts';

export interface KeygenInput {
  scheme: string;
  label: string;
}

export const dkgSessions = sessionCodec(
  {
    name: 'dkg',
    kind: 'keygen',
    loadsShare: false,
    guardedRounds: [],
    lane: 'bulk',
  },
  dkg
);

export const keygen: ServerProtocol<KeygenInput> = {
  name: 'keygen',
  sessions: [dkgSessions],
  route: startRoute({
    path: '/keys',
    body: CreateKeyBody,
    quota: (limits) => ({ scope: 'keygen', max: limits.keygensPerHourPerSubject }),
    input: (_params, body) => ({ scheme: body.scheme, label: body.label ?? '' }),
  }),

  async start(_ctx, _subject, { scheme, label }) {
    if (!(SCHEMES as readonly string[]).includes(scheme))
      throw new ApiError(
        'UNSUPPORTED_CURVE',
        `scheme "${scheme}" is not supported (use ecdsa, ed25519 or bip340)`
      );
    const sid0 = new Uint8Array(randomBytes(32));
    const step = dkg.start({
      scheme: scheme as Scheme,
      threshold: 2,
      parties: 2,
      me: SERVER_PARTY,
      sid0,
      label,
    });
    return {
      codec: dkgSessions,
      scheme: scheme as Scheme,
      keyId: null,
      epoch: null,
      ...encodedStart(dkgSessions, step),
      nonces: [],
      params: {
        scheme: scheme as Scheme,
        threshold: 2,
        parties: PARTIES,
        sid0: bytesToHex(sid0),
        label,
      },
      exclusive: false,
      audit: { action: 'keygen.start', details: { scheme } },
    };
  },

  finish(ctx, rec, _key, result) {
    if (!isKeyShare(result))
      throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
    const params = JSON.parse(rec.params) as { label?: string };
    const keyId = result.keyIdHex;
    const epoch = bytesToHex(result.epoch);
    const record: KeyRecord = {
      keyId,
      subject: rec.subject,
      scheme: result.scheme,
      label: params.label ?? '',
      publicKey: bytesToHex(result.publicKey),
      threshold: result.threshold,
      parties: [...result.parties],
      party: CLIENT_PARTY,
      serverParty: SERVER_PARTY,
      epoch,
      pendingEpoch: null,
      policy: ctx.config.policy,
      createdAt: ctx.now(),
    };
    return {
      result: { keyId, scheme: result.scheme, publicKey: record.publicKey, epoch },
      effects: [
        { kind: 'create', key: record, share: ctx.vault.seal(keyId, epoch, result.toBytes()) },
      ],
      audit: [ctx.event(rec.subject, keyId, rec.id, 'keygen', 'ok', { scheme: result.scheme })],
    };
  },
};
