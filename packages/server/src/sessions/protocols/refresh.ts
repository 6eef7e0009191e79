/**
 * Refresh: a reshare between the two parties that keeps the public key and replaces both
 * shares. The new epoch stays pending until the client confirms it (or signs with it).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeyIdParams, RefreshBody } from '@tessera/api';
import { reshare } from '@tessera/core';
import { ApiError } from '../../errors.ts';
import {
  checkSameTopology,
  refuseRetired,
  TOPOLOGY_PARTIES,
  type TopologyRequest,
  topologyRequestOf,
  topologyStart,
} from '../../node/topology.ts';
import {
  encodedStart,
  isReshareResult,
  type Opening,
  PARTIES,
  type ProtocolContext,
  SERVER_PARTY,
  type ServerProtocol,
  sessionCodec,
  startRoute,
} from '../protocol.ts';

export interface RefreshInput {
  keyId: string;
  /** The latest epoch of the key, as the client knows it. */
  epoch: string;
  /** A 2-of-3 key: both nodes' identities and the client's coordinator nonce. */
  topology?: Partial<TopologyRequest>;
}

export const reshareSessions = sessionCodec(
  {
    name: 'reshare',
    kind: 'refresh',
    loadsShare: false,
    guardedRounds: [],
    lane: 'bulk',
  },
  reshare
);

/** Opens a reshare of the key's latest epoch; `purpose` names the start in the audit. */
export async function startReshare(
  ctx: ProtocolContext,
  subject: string,
  { keyId, epoch, topology }: RefreshInput,
  purpose: string
): Promise<Opening> {
  const key = await ctx.vault.ownedKey(subject, keyId);
  refuseRetired(key);
  // A pending recovery says the client share may be in the wrong hands: it gets no new one.
  if (key.recovery?.state === 'pending')
    throw new ApiError('RECOVERY_PENDING', `a recovery of key ${keyId} is pending`, {
      details: { readyAt: key.recovery.readyAt },
    });
  const t =
    key.topology || topology ? topologyStart(ctx.identity, ctx.config, topology ?? {}) : null;
  if (t) checkSameTopology(key, t);
  await ctx.refuseBusy(key.keyId, 'refresh');
  const latest = key.pendingEpoch ?? key.epoch;
  if (epoch !== latest)
    throw new ApiError('EPOCH_STALE', `epoch ${epoch} is not the latest epoch of key ${keyId}`, {
      details: { epoch: latest },
    });
  const share = await ctx.vault.share(key, latest);
  const sid0 = t ? t.sid0 : new Uint8Array(randomBytes(32));
  // All three parties deal and receive in a 2-of-3 refresh: the same key id, a new epoch.
  const parties = t ? TOPOLOGY_PARTIES : PARTIES;
  const step = reshare.start({
    share,
    dealers: parties,
    parties,
    threshold: 2,
    me: t ? t.me : SERVER_PARTY,
    sid0,
  });
  return {
    codec: reshareSessions,
    scheme: key.scheme,
    keyId,
    epoch: latest,
    ...encodedStart(reshareSessions, step),
    nonces: t ? [`reshare-sid0:${bytesToHex(sid0)}`] : [],
    params: {
      scheme: key.scheme,
      threshold: 2,
      parties,
      keyId,
      epoch: latest,
      sid0: bytesToHex(sid0),
      ...(t ? t.params : {}),
    },
    exclusive: true,
    audit: { action: `${purpose}.start` },
  };
}

/** The start route of refresh and of recover (`/keys/:keyId/<name>`), one quota for both. */
export const reshareRoute = (name: string, description: string) =>
  startRoute({
    path: `/keys/:keyId/${name}`,
    description,
    params: KeyIdParams,
    body: RefreshBody,
    quota: (limits) => ({ scope: 'refresh', max: limits.keygensPerHourPerSubject }),
    input: (params, body): RefreshInput => {
      const topology = topologyRequestOf(body);
      return {
        keyId: params.keyId as string,
        epoch: body.epoch,
        ...(topology ? { topology } : {}),
      };
    },
  });

export const refresh: ServerProtocol<RefreshInput> = {
  name: 'refresh',
  sessions: [reshareSessions],
  route: reshareRoute('refresh', 'Proactive refresh: same public key, new shares on both sides.'),

  start: (ctx, subject, input) => startReshare(ctx, subject, input, 'refresh'),

  finish(ctx, rec, key, result) {
    if (!(isReshareResult(result) && key && result.share))
      throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
    const epoch = bytesToHex(result.epoch);
    if (bytesToHex(result.keyId) !== key.keyId)
      throw new ApiError('INTERNAL', 'refresh changed the key id');
    return {
      result: { keyId: key.keyId, epoch },
      effects: [
        {
          kind: 'refresh',
          keyId: key.keyId,
          epoch,
          share: ctx.vault.seal(key.keyId, key.serverParty, epoch, result.share.toBytes()),
        },
      ],
      audit: [ctx.event(rec.subject, key.keyId, rec.id, 'refresh', 'ok', { epoch })],
    };
  },
};
