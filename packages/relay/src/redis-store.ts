/**
 * The Redis room store: what several relay instances share. Every decision that must not race
 * (a room's creation, a sequence number, the queues and byte total, an ack's purge) is one Lua
 * script, and an accepted message is published to the room's channel inside the same script, so
 * every instance's subscribers see messages in sequence order and a message is stored before the
 * sender hears its `seq`. Room keys expire with the room (its `expiresAt`, or its idle timeout,
 * renewed by each call); nothing lingers after.
 *
 * Keys (prefix P, room R; the braces keep one room's keys in one cluster slot):
 * - `P r:{R}` hash: rec (JSON), hash, members (JSON), maxBytes, seq, bytes, expiresAt
 * - `P r:{R}:idx` member → party index; `P r:{R}:ack` member → acked seq;
 *   `P r:{R}:q` member → queued count; `P r:{R}:m` seq → event JSON;
 *   `P r:{R}:p` seq → "size|member,member" (who has not acked yet);
 *   `P r:{R}:cs` "from:clientSeq" → "seq|digest"
 * - `P id:PK` zset of the rooms PK created; `P kv:K` single-use and expiring values;
 *   `P rl:K` rate-limit windows; channel `P ev:R`.
 * @module
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type {
  AppendInput,
  AppendResult,
  CreateResult,
  RelayMessage,
  RoomLimits,
  RoomRecord,
  RoomStore,
} from './store.ts';
import { addressedTo } from './store.ts';

/** Renews the expiry of a room's keys: the earlier of its end and the idle deadline. */
const EXPIRE = `
local function expire_all(deadline)
  for i = 1, 7 do redis.call('PEXPIREAT', KEYS[i], deadline) end
end
local function deadline(now, idle)
  local ends = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
  return math.min(ends, now + idle)
end
`;

// KEYS: room idx ack q m p cs ident; ARGV: rec hash members maxBytes expiresAt creatorRooms? now idle maxOpen roomKeyPrefix roomId
const CREATE = `${EXPIRE}
local existing = redis.call('HGET', KEYS[1], 'hash')
if existing then
  if existing == ARGV[2] then return 'exists' else return 'conflict' end
end
local now = tonumber(ARGV[6])
local ids = redis.call('ZRANGE', KEYS[8], 0, -1)
local open = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[9] .. id .. '}') == 1 then open = open + 1
  else redis.call('ZREM', KEYS[8], id) end
end
if open >= tonumber(ARGV[8]) then return 'too-many' end
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'hash', ARGV[2], 'members', ARGV[3],
  'maxBytes', ARGV[4], 'expiresAt', ARGV[5], 'seq', 0, 'bytes', 0)
redis.call('ZADD', KEYS[8], ARGV[5], ARGV[10])
redis.call('PEXPIREAT', KEYS[8], ARGV[5])
expire_all(deadline(now, tonumber(ARGV[7])))
return 'created'
`;

// ARGV: now idle touch
const TOUCH = `${EXPIRE}
local rec = redis.call('HGET', KEYS[1], 'rec')
if not rec then return false end
if ARGV[3] == '1' then expire_all(deadline(tonumber(ARGV[1]), tonumber(ARGV[2]))) end
return rec
`;

const INDEX = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local i = redis.call('HGET', KEYS[2], ARGV[1])
if i then return tonumber(i) end
local n = redis.call('HLEN', KEYS[2]) + 1
redis.call('HSET', KEYS[2], ARGV[1], n)
redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1]))
return n
`;

// ARGV: from to('' = broadcast) clientSeq digest size now idle queueLimit eventTail channel
const APPEND = `${EXPIRE}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'ROOM_NOT_FOUND'} end
local csk = ARGV[1] .. ':' .. ARGV[3]
local prior = redis.call('HGET', KEYS[7], csk)
if prior then
  local sep = string.find(prior, '|', 1, true)
  if string.sub(prior, sep + 1) == ARGV[4] then return {'DUP', string.sub(prior, 1, sep - 1)} end
  return {'CONFLICT'}
end
local to = {}
if ARGV[2] == '' then
  for _, m in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'members'))) do
    if m ~= ARGV[1] then table.insert(to, m) end
  end
else
  to = {ARGV[2]}
end
local limit = tonumber(ARGV[8])
for _, m in ipairs(to) do
  if (tonumber(redis.call('HGET', KEYS[4], m)) or 0) >= limit then return {'QUEUE_FULL'} end
end
local size = tonumber(ARGV[5])
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes'))
if bytes + size > tonumber(redis.call('HGET', KEYS[1], 'maxBytes')) then return {'ROOM_FULL'} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[1], 'bytes', size)
for _, m in ipairs(to) do redis.call('HINCRBY', KEYS[4], m, 1) end
local ev = '{"seq":' .. seq .. ',' .. ARGV[9]
redis.call('HSET', KEYS[5], seq, ev)
redis.call('HSET', KEYS[6], seq, ARGV[5] .. '|' .. table.concat(to, ','))
redis.call('HSET', KEYS[7], csk, seq .. '|' .. ARGV[4])
expire_all(deadline(tonumber(ARGV[6]), tonumber(ARGV[7])))
redis.call('PUBLISH', ARGV[10], ev)
return {'OK', tostring(seq)}
`;

// ARGV: member upTo
const ACK = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local upTo = math.min(tonumber(ARGV[2]), last)
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or 0
if upTo <= old then return old end
redis.call('HSET', KEYS[3], ARGV[1], upTo)
redis.call('PEXPIREAT', KEYS[3], redis.call('PEXPIRETIME', KEYS[1]))
for s = old + 1, upTo do
  local p = redis.call('HGET', KEYS[6], s)
  if p then
    local sep = string.find(p, '|', 1, true)
    local size = tonumber(string.sub(p, 1, sep - 1))
    local rest = {}
    local found = false
    for m in string.gmatch(string.sub(p, sep + 1), '[^,]+') do
      if m == ARGV[1] then found = true else table.insert(rest, m) end
    end
    if found then
      redis.call('HINCRBY', KEYS[4], ARGV[1], -1)
      if #rest == 0 then
        redis.call('HDEL', KEYS[6], s)
        redis.call('HDEL', KEYS[5], s)
        redis.call('HINCRBY', KEYS[1], 'bytes', -size)
      else
        redis.call('HSET', KEYS[6], s, size .. '|' .. table.concat(rest, ','))
      end
    end
  end
end
return upTo
`;

const HIT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}
`;

export class RedisRoomStore implements RoomStore {
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #listeners = new Map<string, Set<(m: RelayMessage) => void>>();

  constructor(url: string, prefix: string, log: Logger) {
    this.#prefix = prefix;
    const options = { maxRetriesPerRequest: 2, connectTimeout: 2_000, commandTimeout: 2_000 };
    this.#client = new Redis(url, options);
    this.#subscriber = new Redis(url, { ...options, commandTimeout: undefined });
    let reported = false;
    const onError = (e: Error) => {
      if (!reported) log.warn({ err: e.message }, 'redis unreachable');
      reported = true;
    };
    this.#client.on('error', onError);
    this.#subscriber.on('error', onError);
    this.#client.on('ready', () => {
      reported = false;
    });
    this.#subscriber.on('message', (channel: string, payload: string) => {
      const fns = this.#listeners.get(channel);
      if (!fns) return;
      let m: RelayMessage;
      try {
        m = JSON.parse(payload) as RelayMessage;
      } catch {
        return;
      }
      for (const fn of fns) fn(m);
    });
  }

  #roomKeys(roomId: string): string[] {
    const r = `${this.#prefix}r:{${roomId}}`;
    return [r, `${r}:idx`, `${r}:ack`, `${r}:q`, `${r}:m`, `${r}:p`, `${r}:cs`];
  }

  async put(key: string, value: string, expiresAt: number): Promise<void> {
    await this.#client.set(`${this.#prefix}kv:${key}`, value, 'PXAT', expiresAt);
  }

  async get(key: string): Promise<string | null> {
    return this.#client.get(`${this.#prefix}kv:${key}`);
  }

  async take(key: string): Promise<string | null> {
    return this.#client.getdel(`${this.#prefix}kv:${key}`);
  }

  async hit(key: string, windowMs: number, now: number) {
    const [count, ttl] = (await this.#client.eval(
      HIT,
      1,
      `${this.#prefix}rl:${key}`,
      windowMs
    )) as [number, number];
    return { count, resetAt: now + Math.max(0, ttl) };
  }

  async createRoom(room: RoomRecord, limits: RoomLimits, now: number): Promise<CreateResult> {
    return (await this.#client.eval(
      CREATE,
      8,
      ...this.#roomKeys(room.roomId),
      `${this.#prefix}id:${room.creator}`,
      JSON.stringify(room),
      room.manifestHash,
      JSON.stringify(room.members),
      room.maxBytes,
      room.expiresAt,
      now,
      limits.idleMs,
      limits.roomsPerIdentity,
      `${this.#prefix}r:{`,
      room.roomId
    )) as CreateResult;
  }

  async touchRoom(roomId: string, limits: RoomLimits, now: number, touch = true) {
    const rec = (await this.#client.eval(
      TOUCH,
      7,
      ...this.#roomKeys(roomId),
      now,
      limits.idleMs,
      touch ? '1' : '0'
    )) as string | null;
    return rec === null ? null : (JSON.parse(rec) as RoomRecord);
  }

  async issueIndex(roomId: string, member: string): Promise<number> {
    return (await this.#client.eval(
      INDEX,
      2,
      ...this.#roomKeys(roomId).slice(0, 2),
      member
    )) as number;
  }

  async append(
    roomId: string,
    m: AppendInput,
    limits: RoomLimits,
    now: number
  ): Promise<AppendResult> {
    // The event's JSON after its seq: made here, so Lua never re-encodes numbers or strings.
    const tail = JSON.stringify({
      from: m.from,
      to: m.to,
      envelope: m.envelope,
      clientSeq: m.clientSeq,
    }).slice(1);
    const [status, seq] = (await this.#client.eval(
      APPEND,
      7,
      ...this.#roomKeys(roomId),
      m.from,
      m.to ?? '',
      m.clientSeq,
      m.digest,
      m.size,
      now,
      limits.idleMs,
      limits.queuePerRecipient,
      tail,
      `${this.#prefix}ev:${roomId}`
    )) as [string, string | undefined];
    if (status === 'OK' || status === 'DUP')
      return { seq: Number(seq), duplicate: status === 'DUP' };
    return { refused: status as 'ROOM_NOT_FOUND' | 'CONFLICT' | 'ROOM_FULL' | 'QUEUE_FULL' };
  }

  async readAfter(roomId: string, member: string, after: number | null): Promise<RelayMessage[]> {
    const [r, , ack, , m] = this.#roomKeys(roomId);
    const [[, acked], [, all]] = (await this.#client
      .multi()
      .hget(ack as string, member)
      .hgetall(m as string)
      .exec()) as [[unknown, string | null], [unknown, Record<string, string>]];
    void r;
    const from = after ?? Number(acked ?? 0);
    return Object.entries(all)
      .filter(([seq]) => Number(seq) > from)
      .map(([, ev]) => JSON.parse(ev) as RelayMessage)
      .filter((e) => addressedTo(e, member))
      .sort((a, b) => a.seq - b.seq);
  }

  async ack(roomId: string, member: string, upTo: number): Promise<void> {
    await this.#client.eval(ACK, 7, ...this.#roomKeys(roomId), member, upTo);
  }

  async invite(member: string, creator: string, roomId: string, expiresAt: number, max: number) {
    const key = `${this.#prefix}inv:${member}:${creator}`;
    // Scored by the order of creation (a counter would need a script; the clock is as good here).
    await this.#client
      .multi()
      .zadd(key, Date.now(), `${roomId}:${expiresAt}`)
      .zremrangebyrank(key, 0, -(max + 1))
      // The key lives as long as its longest-lived room (GT alone never sets a first expiry).
      .pexpireat(key, expiresAt, 'NX')
      .pexpireat(key, expiresAt, 'GT')
      .exec();
  }

  async invitations(member: string, creator: string, now: number): Promise<string[]> {
    const key = `${this.#prefix}inv:${member}:${creator}`;
    const out: string[] = [];
    for (const e of await this.#client.zrevrange(key, 0, -1)) {
      const [id, until] = e.split(':');
      if (Number(until) > now) out.push(id as string);
    }
    return out;
  }

  async subscribe(roomId: string, fn: (m: RelayMessage) => void): Promise<() => void> {
    const channel = `${this.#prefix}ev:${roomId}`;
    let fns = this.#listeners.get(channel);
    if (!fns) {
      fns = new Set();
      this.#listeners.set(channel, fns);
    }
    fns.add(fn);
    // Resolves once Redis confirmed the subscription: the caller reads its backlog after this.
    await this.#subscriber.subscribe(channel);
    return () => {
      const set = this.#listeners.get(channel);
      set?.delete(fn);
      if (set && set.size === 0) {
        this.#listeners.delete(channel);
        this.#subscriber.unsubscribe(channel).catch(() => {});
      }
    };
  }

  async ping(): Promise<boolean> {
    return (await this.#client.ping()) === 'PONG';
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#client.disconnect();
    this.#subscriber.disconnect();
  }
}
