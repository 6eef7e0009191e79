/**
 * The 2-of-3 topology as a node enforces it (docs/topologies.md): who is who in a key, what a
 * session start must show before this node joins, and what each role may do with a key.
 *
 * Parties: 1 the client, 2 node 1 (co-signs), 3 node 2 (recovery only). Every start names both
 * nodes' identities as the client pinned them; this node checks its own entry is itself, the
 * other entry is a well-formed identity (and, if configured, the peer it was told to expect),
 * and binds both fingerprints into the key's configuration hash, so the three parties agree on
 * who the nodes are or the key generation fails.
 * @module
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import type { NodeIdentityInfo } from '@tessera/api';
import type { ServerConfig } from '../config.ts';
import { ApiError } from '../errors.ts';
import type { KeyRecord, KeyTopology, NodeIdentityPublic } from '../store/store.ts';
import { checkedIdentity, NODE_PARTY, type NodeIdentity } from './identity.ts';

export const CLIENT = 1;
export const TOPOLOGY_PARTIES = [CLIENT, NODE_PARTY.node1, NODE_PARTY.node2];
/** The signer set of a 2-of-3 key: the client and node 1; node 2 never signs. */
export const TOPOLOGY_SIGNERS = [CLIENT, NODE_PARTY.node1];

/** What a 2-of-3 session start needs, as the start body carries it. */
export interface TopologyRequest {
  nodes: { node1: NodeIdentityInfo; node2: NodeIdentityInfo };
  sid0: string;
}

/** The topology fields of a start body, if it asks for the 2-of-3 topology. */
export function topologyRequestOf(body: {
  topology?: '2-of-3';
  nodes?: TopologyRequest['nodes'];
  sid0?: string;
}): Partial<TopologyRequest> | undefined {
  if (!body.topology) return undefined;
  return {
    ...(body.nodes ? { nodes: body.nodes } : {}),
    ...(body.sid0 ? { sid0: body.sid0 } : {}),
  };
}

/** This node's party, the peer, and the identity hashes bound into the configuration. */
export interface TopologyStart {
  identity: NodeIdentity;
  me: number;
  peer: NodeIdentityPublic;
  peerParty: number;
  /** Per party (index id − 1): the client's is zeros, each node's its fingerprint. */
  pids: Uint8Array[];
  sid0: Uint8Array;
  /** The session params a 2-of-3 session adds (`me`, `peer`). */
  params: { me: number; peer: NodeIdentityPublic & { party: number } };
}

/** Checks a 2-of-3 start against this node's identity and configuration. */
export function topologyStart(
  identity: NodeIdentity | undefined,
  config: ServerConfig,
  req: Partial<TopologyRequest>
): TopologyStart {
  if (!identity)
    throw new ApiError(
      'ROLE_FORBIDDEN',
      'this server is not a node of the 2-of-3 topology (start it with --node-id)'
    );
  if (!req.nodes || !req.sid0)
    throw new ApiError('SCHEMA', 'a 2-of-3 start needs `nodes` (both identities) and `sid0`');
  const mine = req.nodes[identity.nodeId];
  if (mine.fingerprint !== identity.public.fingerprint || mine.nodeId !== identity.nodeId)
    throw new ApiError(
      'FORBIDDEN',
      `the request names another identity for ${identity.nodeId} (fingerprint ${mine.fingerprint}); this node is ${identity.public.fingerprint}`
    );
  const peerId = identity.nodeId === 'node1' ? 'node2' : 'node1';
  const peer = checkedIdentity(req.nodes[peerId]);
  if (!peer || peer.nodeId !== peerId)
    throw new ApiError('SCHEMA', `nodes.${peerId}: not a valid node identity of ${peerId}`);
  const pinned = config.node.peerFingerprint;
  // Without a pinned peer this node would take the client's word for who the other node is, and
  // a client naming a node of its own would hold two of the three shares. Dev mode only.
  if (pinned === null && !config.dev)
    throw new ApiError(
      'ROLE_FORBIDDEN',
      `this node has no pinned peer: set node.peerFingerprint to ${peerId}'s fingerprint (tessera node identity) before it makes 2-of-3 keys`
    );
  if (pinned !== null && pinned !== peer.fingerprint)
    throw new ApiError(
      'FORBIDDEN',
      `nodes.${peerId}: fingerprint ${peer.fingerprint} is not the peer this node is configured with`
    );
  const peerParty = NODE_PARTY[peerId];
  const fp = (n: NodeIdentityInfo) => hexToBytes(n.fingerprint);
  return {
    identity,
    me: identity.party,
    peer,
    peerParty,
    pids: [new Uint8Array(32), fp(req.nodes.node1), fp(req.nodes.node2)],
    sid0: hexToBytes(req.sid0),
    params: { me: identity.party, peer: { party: peerParty, ...peer } },
  };
}

/** The topology a 2-of-3 key records at this node. */
export function keyTopology(t: TopologyStart): KeyTopology {
  return { kind: '2-of-3', node: t.identity.nodeId, peer: t.peer };
}

/** A key whose id a recovery replaced does nothing more (KEY_RETIRED). */
export function refuseRetired(key: KeyRecord): void {
  if (key.retiredBy !== null)
    throw new ApiError(
      'KEY_RETIRED',
      `key ${key.keyId} was recovered as key ${key.retiredBy}: its shares no longer sign`,
      { details: { successor: key.retiredBy } }
    );
}

/**
 * Whether this node may sign with the key: not a retired key, not node 2 of a 2-of-3 key
 * (ROLE_FORBIDDEN in every scheme), and not while a recovery is pending (its old client share
 * may be the one that was lost).
 */
export function refuseSigning(key: KeyRecord): void {
  refuseRetired(key);
  if (key.topology && key.topology.node !== 'node1')
    throw new ApiError(
      'ROLE_FORBIDDEN',
      `this node is ${key.topology.node} of key ${key.keyId}: it takes part in key generation, refresh and recovery, never in signing`
    );
  if (key.recovery?.state === 'pending')
    throw new ApiError(
      'RECOVERY_PENDING',
      `a recovery of key ${key.keyId} is pending: the key does not sign until it is done or cancelled`,
      { details: { readyAt: key.recovery.readyAt } }
    );
}

/** The same topology as the key's, for a later session of the key (refresh, recovery). */
export function checkSameTopology(key: KeyRecord, t: TopologyStart): void {
  if (!key.topology)
    throw new ApiError('SCHEMA', `key ${key.keyId} is a 2-of-2 key: start it without a topology`);
  if (key.topology.peer.fingerprint !== t.peer.fingerprint)
    throw new ApiError(
      'FORBIDDEN',
      `the request names another peer node than key ${key.keyId} was made with`
    );
}
