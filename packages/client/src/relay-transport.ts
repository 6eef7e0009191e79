/**
 * Session steps through a relay room (docs/relay-participant.md): the client side of the
 * server's relay participant. On the first step the transport reads the server's relay identity
 * over its authenticated connection to the server, creates a room of two (a fresh identity of
 * its own for this session, and the server), attaches the session to it, and from then on sends
 * each step request as a sealed, signed relay envelope and waits for the reply envelope of the
 * same round. Start, abort and everything else stay on HTTPS.
 * @module
 */
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { RelayIdentityResponse, StepReplyResponse } from '@tessera/api';
import { RelayClient, type RelaySubscription } from '@tessera/api/relay';
import {
  fingerprint,
  newPartyIdentity,
  openRelayEnvelope,
  type PartyIdentity,
  type PartyPublic,
  sealRelayEnvelope,
} from '@tessera/core';
import { ClientError, ServerError } from './errors.ts';
import { type Http, isErrorBody, type StepTransport, statusOf } from './transport.ts';

/** The room protocol the server expects (its `SESSION_ROOM_PROTOCOL`). */
const ROOM_PROTOCOL = 'tessera-session/v1';
/** How long one step may take through the relay (an ECDSA key generation round is the longest). */
const STEP_TIMEOUT_MS = 120_000;

interface Attached {
  sessionId: string;
  client: RelayClient;
  sub: RelaySubscription;
  room: Uint8Array;
  roomHex: string;
  manifestHash: Uint8Array;
  server: PartyPublic;
  serverKey: string;
}

export class RelayStepTransport implements StepTransport {
  readonly #http: Http;
  readonly #fetch: typeof fetch | undefined;
  /** The session's own identity in the room: fresh per transport, never reused. */
  readonly #me: PartyIdentity = newPartyIdentity();
  #at: Attached | null = null;
  #round = 0;

  constructor(http: Http, opts: { fetch?: typeof fetch } = {}) {
    this.#http = http;
    this.#fetch = opts.fetch;
  }

  async #attach(sessionId: string): Promise<Attached> {
    if (this.#at?.sessionId === sessionId) return this.#at;
    this.close();
    const id = await this.#http.request<RelayIdentityResponse>('GET', '/v1/relay/identity');
    const server: PartyPublic = {
      publicKey: hexToBytes(id.publicKey),
      x25519: hexToBytes(id.x25519),
    };
    if (fingerprint(server) !== id.fingerprint)
      throw new ClientError(
        'PROTOCOL_VIOLATION',
        "the server's relay identity does not match its fingerprint"
      );
    const client = new RelayClient({
      url: id.relay,
      identity: this.#me,
      ...(this.#fetch ? { fetch: this.#fetch } : {}),
    });
    const roomHex = bytesToHex(randomBytes(16));
    const mine = {
      publicKey: bytesToHex(this.#me.public.publicKey),
      x25519: bytesToHex(this.#me.public.x25519),
    };
    let created: Awaited<ReturnType<RelayClient['createRoom']>>;
    try {
      created = await client.createRoom({
        v: 1,
        roomId: roomHex,
        protocol: ROOM_PROTOCOL,
        members: [
          { ...mine, role: 'client' },
          { publicKey: id.publicKey, x25519: id.x25519, role: 'server' },
        ],
        expiresAt: Date.now() + 30 * 60_000,
        maxBytes: 8 * 1024 * 1024,
      });
    } catch (e) {
      throw new ClientError(
        'TRANSPORT',
        `the relay ${id.relay} refused the room: ${(e as Error).message}`,
        { cause: e }
      );
    }
    const sub = client.subscribe(roomHex);
    await this.#http.request('POST', `/v1/sessions/${sessionId}/relay`, {
      roomId: roomHex,
      manifestHash: created.manifestHash,
      client: mine,
    });
    this.#round = 0;
    this.#at = {
      sessionId,
      client,
      sub,
      room: hexToBytes(roomHex),
      roomHex,
      manifestHash: hexToBytes(created.manifestHash),
      server,
      serverKey: id.publicKey,
    };
    return this.#at;
  }

  async step(sessionId: string, messages: string[]): Promise<StepReplyResponse> {
    const at = await this.#attach(sessionId);
    const round = ++this.#round;
    const sid = hexToBytes(sessionId);
    const wire = sealRelayEnvelope(this.#me, {
      roomId: at.room,
      manifestHash: at.manifestHash,
      sid,
      round,
      to: at.server,
      body: utf8ToBytes(JSON.stringify({ messages })),
    });
    await at.client.send(at.roomHex, at.serverKey, wire);
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new ClientError('TRANSPORT', 'no reply from the server through the relay in time');
      let m: Awaited<ReturnType<RelaySubscription['next']>>;
      try {
        m = await at.sub.next(left);
      } catch (e) {
        throw new ClientError(
          'TRANSPORT',
          `the relay subscription failed: ${(e as Error).message}`,
          { cause: e }
        );
      }
      if (m.from !== at.serverKey) continue;
      let body: Uint8Array;
      try {
        const opened = openRelayEnvelope(
          this.#me,
          {
            roomId: at.room,
            manifestHash: at.manifestHash,
            sid,
            from: at.server,
            expectedRound: round,
          },
          m.envelope
        );
        body = opened.body;
      } catch {
        // Not the server's reply to this step (forged, replayed, or an earlier round): dropped.
        continue;
      }
      let reply: unknown;
      try {
        reply = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch {
        throw new ClientError('PROTOCOL_VIOLATION', 'the server sent a reply that is not JSON');
      }
      if (isErrorBody(reply)) throw new ServerError(statusOf(reply.error.code), reply);
      return reply as StepReplyResponse;
    }
  }

  close(): void {
    const at = this.#at;
    this.#at = null;
    void at?.sub.close();
  }
}
