/**
 * Rooms as the relay runs them: creation from a signed manifest, the membership check of every
 * room call, and accepting a message (size, idempotency by clientSeq, quotas). The envelope is
 * opaque: it is counted and stored, never decoded beyond base64.
 * @module
 */
import { createHash } from 'node:crypto';
import type { RelayLimits } from './config.ts';
import { RelayError } from './errors.ts';
import { manifestHash, manifestMessage, parseManifest, verifyEd25519 } from './manifest.ts';
import type { Metrics } from './metrics.ts';
import type { RelayMessage, RoomLimits, RoomRecord, RoomStore } from './store.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The decoded size of canonical base64, or SCHEMA. */
export function base64Size(s: string): number {
  if (s.length % 4 !== 0 || !BASE64.test(s))
    throw new RelayError('SCHEMA', 'envelope must be padded standard base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** Invitations kept per (member, creator): more than a creator's open rooms can be. */
export const INVITES_PER_CREATOR = 16;

export class Rooms {
  readonly #store: RoomStore;
  readonly #limits: RelayLimits;
  readonly #now: () => number;
  readonly #metrics: Metrics;

  constructor(store: RoomStore, limits: RelayLimits, now: () => number, metrics: Metrics) {
    this.#store = store;
    this.#limits = limits;
    this.#now = now;
    this.#metrics = metrics;
  }

  get roomLimits(): RoomLimits {
    return {
      idleMs: this.#limits.roomIdleMs,
      queuePerRecipient: this.#limits.queuePerRecipient,
      roomsPerIdentity: this.#limits.roomsPerIdentity,
    };
  }

  async create(
    creator: string,
    body: { manifest: string; signature: string }
  ): Promise<{ roomId: string; manifestHash: string; expiresAt: number }> {
    const now = this.#now();
    const size = base64Size(body.manifest);
    if (size > 32 * 1024) throw new RelayError('BAD_MANIFEST', 'bad manifest: over 32 KiB');
    const bytes = new Uint8Array(Buffer.from(body.manifest, 'base64'));
    const m = parseManifest(bytes, this.#limits.members);
    if (!verifyEd25519(body.signature, manifestMessage(bytes), creator))
      throw new RelayError(
        'BAD_MANIFEST',
        "bad manifest: the signature is not the logged-in identity's"
      );
    if (!m.members.some((x) => x.publicKey === creator))
      throw new RelayError('BAD_MANIFEST', 'bad manifest: the creator must be a member');
    if (m.expiresAt <= now || m.expiresAt > now + this.#limits.maxRoomTtlMs)
      throw new RelayError(
        'BAD_MANIFEST',
        `bad manifest: expiresAt must be in the future, at most ${this.#limits.maxRoomTtlMs / 60_000} min ahead`
      );
    if (m.maxBytes > this.#limits.roomBytes)
      throw new RelayError(
        'BAD_MANIFEST',
        `bad manifest: maxBytes is at most ${this.#limits.roomBytes}`
      );
    const hash = manifestHash(bytes);
    const rate = await this.#store.hit(`create:${creator}`, 60_000, now);
    if (rate.count > this.#limits.roomCreationsPerMinute)
      throw new RelayError('RATE_LIMITED', 'too many room creations by this identity', {
        retryAfter: Math.max(1, Math.ceil((rate.resetAt - now) / 1000)),
      });
    const record: RoomRecord = {
      roomId: m.roomId,
      manifest: body.manifest,
      signature: body.signature,
      manifestHash: hash,
      expiresAt: m.expiresAt,
      creator,
      members: m.members.map((x) => x.publicKey),
      maxBytes: m.maxBytes,
    };
    const r = await this.#store.createRoom(record, this.roomLimits, now);
    if (r === 'conflict')
      throw new RelayError('CONFLICT', 'another manifest already holds this room id');
    if (r === 'too-many')
      throw new RelayError(
        'TOO_MANY_ROOMS',
        `an identity has at most ${this.#limits.roomsPerIdentity} open rooms`
      );
    if (r === 'created') {
      this.#metrics.rooms.inc();
      for (const x of record.members)
        if (x !== creator)
          await this.#store.invite(x, creator, m.roomId, m.expiresAt, INVITES_PER_CREATOR);
    }
    return { roomId: m.roomId, manifestHash: hash, expiresAt: m.expiresAt };
  }

  /** The open room if `who` is a member (a call on it), else ROOM_NOT_FOUND or NOT_A_MEMBER. */
  async member(roomId: string, who: string): Promise<RoomRecord> {
    const room = await this.#store.touchRoom(roomId, this.roomLimits, this.#now());
    if (!room) throw new RelayError('ROOM_NOT_FOUND', 'no such room (or it expired)');
    if (!room.members.includes(who))
      throw new RelayError('NOT_A_MEMBER', 'the caller is not a member of this room');
    return room;
  }

  async send(
    room: RoomRecord,
    from: string,
    m: { to: string | null; clientSeq: number; envelope: string }
  ): Promise<{ seq: number }> {
    const size = base64Size(m.envelope);
    if (size > this.#limits.messageBytes)
      throw new RelayError(
        'MESSAGE_TOO_LARGE',
        `an envelope is at most ${this.#limits.messageBytes} bytes`
      );
    if (m.to !== null && (m.to === from || !room.members.includes(m.to)))
      throw new RelayError('SCHEMA', 'the recipient must be another member of the room');
    const digest = createHash('sha256')
      .update(`${m.to ?? '*'}\n${m.envelope}`)
      .digest('hex');
    const r = await this.#store.append(
      room.roomId,
      { from, to: m.to, envelope: m.envelope, clientSeq: m.clientSeq, digest, size },
      this.roomLimits,
      this.#now()
    );
    if ('refused' in r) throw refusal(r.refused, this.#limits);
    if (!r.duplicate) {
      this.#metrics.messages.inc({ kind: m.to === null ? 'broadcast' : 'direct' });
      this.#metrics.messageBytes.inc(size);
    }
    return { seq: r.seq };
  }

  issueIndex(roomId: string, who: string): Promise<number> {
    return this.#store.issueIndex(roomId, who);
  }

  ack(roomId: string, who: string, upTo: number): Promise<void> {
    return this.#store.ack(roomId, who, upTo);
  }

  readAfter(roomId: string, who: string, after: number | null): Promise<RelayMessage[]> {
    return this.#store.readAfter(roomId, who, after);
  }

  subscribe(roomId: string, fn: (m: RelayMessage) => void): Promise<() => void> {
    return this.#store.subscribe(roomId, fn);
  }

  /**
   * The open rooms `creators` created with `who` as a member, newest first, at most
   * `INVITES_PER_CREATOR` per creator: how a device learns of a request from a peer it paired
   * with. Asking by creator keeps others' rooms from crowding out those of the peers it knows.
   */
  async invitations(who: string, creators: readonly string[]): Promise<RoomRecord[]> {
    const out: RoomRecord[] = [];
    const now = this.#now();
    for (const c of new Set(creators))
      for (const id of await this.#store.invitations(who, c, now)) {
        const room = await this.#store.touchRoom(id, this.roomLimits, now, false);
        if (room && room.creator === c && room.members.includes(who)) out.push(room);
      }
    return out;
  }

  /** Whether the room is still open, without counting as a call. */
  async isOpen(roomId: string): Promise<boolean> {
    return (await this.#store.touchRoom(roomId, this.roomLimits, this.#now(), false)) !== null;
  }
}

function refusal(code: 'ROOM_NOT_FOUND' | 'CONFLICT' | 'ROOM_FULL' | 'QUEUE_FULL', l: RelayLimits) {
  switch (code) {
    case 'ROOM_NOT_FOUND':
      return new RelayError('ROOM_NOT_FOUND', 'no such room (or it expired)');
    case 'CONFLICT':
      return new RelayError('CONFLICT', 'this clientSeq was used for another message');
    case 'ROOM_FULL':
      return new RelayError(
        'ROOM_FULL',
        "the room holds its manifest's maxBytes until members ack"
      );
    case 'QUEUE_FULL':
      return new RelayError(
        'QUEUE_FULL',
        `a recipient has ${l.queuePerRecipient} unacknowledged messages queued`
      );
  }
}
