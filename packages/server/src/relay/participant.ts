/**
 * The co-signing server as a member of relay rooms (docs/relay-participant.md; seed 003's
 * server-side participant). A client that starts a session over HTTPS may carry its steps
 * through a relay room instead of `/step` or the WebSocket: it creates a room whose members are
 * its own identity for the session and this server's relay identity, and attaches the session
 * to it. From then on each step request travels as a sealed, signed relay envelope to the
 * server, and each step reply comes back the same way; the relay moves ciphertext only.
 *
 * Envelope body (both ways) is the JSON text of a step request (`{"messages", "relay"?}`) or of
 * the step reply (or an error body), exactly as over the WebSocket; the relay envelope's session
 * id is the session id, its round the client's step counter (the reply repeats it). The session
 * engine does the rest as for any transport: ownership, single use, idempotent resends.
 *
 * The server's relay identity (Ed25519 + X25519) is created at its first start with a relay
 * URL, kept in the store sealed like a share, and published at `GET /v1/relay/identity`: the
 * client reads it over its authenticated connection to the server.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { type AttachRelayRequest, type RelayIdentityResponse, StepBody } from '@tessera/api';
import { RelayClient, type RelaySubscription } from '@tessera/api/relay';
import {
  fingerprint,
  MessageRejected,
  openRelayEnvelope,
  type PartyIdentity,
  type PartyPublic,
  sealRelayEnvelope,
} from '@tessera/core';
import type { Logger } from 'pino';
import { Value } from 'typebox/value';
import type { Sealer } from '../custody.ts';
import { ApiError, toApiError } from '../errors.ts';
import type { SessionEngine } from '../sessions/engine.ts';
import type { Store } from '../store/store.ts';

/** The room protocol a client names in its manifest. */
export const SESSION_ROOM_PROTOCOL = 'tessera-session/v1';
const META = 'relay_identity';
const VERSION = 1;
/** Sessions carried through rooms at once by one instance. */
const MAX_ATTACHED = 512;

/** The server's relay identity from the store, created on first start. */
export async function openRelayIdentity(
  store: Pick<Store, 'getMeta' | 'putMetaIfAbsent'>,
  sealer: Sealer
): Promise<PartyIdentity> {
  let blob = await store.getMeta(META);
  if (!blob) {
    const secret = concatBytes(new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32)));
    const sealed = sealer.sealIdentity('relay', secret);
    secret.fill(0);
    blob = await store.putMetaIfAbsent(META, concatBytes(new Uint8Array([VERSION]), sealed));
  }
  if (blob[0] !== VERSION) throw new Error('the stored relay identity has an unknown version');
  const secret = sealer.openIdentity('relay', blob.subarray(1));
  const signingKey = secret.slice(0, 32);
  const x25519Secret = secret.slice(32, 64);
  secret.fill(0);
  return {
    public: {
      publicKey: ed25519.getPublicKey(signingKey),
      x25519: x25519.getPublicKey(x25519Secret),
    },
    signingKey,
    x25519Secret,
  };
}

interface Attached {
  roomId: string;
  stop(): void;
}

export class RelayParticipant {
  readonly url: string;
  readonly identity: PartyIdentity;
  readonly #client: RelayClient;
  readonly #engine: SessionEngine;
  readonly #log: Logger;
  readonly #idleMs: number;
  readonly #perMinute: number;
  readonly #attached = new Map<string, Attached>();

  constructor(o: {
    url: string;
    identity: PartyIdentity;
    engine: SessionEngine;
    log: Logger;
    idleMs: number;
    /** Envelopes a client may send per minute before its session is detached. */
    messagesPerMinute: number;
    fetch?: typeof fetch;
  }) {
    this.url = o.url;
    this.identity = o.identity;
    this.#engine = o.engine;
    this.#log = o.log;
    this.#idleMs = o.idleMs;
    this.#perMinute = o.messagesPerMinute;
    this.#client = new RelayClient({
      url: o.url,
      identity: o.identity,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
  }

  get public(): RelayIdentityResponse {
    return {
      relay: this.url,
      publicKey: bytesToHex(this.identity.public.publicKey),
      x25519: bytesToHex(this.identity.public.x25519),
      fingerprint: fingerprint(this.identity.public),
    };
  }

  /**
   * Takes the session's steps from the room from now on. The room must be open on the relay,
   * its manifest must hash to `manifestHash`, be signed by the client's key, name exactly the
   * client and this server, and the protocol `tessera-session/v1`. Idempotent for the same room.
   */
  async attach(subject: string, sessionId: string, a: AttachRelayRequest): Promise<void> {
    await this.#engine.assertSessionOwner(subject, sessionId);
    const prior = this.#attached.get(sessionId);
    if (prior) {
      if (prior.roomId === a.roomId) return;
      throw new ApiError('SESSION_BUSY', 'the session is attached to another room');
    }
    if (this.#attached.size >= MAX_ATTACHED)
      throw new ApiError('RATE_LIMITED', 'too many sessions run through the relay; retry shortly', {
        retryAfter: 1,
      });
    const me = bytesToHex(this.identity.public.publicKey);
    let manifest: Awaited<ReturnType<RelayClient['getRoom']>>['manifest'];
    try {
      ({ manifest } = await this.#client.getRoom(a.roomId, {
        manifestHash: a.manifestHash,
        creator: (m) =>
          m.members.some((x) => x.publicKey === a.client.publicKey) ? a.client.publicKey : null,
      }));
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'RELAY';
      throw new ApiError('RELAY_ROOM', `the relay room cannot be used (${code})`);
    }
    const members = manifest.members;
    const fits =
      manifest.protocol === SESSION_ROOM_PROTOCOL &&
      members.length === 2 &&
      members.some((m) => m.publicKey === a.client.publicKey && m.x25519 === a.client.x25519) &&
      members.some(
        (m) => m.publicKey === me && m.x25519 === bytesToHex(this.identity.public.x25519)
      );
    if (!fits)
      throw new ApiError(
        'RELAY_ROOM',
        `the room must be a ${SESSION_ROOM_PROTOCOL} room of exactly the client and this server`
      );
    // Another attach of this session may have finished while the room was fetched.
    const raced = this.#attached.get(sessionId);
    if (raced) {
      if (raced.roomId === a.roomId) return;
      throw new ApiError('SESSION_BUSY', 'the session is attached to another room');
    }
    const sub = this.#client.subscribe(a.roomId);
    let stopped = false;
    const stop = () => {
      stopped = true;
      void sub.close();
    };
    this.#attached.set(sessionId, { roomId: a.roomId, stop });
    const client: PartyPublic = {
      publicKey: hexToBytes(a.client.publicKey),
      x25519: hexToBytes(a.client.x25519),
    };
    void this.#pump(subject, sessionId, a, client, sub, () => stopped).finally(() => {
      this.#attached.delete(sessionId);
      void sub.close();
    });
  }

  /** Step requests in, step replies out, until the session ends or goes idle. */
  async #pump(
    subject: string,
    sessionId: string,
    a: AttachRelayRequest,
    client: PartyPublic,
    sub: RelaySubscription,
    stopped: () => boolean
  ): Promise<void> {
    const room = hexToBytes(a.roomId);
    const hash = hexToBytes(a.manifestHash);
    const sid = hexToBytes(sessionId);
    // After the session ended, a while longer: a client that lost the last reply resends it and
    // gets the same bytes from the engine.
    let idleMs = this.#idleMs;
    // The WebSocket's budget: envelopes the client sends (opened or not) per minute.
    let windowStart = Date.now();
    let count = 0;
    while (!stopped()) {
      let m: Awaited<ReturnType<RelaySubscription['next']>>;
      try {
        m = await sub.next(idleMs);
      } catch (e) {
        this.#log.info(
          { sessionId, reason: (e as { code?: string }).code },
          'relay session detached'
        );
        return;
      }
      if (m.from !== a.client.publicKey) continue;
      if (Date.now() - windowStart > 60_000) {
        windowStart = Date.now();
        count = 0;
      }
      if (++count > this.#perMinute) {
        this.#log.warn({ sessionId }, 'relay session detached: message budget exceeded');
        return;
      }
      let round: number;
      let body: Uint8Array;
      try {
        const opened = openRelayEnvelope(
          this.identity,
          { roomId: room, manifestHash: hash, sid, from: client },
          m.envelope
        );
        round = opened.round;
        body = opened.body;
      } catch (e) {
        // Forged or replayed by the relay (MessageRejected), or a seal that does not open.
        this.#log.warn(
          { sessionId, check: (e as { check?: string }).check ?? null },
          e instanceof MessageRejected ? 'relay envelope dropped' : 'relay envelope refused'
        );
        continue;
      }
      let reply: string;
      let done = false;
      try {
        let req: unknown;
        try {
          req = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
        } catch {
          throw new ApiError('SCHEMA', 'a step request must be JSON');
        }
        if (!Value.Check(StepBody, req))
          throw new ApiError('SCHEMA', 'invalid step request: { messages, relay? } expected');
        reply = await this.#engine.step(subject, sessionId, req.messages, req.relay ?? []);
        const status = (JSON.parse(reply) as { status?: string }).status;
        done = status === 'done' || status === 'aborted';
      } catch (e) {
        const err = toApiError(e);
        reply = JSON.stringify(err.toBody());
        done = [
          'SESSION_CLOSED',
          'SESSION_EXPIRED',
          'NOT_FOUND',
          'PROTOCOL_ABORT',
          'PROTOCOL_VIOLATION',
        ].includes(err.code);
      }
      try {
        const wire = sealRelayEnvelope(this.identity, {
          roomId: room,
          manifestHash: hash,
          sid,
          round,
          to: client,
          body: new TextEncoder().encode(reply),
        });
        await this.#client.send(a.roomId, a.client.publicKey, wire);
      } catch (e) {
        this.#log.warn(
          { sessionId, code: (e as { code?: string }).code ?? null },
          'relay reply not sent'
        );
        return;
      }
      if (done) idleMs = Math.min(idleMs, 30_000);
    }
  }

  /** Stops every pump (shutdown). */
  close(): void {
    for (const a of this.#attached.values()) a.stop();
  }
}
