/**
 * Key generation: a 2-of-2 DKG with the client, or, on a node of the 2-of-3 topology, a 2-of-3
 * DKG among the client and both nodes (the other node's messages relayed by the client; see
 * `node/topology.ts`). Its result is this server's share and the key's record, created together
 * when the last step commits: every round-4 message verified, so all three parties hold the
 * same public key.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { CreateKeyBody } from '@tessera/api';
import { dkg, SCHEMES, type Scheme } from '@tessera/core';
import { ApiError } from '../../errors.ts';
import {
  TOPOLOGY_PARTIES,
  type TopologyRequest,
  topologyRequestOf,
  topologyStart,
} from '../../node/topology.ts';
import type { KeyRecord, NodeIdentityPublic } from '../../store/store.ts';
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
  /** A 2-of-3 key: both nodes' identities and the client's coordinator nonce. */
  topology?: Partial<TopologyRequest>;
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
    input: (_params, body) => ({
      scheme: body.scheme,
      label: body.label ?? '',
      ...(body.topology ? { topology: topologyRequestOf(body) ?? {} } : {}),
    }),
  }),

  async start(ctx, _subject, { scheme, label, topology }) {
    if (!(SCHEMES as readonly string[]).includes(scheme))
      throw new ApiError(
        'UNSUPPORTED_CURVE',
        `scheme "${scheme}" is not supported (use ecdsa, ed25519 or bip340)`
      );
    // Node 2 only ever holds the recovery share of a 2-of-3 key: a 2-of-2 key would make it a
    // co-signer.
    if (!topology && ctx.identity?.nodeId === 'node2')
      throw new ApiError(
        'ROLE_FORBIDDEN',
        'this is node 2 of the 2-of-3 topology: it makes 2-of-3 keys only (topology: "2-of-3")'
      );
    const t = topology ? topologyStart(ctx.identity, ctx.config, topology) : null;
    // 2-of-3: the client chose the nonce for all three; it may repeat it only to fail.
    const sid0 = t ? t.sid0 : new Uint8Array(randomBytes(32));
    const parties = t ? TOPOLOGY_PARTIES : PARTIES;
    const step = dkg.start({
      scheme: scheme as Scheme,
      threshold: 2,
      parties: parties.length,
      me: t ? t.me : SERVER_PARTY,
      sid0,
      label,
      ...(t ? { pids: t.pids } : {}),
    });
    return {
      codec: dkgSessions,
      scheme: scheme as Scheme,
      keyId: null,
      epoch: null,
      ...encodedStart(dkgSessions, step),
      nonces: t ? [`keygen-sid0:${bytesToHex(sid0)}`] : [],
      params: {
        scheme: scheme as Scheme,
        threshold: 2,
        parties,
        sid0: bytesToHex(sid0),
        label,
        ...(t ? t.params : {}),
      },
      exclusive: false,
      audit: {
        action: 'keygen.start',
        details: { scheme, ...(t ? { topology: '2-of-3', node: t.identity.nodeId } : {}) },
      },
    };
  },

  finish(ctx, rec, _key, result) {
    if (!isKeyShare(result))
      throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
    const params = JSON.parse(rec.params) as {
      label?: string;
      me?: number;
      peer?: NodeIdentityPublic;
    };
    const node = params.me !== undefined && params.peer ? ctx.identity : undefined;
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
      serverParty: params.me ?? SERVER_PARTY,
      epoch,
      pendingEpoch: null,
      policy: ctx.config.policy,
      createdAt: ctx.now(),
      topology:
        node && params.peer
          ? {
              kind: '2-of-3',
              node: node.nodeId,
              peer: {
                nodeId: params.peer.nodeId,
                ed25519: params.peer.ed25519,
                x25519: params.peer.x25519,
                fingerprint: params.peer.fingerprint,
              },
            }
          : null,
      recovery: null,
      retiredBy: null,
      addresses: null,
    };
    return {
      result: { keyId, scheme: result.scheme, publicKey: record.publicKey, epoch },
      effects: [
        {
          kind: 'create',
          key: record,
          share: ctx.vault.seal(keyId, record.serverParty, epoch, result.toBytes()),
        },
      ],
      audit: [
        ctx.event(rec.subject, keyId, rec.id, 'keygen', 'ok', {
          scheme: result.scheme,
          ...(record.topology ? { topology: '2-of-3', node: record.topology.node } : {}),
        }),
      ],
    };
  },
};
