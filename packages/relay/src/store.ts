/**
 * `RoomStore`: everything the relay keeps, behind one small interface, so several instances can
 * share it (Redis, redis-store.ts) or one instance can keep it in memory (`--dev` only). The
 * store decides atomically what must not race: a room's creation, its sequence numbers, the
 * per-recipient queues and byte total, single-use challenges and tickets, rate-limit windows.
 * @module
 */
import { EventEmitter } from 'node:events';

/** A room as created: its manifest (base64, as signed), who may use it, until when. */
export interface RoomRecord {
  roomId: string;
  manifest: string;
  signature: string;
  manifestHash: string;
  expiresAt: number;
  creator: string;
  /** The members' Ed25519 public keys (hex), in manifest order. */
  members: string[];
  /** What the room may hold unacknowledged, in decoded envelope bytes. */
  maxBytes: number;
}

/** One relayed message as every subscriber sees it. */
export interface RelayMessage {
  seq: number;
  from: string;
  /** The recipient's public key, or null for a broadcast (every member but the sender). */
  to: string | null;
  envelope: string;
  clientSeq: number;
}

export interface AppendInput {
  from: string;
  to: string | null;
  envelope: string;
  clientSeq: number;
  /** Digest of what makes a resend "the same body" (recipient and envelope). */
  digest: string;
  /** Decoded envelope bytes (the room's byte budget counts these). */
  size: number;
}

export type AppendResult =
  | { seq: number; duplicate: boolean }
  | { refused: 'ROOM_NOT_FOUND' | 'CONFLICT' | 'ROOM_FULL' | 'QUEUE_FULL' };

export type CreateResult = 'created' | 'exists' | 'conflict' | 'too-many';

export interface RoomLimits {
  /** A room with no call for this long is closed. */
  idleMs: number;
  queuePerRecipient: number;
  roomsPerIdentity: number;
}

export interface RoomStore {
  /** Stores `value` under `key` until `expiresAt`. */
  put(key: string, value: string, expiresAt: number): Promise<void>;
  /** The value under `key`, if not expired. */
  get(key: string, now: number): Promise<string | null>;
  /** The value under `key`, deleted in the same step: a second take gets null (single use). */
  take(key: string, now: number): Promise<string | null>;
  /** Counts one event in the fixed window of `key`: the count so far and when the window ends. */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;

  createRoom(room: RoomRecord, limits: RoomLimits, now: number): Promise<CreateResult>;
  /** The open room, or null; with `touch` (the default) a call on it: its idle clock restarts. */
  touchRoom(
    roomId: string,
    limits: RoomLimits,
    now: number,
    touch?: boolean
  ): Promise<RoomRecord | null>;
  /** The member's party index, 1..n in order of first request; the same on every call. */
  issueIndex(roomId: string, member: string): Promise<number>;
  append(roomId: string, m: AppendInput, limits: RoomLimits, now: number): Promise<AppendResult>;
  /** Stored messages addressed to `member` after `after` (null: after the member's ack). */
  readAfter(roomId: string, member: string, after: number | null): Promise<RelayMessage[]>;
  /** Acknowledges every message addressed to `member` up to `upTo` (capped at the room's last). */
  ack(roomId: string, member: string, upTo: number): Promise<void>;
  /**
   * Records that `creator` invited `member` to `roomId` (a room naming `member` was created),
   * kept until `expiresAt`; at most `max` per (member, creator), the oldest dropped first.
   */
  invite(
    member: string,
    creator: string,
    roomId: string,
    expiresAt: number,
    max: number
  ): Promise<void>;
  /** The rooms `creator` invited `member` to that have not expired, newest first. */
  invitations(member: string, creator: string, now: number): Promise<string[]>;
  /** Calls `fn` with each message accepted in the room from now on (by any instance). */
  subscribe(roomId: string, fn: (m: RelayMessage) => void): Promise<() => void>;
  /** Whether the store answers (health). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Who a message is for. */
export const addressedTo = (m: { from: string; to: string | null }, member: string): boolean =>
  m.to === null ? m.from !== member : m.to === member;

interface StoredMessage {
  message: RelayMessage;
  size: number;
  pending: Set<string>;
}

interface MemoryRoom {
  record: RoomRecord;
  lastActive: number;
  seq: number;
  bytes: number;
  indexes: Map<string, number>;
  messages: Map<number, StoredMessage>;
  clientSeqs: Map<string, { seq: number; digest: string }>;
  acks: Map<string, number>;
  queued: Map<string, number>;
}

/** One process's rooms (dev mode and tests): nothing survives a restart. */
export class MemoryRoomStore implements RoomStore {
  readonly #kv = new Map<string, { value: string; expiresAt: number }>();
  readonly #rooms = new Map<string, MemoryRoom>();
  readonly #events = new EventEmitter().setMaxListeners(0);
  /** `member creator` → roomId → expiresAt, in insertion order. */
  readonly #invites = new Map<string, Map<string, number>>();
  readonly #sweep: NodeJS.Timeout;

  constructor(opts: { now?: () => number } = {}) {
    const now = opts.now ?? Date.now;
    this.#sweep = setInterval(() => {
      const t = now();
      for (const [k, v] of this.#kv) if (v.expiresAt <= t) this.#kv.delete(k);
    }, 60_000).unref();
  }

  async put(key: string, value: string, expiresAt: number): Promise<void> {
    this.#kv.set(key, { value, expiresAt });
  }

  async get(key: string, now: number): Promise<string | null> {
    const e = this.#kv.get(key);
    if (!e) return null;
    if (e.expiresAt <= now) {
      this.#kv.delete(key);
      return null;
    }
    return e.value;
  }

  async take(key: string, now: number): Promise<string | null> {
    const v = await this.get(key, now);
    this.#kv.delete(key);
    return v;
  }

  async hit(key: string, windowMs: number, now: number) {
    const k = `rl:${key}`;
    const e = this.#kv.get(k);
    if (!e || e.expiresAt <= now) {
      this.#kv.set(k, { value: '1', expiresAt: now + windowMs });
      return { count: 1, resetAt: now + windowMs };
    }
    e.value = String(Number(e.value) + 1);
    return { count: Number(e.value), resetAt: e.expiresAt };
  }

  #open(roomId: string, limits: RoomLimits, now: number): MemoryRoom | null {
    const r = this.#rooms.get(roomId);
    if (!r) return null;
    if (now >= r.record.expiresAt || now - r.lastActive >= limits.idleMs) {
      this.#rooms.delete(roomId);
      return null;
    }
    return r;
  }

  async createRoom(room: RoomRecord, limits: RoomLimits, now: number): Promise<CreateResult> {
    const existing = this.#open(room.roomId, limits, now);
    if (existing) return existing.record.manifestHash === room.manifestHash ? 'exists' : 'conflict';
    let open = 0;
    for (const [id, r] of this.#rooms)
      if (r.record.creator === room.creator && this.#open(id, limits, now)) open++;
    if (open >= limits.roomsPerIdentity) return 'too-many';
    this.#rooms.set(room.roomId, {
      record: room,
      lastActive: now,
      seq: 0,
      bytes: 0,
      indexes: new Map(),
      messages: new Map(),
      clientSeqs: new Map(),
      acks: new Map(),
      queued: new Map(),
    });
    return 'created';
  }

  async touchRoom(roomId: string, limits: RoomLimits, now: number, touch = true) {
    const r = this.#open(roomId, limits, now);
    if (!r) return null;
    if (touch) r.lastActive = now;
    return r.record;
  }

  async issueIndex(roomId: string, member: string): Promise<number> {
    const r = this.#rooms.get(roomId);
    if (!r) return 0;
    let i = r.indexes.get(member);
    if (i === undefined) {
      i = r.indexes.size + 1;
      r.indexes.set(member, i);
    }
    return i;
  }

  async append(roomId: string, m: AppendInput, limits: RoomLimits, now: number) {
    const r = this.#open(roomId, limits, now);
    if (!r) return { refused: 'ROOM_NOT_FOUND' as const };
    const key = `${m.from}:${m.clientSeq}`;
    const prior = r.clientSeqs.get(key);
    if (prior)
      return prior.digest === m.digest
        ? { seq: prior.seq, duplicate: true }
        : { refused: 'CONFLICT' as const };
    const to = m.to === null ? r.record.members.filter((p) => p !== m.from) : [m.to];
    if (to.some((p) => (r.queued.get(p) ?? 0) >= limits.queuePerRecipient))
      return { refused: 'QUEUE_FULL' as const };
    if (r.bytes + m.size > r.record.maxBytes) return { refused: 'ROOM_FULL' as const };
    const seq = ++r.seq;
    r.bytes += m.size;
    for (const p of to) r.queued.set(p, (r.queued.get(p) ?? 0) + 1);
    const message: RelayMessage = {
      seq,
      from: m.from,
      to: m.to,
      envelope: m.envelope,
      clientSeq: m.clientSeq,
    };
    r.messages.set(seq, { message, size: m.size, pending: new Set(to) });
    r.clientSeqs.set(key, { seq, digest: m.digest });
    r.lastActive = now;
    this.#events.emit(roomId, message);
    return { seq, duplicate: false };
  }

  async readAfter(roomId: string, member: string, after: number | null): Promise<RelayMessage[]> {
    const r = this.#rooms.get(roomId);
    if (!r) return [];
    const from = after ?? r.acks.get(member) ?? 0;
    return [...r.messages.values()]
      .filter((s) => s.message.seq > from && addressedTo(s.message, member))
      .map((s) => s.message)
      .sort((a, b) => a.seq - b.seq);
  }

  async ack(roomId: string, member: string, upTo: number): Promise<void> {
    const r = this.#rooms.get(roomId);
    if (!r) return;
    const old = r.acks.get(member) ?? 0;
    const to = Math.min(upTo, r.seq);
    if (to <= old) return;
    r.acks.set(member, to);
    for (const [seq, s] of r.messages) {
      if (seq <= old || seq > to || !s.pending.delete(member)) continue;
      r.queued.set(member, (r.queued.get(member) ?? 1) - 1);
      if (s.pending.size === 0) {
        r.messages.delete(seq);
        r.bytes -= s.size;
      }
    }
  }

  async invite(member: string, creator: string, roomId: string, expiresAt: number, max: number) {
    const k = `${member} ${creator}`;
    const m = this.#invites.get(k) ?? new Map<string, number>();
    this.#invites.set(k, m);
    m.set(roomId, expiresAt);
    for (const id of m.keys()) {
      if (m.size <= max) break;
      m.delete(id);
    }
  }

  async invitations(member: string, creator: string, now: number): Promise<string[]> {
    const k = `${member} ${creator}`;
    const m = this.#invites.get(k);
    if (!m) return [];
    for (const [id, until] of m) if (until <= now) m.delete(id);
    if (m.size === 0) this.#invites.delete(k);
    return [...m.keys()].reverse();
  }

  async subscribe(roomId: string, fn: (m: RelayMessage) => void): Promise<() => void> {
    this.#events.on(roomId, fn);
    return () => this.#events.off(roomId, fn);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#events.removeAllListeners();
  }
}
