/**
 * Recovery of a 2-of-3 key whose client share was lost (docs/topologies.md, "Recovery"): both
 * nodes deal their shares of the current epoch to all three parties, the client joining as a
 * new holder only, and the reshare issues a new key id for the same public key. When the last
 * step commits, this node stores its share of the new key and retires the old key id in the same
 * transaction: the old shares are deleted and the old key id answers KEY_RETIRED for good.
 *
 * A recovery runs only after it was requested (`routes/recovery.ts`) and the node's delay
 * (`recovery.delay`) has passed, during which the key's owner can cancel it.
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeyIdParams, RecoveryRunBody } from '@tessera/api';
import { oldKeyOf, reshare } from '@tessera/core';
import { ApiError } from '../../errors.ts';
import { notifyRecovery } from '../../node/notify.ts';
import {
  checkSameTopology,
  refuseRetired,
  TOPOLOGY_PARTIES,
  type TopologyRequest,
  topologyStart,
} from '../../node/topology.ts';
import type { KeyRecord } from '../../store/store.ts';
import { encodedStart, isReshareResult, type ServerProtocol, startRoute } from '../protocol.ts';
import { reshareSessions } from './refresh.ts';

/** The nodes deal; the client, which lost its share, only receives. */
export const RECOVERY_DEALERS = TOPOLOGY_PARTIES.slice(1);

export interface RecoveryInput {
  keyId: string;
  topology: TopologyRequest;
}

/** The recovery a key waits for, refused unless requested, not cancelled and past its delay. */
export function refuseUnlessReady(key: KeyRecord, now: number): void {
  const r = key.recovery;
  if (r?.state !== 'pending')
    throw new ApiError(
      'NO_RECOVERY',
      `no recovery of key ${key.keyId} is pending: request one first (POST /v1/keys/${key.keyId}/recovery)`
    );
  if (now < r.readyAt)
    throw new ApiError(
      'RECOVERY_PENDING',
      `the recovery of key ${key.keyId} may run from ${new Date(r.readyAt).toISOString()} (the node's recovery delay); the owner can cancel it until then`,
      { details: { readyAt: r.readyAt }, retryAfter: Math.ceil((r.readyAt - now) / 1000) }
    );
}

export const recovery: ServerProtocol<RecoveryInput> = {
  name: 'recovery',
  // Its sessions are reshares, stepped as a refresh's; it finishes those that reissue the key id.
  sessions: [reshareSessions],
  owns: (params) => params.reissue === true,
  route: startRoute({
    path: '/keys/:keyId/recovery/run',
    description:
      'Run a requested 2-of-3 recovery once its delay passed: the nodes reshare to a new client share under a new key id, same public key.',
    params: KeyIdParams,
    body: RecoveryRunBody,
    quota: (limits) => ({ scope: 'refresh', max: limits.keygensPerHourPerSubject }),
    input: (params, body): RecoveryInput => ({
      keyId: params.keyId as string,
      topology: { nodes: body.nodes, sid0: body.sid0 },
    }),
  }),

  async start(ctx, subject, { keyId, topology }) {
    const key = await ctx.vault.ownedKey(subject, keyId);
    refuseRetired(key);
    const t = topologyStart(ctx.identity, ctx.config, topology);
    checkSameTopology(key, t);
    refuseUnlessReady(key, ctx.now());
    await ctx.refuseBusy(key.keyId, 'refresh');
    const latest = key.pendingEpoch ?? key.epoch;
    const share = await ctx.vault.share(key, latest);
    const step = reshare.start({
      share,
      dealers: RECOVERY_DEALERS,
      parties: TOPOLOGY_PARTIES,
      threshold: 2,
      me: t.me,
      sid0: t.sid0,
      reissue: true,
    });
    const old = oldKeyOf(share);
    return {
      codec: reshareSessions,
      scheme: key.scheme,
      keyId,
      epoch: latest,
      ...encodedStart(reshareSessions, step),
      nonces: [`recovery-sid0:${bytesToHex(t.sid0)}`],
      params: {
        scheme: key.scheme,
        threshold: 2,
        parties: TOPOLOGY_PARTIES,
        keyId,
        epoch: latest,
        sid0: bytesToHex(t.sid0),
        dealers: RECOVERY_DEALERS,
        reissue: true,
        old: {
          generation: old.generation,
          groupKey: bytesToHex(old.groupKey),
          chainCode: bytesToHex(old.chainCode),
          verificationShares: old.verificationShares.map(bytesToHex),
        },
        ...t.params,
      },
      exclusive: true,
      audit: { action: 'recovery.start', details: { node: t.identity.nodeId } },
    };
  },

  finish(ctx, rec, key, result) {
    if (!(isReshareResult(result) && key && result.share))
      throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
    // Cancelled while the reshare ran: nothing is issued.
    if (key.recovery?.state !== 'pending')
      throw new ApiError('NO_RECOVERY', `the recovery of key ${key.keyId} was cancelled`);
    const keyId = bytesToHex(result.keyId);
    if (keyId === key.keyId) throw new ApiError('INTERNAL', 'recovery kept the key id');
    const epoch = bytesToHex(result.epoch);
    const record: KeyRecord = {
      ...key,
      keyId,
      epoch,
      pendingEpoch: null,
      recovery: null,
      retiredBy: null,
      createdAt: ctx.now(),
    };
    return {
      result: { keyId, scheme: key.scheme, publicKey: key.publicKey, epoch },
      effects: [
        {
          kind: 'create',
          key: record,
          share: ctx.vault.seal(keyId, key.serverParty, epoch, result.share.toBytes()),
        },
        { kind: 'retire', keyId: key.keyId, successor: keyId },
      ],
      audit: [
        ctx.event(rec.subject, key.keyId, rec.id, 'recovery', 'ok', { successor: keyId }),
        ctx.event(rec.subject, keyId, rec.id, 'keygen', 'ok', {
          scheme: key.scheme,
          recoveredFrom: key.keyId,
        }),
      ],
    };
  },

  async committed(ctx, rec, key) {
    if (!key) return;
    const done = await ctx.vault.ownedKey(rec.subject, key.keyId).catch(() => null);
    await notifyRecovery(ctx, {
      event: 'recovery.completed',
      keyId: key.keyId,
      subject: rec.subject,
      ...(done?.retiredBy ? { successor: done.retiredBy } : {}),
    });
  },
};
