/**
 * The client's side of the 2-of-3 topology (docs/topologies.md): the client is party 1, node 1
 * party 2 (it co-signs), node 2 party 3 (key generation, refresh and recovery only). The nodes
 * never talk to each other: the client steps both in lock-step and relays what each sends the
 * other, signed by the sender and, point to point, sealed to the recipient, so the client can
 * neither read nor change it.
 *
 * Before any session the client fetches each node's identity and checks it against the
 * fingerprint the caller pinned (and the fingerprint against the keys), then names both
 * identities to both nodes: each node checks its own entry is itself, and the fingerprints are
 * bound into the key's configuration.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { NodeIdentityInfo, SessionStartedResponse, StepReplyResponse } from '@tessera/api';
import { fromBase64, toBase64 } from '@tessera/api/relay';
import {
  decodeEnvelope,
  discardSession,
  type Envelope,
  encodeEnvelope,
  type Session,
  type Step,
} from '@tessera/core';
import { ClientError } from './errors.ts';
import type { RunGuard } from './guard.ts';
import { type Http, HttpStepTransport } from './transport.ts';

/** A node as the caller pins it: where it answers and the fingerprint of its identity. */
export interface NodeRef {
  url: string;
  fingerprint: string;
}

/** Both nodes of the 2-of-3 topology. */
export interface NodeSet {
  node1: NodeRef;
  node2: NodeRef;
}

export const CLIENT = 1;
export const NODE1 = 2;
export const NODE2 = 3;
export const TOPOLOGY_PARTIES = [CLIENT, NODE1, NODE2];

/** The fingerprint of a node identity, as the node computes it. */
export function identityFingerprint(id: NodeIdentityInfo): string {
  const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
  return bytesToHex(
    sha256(
      concatBytes(
        utf8ToBytes('tessera/node-identity/v1'),
        utf8ToBytes(id.nodeId),
        hex(id.ed25519),
        hex(id.x25519)
      )
    )
  );
}

/** Fetches both nodes' identities and checks them against the pinned fingerprints. */
export async function pinnedIdentities(
  nodes: NodeSet,
  http: { node1: Http; node2: Http }
): Promise<{ node1: NodeIdentityInfo; node2: NodeIdentityInfo }> {
  const one = async (which: 'node1' | 'node2'): Promise<NodeIdentityInfo> => {
    const id = await http[which].request<NodeIdentityInfo>('GET', '/v1/node/identity');
    const pinned = nodes[which].fingerprint.toLowerCase();
    if (id.nodeId !== which || id.fingerprint !== pinned || identityFingerprint(id) !== pinned)
      throw new ClientError(
        'PROTOCOL_VIOLATION',
        `${nodes[which].url} is not the pinned ${which}: its identity ${id.nodeId} ${id.fingerprint} does not match fingerprint ${pinned}`
      );
    return id;
  };
  const [node1, node2] = await Promise.all([one('node1'), one('node2')]);
  return { node1, node2 };
}

/** One node's side of a 2-of-3 session run. */
export interface NodeLeg {
  party: number;
  http: Http;
  started: SessionStartedResponse;
}

/**
 * Runs the client's session against both nodes until all three have finished. Each iteration
 * feeds the nodes' messages to the client's session, then steps each node (both at once) with
 * what the client has for it and what the other node sent it. `guard` makes single-use ids
 * durable before anything that depends on them is sent.
 */
export async function runTrio<S extends Session<unknown>, R>(
  legs: [NodeLeg, NodeLeg],
  start: () => Step<S, never>,
  receive: (s: S, e: Envelope, sender: number) => Step<S, R>,
  guard: RunGuard,
  settle: <T>(guard: RunGuard, call: () => T) => Promise<T>,
  abortAt: (leg: NodeLeg, code: string) => Promise<void>
): Promise<{ result: R; replies: [StepReplyResponse, StepReplyResponse] }> {
  const steppers = legs.map((l) => new HttpStepTransport(l.http));
  let session: S | undefined;
  let result: R | undefined;
  const replies: (StepReplyResponse | null)[] = [null, null];
  try {
    const first = await settle(guard, start);
    session = first.session;
    for (const leg of legs)
      if (leg.started.params.sid !== session.sid)
        throw new ClientError(
          'PROTOCOL_VIOLATION',
          `node ${leg.party} runs another session than the one its parameters make`
        );
    let outbox: Envelope[] = [...first.out];
    let inbox: { env: Envelope; from: NodeLeg }[] = legs.flatMap((leg) =>
      leg.started.messages.map((m) => ({ env: decodeEnvelope(fromBase64(m)), from: leg }))
    );
    // What each node sent the other, to relay: index 0 holds node 1's for node 2.
    let relays: string[][] = legs.map((l) => l.started.relay ?? []);
    for (;;) {
      if (result === undefined && inbox.length > 0) {
        for (const { env, from } of inbox) checkFromNode(env, session as S, from.party);
        const batch = await settle(guard, () => {
          const out: Envelope[] = [];
          let s = session as S;
          let r: R | undefined;
          for (const { env } of inbox.sort((a, b) => a.env.round - b.env.round)) {
            if (r !== undefined) break;
            const step = receive(s, env, env.from);
            s = step.session;
            out.push(...step.out);
            if (step.result !== undefined) r = step.result;
          }
          return { session: s, out, result: r };
        });
        session = batch.session;
        outbox.push(...batch.out);
        if (batch.result !== undefined) result = batch.result;
      }
      const sends = legs.map((leg, i) => ({
        messages: outbox
          .filter((e) => e.to === 0 || e.to === leg.party)
          .map((e) => toBase64(encodeEnvelope(e))),
        relay: relays[1 - i] ?? [],
      }));
      const due = legs
        .map((_, i) => i)
        .filter((i) => {
          const s = sends[i];
          return s !== undefined && (s.messages.length > 0 || s.relay.length > 0);
        });
      if (due.length === 0) break;
      const answered = await Promise.all(
        due.map(async (i) => {
          const leg = legs[i] as NodeLeg;
          const s = sends[i] as { messages: string[]; relay: string[] };
          return {
            i,
            reply: await (steppers[i] as HttpStepTransport).step(
              leg.started.sessionId,
              s.messages,
              s.relay
            ),
          };
        })
      );
      outbox = [];
      inbox = [];
      const nextRelays: string[][] = [[], []];
      for (const { i, reply } of answered) {
        replies[i] = reply;
        const leg = legs[i] as NodeLeg;
        inbox.push(
          ...reply.messages.map((m) => ({ env: decodeEnvelope(fromBase64(m)), from: leg }))
        );
        nextRelays[i] = reply.relay ?? [];
      }
      relays = nextRelays;
      const allDone = replies.every((r) => r?.status === 'done');
      if (allDone && result !== undefined && inbox.length === 0) break;
    }
  } catch (e) {
    if (session) discardSession(session);
    const code = (e as { check?: unknown; code?: unknown }).check ?? (e as { code?: unknown }).code;
    // Both nodes hear of it: the one that ended the session answers the notice harmlessly, and
    // the other frees the key now rather than when its session expires.
    await Promise.all(
      legs.map((leg) => abortAt(leg, typeof code === 'string' ? code : 'ClientAbort'))
    );
    throw e;
  }
  const [one, two] = replies;
  if (result === undefined || one?.status !== 'done' || two?.status !== 'done')
    throw new ClientError(
      'SESSION_INCOMPLETE',
      'the session ended before all three parties finished'
    );
  return { result, replies: [one, two] };
}

/** A node's message must be this session's, from that node, for the client or everyone. */
function checkFromNode<S extends Session<unknown>>(env: Envelope, session: S, party: number): void {
  const why =
    env.proto !== session.proto
      ? `protocol ${env.proto}`
      : env.sid !== session.sid
        ? 'another session id'
        : env.from !== party
          ? `sender ${env.from}`
          : env.to !== 0 && env.to !== CLIENT
            ? `recipient ${env.to}`
            : null;
  if (why !== null)
    throw new ClientError(
      'PROTOCOL_VIOLATION',
      `node ${party} sent a message that is not for this session (${why})`
    );
}
