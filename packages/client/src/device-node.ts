/**
 * Device-to-device key generation and signing (docs/devices.md): two paired devices run core's
 * protocols with no server, each message a sealed, signed relay envelope
 * (docs/protocols/relay.md) in a room of the two.
 *
 * One operation is one room, created by the requesting device with both pinned identities as its
 * members; the other device finds it among its invitations (`serve`). Round 0 of the room's
 * envelopes carries the operation's control messages (JSON): `request`, then `accept` or `deny`,
 * and at the end `done`, or `abort` at any time. Rounds 1.. carry the core protocol's envelopes,
 * whose round must equal the relay envelope's (both signed by the sender). The room id is the
 * request id and the relay envelopes' session id: fresh per operation (the requester draws it
 * and signs it in the manifest), so nothing from one operation opens in another, and a room
 * the relay replays is refused by the serving device's ledger.
 *
 * What must outlive a crash is kept in the device's share store (`<home>/keys`, `ledger/`,
 * `guard/`): the shares, every single-use id the protocols used (request ids, nonces,
 * presignatures), and the ECDSA pending-check markers and bans, each durable before anything
 * that depends on it goes out.
 * @module
 */
import { bytesToHex, hexToBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  checkedSignature,
  type SignPayload,
  type SignResultBody,
  signingInput,
} from '@tessera/api';
import {
  RelayClient,
  type RelayError,
  type RelaySubscription,
  type RelayWebSocketFactory,
} from '@tessera/api/relay';
import {
  decodeEnvelope,
  discardSession,
  dkg,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  frostSign,
  KeyShare,
  MessageRejected,
  type NonceLedger,
  openRelayEnvelope,
  type PairGuard,
  type PartyId,
  type PartyPublic,
  ProtocolAbort,
  pairGuardKey,
  type Scheme,
  type Session,
  type Step,
  sealRelayEnvelope,
  TesseraError,
} from '@tessera/core';
import {
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  type PeerRecord,
} from './device-types.ts';
import { Emitter } from './emitter.ts';
import { ClientError } from './errors.ts';
import { guarded, RunGuard } from './guard.ts';
import type { ShareStore, StoredKey } from './store.ts';

/** The room protocol of device operations. */
export const DEVICE_PROTOCOL = 'tessera-device/v1';
const CONTROL = 0;
/** The requester is party 1 of a key it generates, the other device party 2. */
const REQUESTER = 1;
const RESPONDER = 2;
const MAX_PURPOSE = 200;
/** Rooms a serving device handles at once. */
const SERVE_CONCURRENCY = 8;
/** How long a serving device waits for the request in a room it found (sent at creation). */
const REQUEST_WAIT_MS = 30_000;
const MAX_LABEL = 64;

/** What each round does, as the CLI shows it ("Round 1: generate nonce"). */
const ROUND_LABELS: Record<'keygen' | 'sign-ecdsa' | 'sign-frost', readonly string[]> = {
  keygen: [
    'commit to a random polynomial',
    'deal shares and prove them',
    'check shares; set up the pairwise channel',
    'confirm the key',
  ],
  'sign-ecdsa': ['generate nonce', 'multiply shares (presignature)', 'combine partial signatures'],
  'sign-frost': ['generate nonce', 'partial signatures and aggregate'],
};

export type DeviceOperation = 'keygen' | 'sign';

/** One round begun, or the wait for the other device's approval (`round: 0`). */
export interface DeviceProgress {
  op: DeviceOperation;
  round: number;
  totalRounds: number;
  label: string;
}

/** A request from a paired device, as the user is asked to approve it. */
export interface DeviceRequest {
  /** The request id (hex), fresh per request. */
  id: string;
  op: DeviceOperation;
  scheme: Scheme;
  /** The requesting device, as pinned when the two paired. */
  from: { name: string; fingerprint: string };
  /** keygen: the label the requester gave the key. */
  label?: string;
  /** sign: the key. */
  keyId?: string;
  /** sign: what will be signed (hex): the 32-byte digest for ECDSA, the message otherwise. */
  signing?: string;
  /** sign: the requester's stated purpose (untrusted text, shown as such). */
  purpose?: string;
}

export interface DeviceKey {
  keyId: string;
  scheme: Scheme;
  publicKey: string;
}

export interface DeviceSignature extends SignResultBody {
  keyId: string;
}

export interface DeviceNodeOptions {
  home: DeviceHomeStore;
  /** The device's share store (a `FileShareStore` in its home). */
  store: ShareStore;
  /**
   * The relay's base URL; or, per peer, a function that finds where to meet it (on a LAN: the
   * peer's own listener, found by mDNS). `serve` needs a URL.
   */
  relay: string | ((peer: PeerRecord) => Promise<string>);
  fetch?: typeof fetch;
  /** Receive over the relay's WebSocket instead of SSE (the LAN mode uses `relayWebSocket`). */
  webSocket?: RelayWebSocketFactory;
}

type Control =
  | {
      t: 'request';
      op: 'keygen';
      scheme: Scheme;
      label: string;
      sid0: string;
    }
  | {
      t: 'request';
      op: 'sign';
      scheme: Scheme;
      keyId: string;
      epoch: string;
      payload: SignPayload;
      purpose: string;
      rid: string;
    }
  | { t: 'accept' }
  | { t: 'deny'; code: string; message: string }
  | { t: 'done'; keyId: string; publicKey: string; signature?: string }
  | { t: 'abort'; code: string };

/** What a core call of the run gets besides its session and envelope. */
interface RunOptions {
  sender: PartyId;
  ledger: NonceLedger;
  pairGuard: PairGuard;
}

type Request = Extract<Control, { t: 'request' }>;

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);
const isScheme = (x: unknown): x is Scheme => x === 'ecdsa' || x === 'ed25519' || x === 'bip340';
const CODE = /^[A-Z][A-Z0-9_]{0,39}$/;
const hasControl = (s: string) =>
  [...s].some((ch) => {
    const c = ch.codePointAt(0) as number;
    return c < 0x20 || (c >= 0x7f && c < 0xa0);
  });

/** Parses a control message strictly; null for anything else (the sender is at fault). */
function parseControl(body: Uint8Array): Control | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const keys = Object.keys(o).sort().join(',');
  const text = (x: unknown, max: number) =>
    typeof x === 'string' && utf8ToBytes(x).length <= max && !hasControl(x);
  switch (o.t) {
    case 'request':
      if (o.op === 'keygen') {
        if (keys !== 'label,op,scheme,sid0,t') return null;
        if (!isScheme(o.scheme) || !text(o.label, MAX_LABEL)) return null;
        if (typeof o.sid0 !== 'string' || !HEX(64).test(o.sid0)) return null;
        return o as Control;
      }
      if (o.op === 'sign') {
        if (keys !== 'epoch,keyId,op,payload,purpose,rid,scheme,t') return null;
        if (!isScheme(o.scheme) || !text(o.purpose, MAX_PURPOSE)) return null;
        if (![o.keyId, o.epoch, o.rid].every((x) => typeof x === 'string' && HEX(64).test(x)))
          return null;
        const p = o.payload as Record<string, unknown> | null;
        if (typeof p !== 'object' || p === null) return null;
        const pk = Object.keys(p).sort().join(',');
        const okPayload =
          (p.kind === 'digest' &&
            pk === 'digest,kind' &&
            typeof p.digest === 'string' &&
            HEX(64).test(p.digest)) ||
          (p.kind === 'message' &&
            (pk === 'kind,message' || pk === 'hash,kind,message') &&
            typeof p.message === 'string' &&
            /^(?:[0-9a-f]{2}){0,65536}$/.test(p.message) &&
            (p.hash === undefined || p.hash === 'sha256' || p.hash === 'keccak256'));
        return okPayload ? (o as Control) : null;
      }
      return null;
    case 'accept':
      return keys === 't' ? { t: 'accept' } : null;
    case 'deny':
      return keys === 'code,message,t' &&
        typeof o.code === 'string' &&
        CODE.test(o.code) &&
        text(o.message, 300)
        ? (o as Control)
        : null;
    case 'done':
      if (keys !== 'keyId,publicKey,t' && keys !== 'keyId,publicKey,signature,t') return null;
      return typeof o.keyId === 'string' &&
        HEX(64).test(o.keyId) &&
        typeof o.publicKey === 'string' &&
        /^[0-9a-f]{64,66}$/.test(o.publicKey) &&
        (o.signature === undefined ||
          (typeof o.signature === 'string' && /^[0-9a-f]{128}$/.test(o.signature)))
        ? (o as Control)
        : null;
    case 'abort':
      return keys === 'code,t' && typeof o.code === 'string' && CODE.test(o.code)
        ? (o as Control)
        : null;
    default:
      return null;
  }
}

const peerPublic = (p: PeerRecord): PartyPublic => ({
  publicKey: hexToBytes(p.publicKey),
  x25519: hexToBytes(p.x25519),
});

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((r) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      r();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * The two devices' side of one operation: a room, the peer's pinned keys, the request id as the
 * envelopes' session id. `next` opens only envelopes the peer signed for this room and request.
 */
class Channel {
  readonly #client: RelayClient;
  readonly #sub: RelaySubscription;
  readonly #me: DeviceInfo;
  readonly #peer: PartyPublic;
  readonly #peerKey: string;
  readonly #peerParty: PartyId;
  readonly #room: string;
  readonly #roomId: Uint8Array;
  readonly #manifestHash: Uint8Array;
  readonly #sid: Uint8Array;

  constructor(o: {
    client: RelayClient;
    me: DeviceInfo;
    peer: PeerRecord;
    peerParty: PartyId;
    room: string;
    manifestHash: string;
  }) {
    this.#client = o.client;
    this.#me = o.me;
    this.#peer = peerPublic(o.peer);
    this.#peerKey = o.peer.publicKey;
    this.#peerParty = o.peerParty;
    this.#room = o.room;
    this.#roomId = hexToBytes(o.room);
    this.#manifestHash = hexToBytes(o.manifestHash);
    // The room is the operation: fresh per request, named in the signed manifest.
    this.#sid = this.#roomId;
    this.#sub = o.client.subscribe(o.room);
  }

  async #send(round: number, body: Uint8Array): Promise<void> {
    const wire = sealRelayEnvelope(this.#me.identity, {
      roomId: this.#roomId,
      manifestHash: this.#manifestHash,
      sid: this.#sid,
      round,
      to: this.#peer,
      body,
    });
    await this.#client.send(this.#room, this.#peerKey, wire);
  }

  sendControl(c: Control): Promise<void> {
    return this.#send(CONTROL, utf8ToBytes(JSON.stringify(c)));
  }

  async sendCore(envs: readonly Envelope[]): Promise<void> {
    for (const e of envs) await this.#send(e.round, encodeEnvelope(e));
  }

  /** Best effort: tells the peer this device stopped (it stops waiting at once). */
  async abort(code: string): Promise<void> {
    await this.sendControl({ t: 'abort', code: CODE.test(code) ? code : 'ABORTED' }).catch(
      () => {}
    );
  }

  /**
   * The next message the peer signed for this operation: a control message or a core envelope.
   * Envelopes that do not check (forged or replayed by the relay) are dropped; a signed one that
   * does not parse, or whose core round differs from its signed round, is the peer's doing.
   */
  async next(deadline: number): Promise<Control | Envelope> {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new DeviceError('PEER_TIMEOUT', 'the other device did not answer in time');
      let m: Awaited<ReturnType<RelaySubscription['next']>>;
      try {
        m = await this.#sub.next(left);
      } catch (e) {
        if ((e as RelayError).code === 'TIMEOUT')
          throw new DeviceError('PEER_TIMEOUT', 'the other device did not answer in time');
        throw e;
      }
      if (m.from !== this.#peerKey) continue;
      let opened: ReturnType<typeof openRelayEnvelope>;
      try {
        opened = openRelayEnvelope(
          this.#me.identity,
          {
            roomId: this.#roomId,
            manifestHash: this.#manifestHash,
            sid: this.#sid,
            from: this.#peer,
            fromParty: this.#peerParty,
          },
          m.envelope
        );
      } catch (e) {
        if (e instanceof MessageRejected) continue;
        throw e;
      }
      const bad = (check: 'MalformedMessage' | 'WrongRound', why: string) =>
        new ProtocolAbort(check, this.#peerParty, `the other device sent ${why}`);
      if (opened.round === CONTROL) {
        const c = parseControl(opened.body);
        if (c === null) throw bad('MalformedMessage', 'a malformed control message');
        return c;
      }
      let env: Envelope;
      try {
        env = decodeEnvelope(opened.body);
      } catch {
        throw bad('MalformedMessage', 'a malformed protocol envelope');
      }
      if (env.round !== opened.round)
        throw bad('WrongRound', 'a protocol envelope under another round than it signed');
      return env;
    }
  }

  /** The next control message; a core envelope here is out of place. */
  async control(deadline: number): Promise<Control> {
    const c = await this.next(deadline);
    if (!('t' in c))
      throw new ProtocolAbort('UnexpectedKind', this.#peerParty, 'a protocol message came early');
    if (c.t === 'abort')
      throw new DeviceError('PEER_ABORTED', `the other device stopped (${c.code})`);
    return c;
  }

  async close(): Promise<void> {
    await this.#sub.close();
  }
}

/** How a request ends on the serving side, for the `served` event. */
export interface ServedRequest {
  request: DeviceRequest;
  outcome: 'done' | 'denied' | 'failed';
  code?: string;
  message?: string;
}

/** What a `DeviceNode` emits. */
export interface DeviceNodeEvents extends Record<string, unknown> {
  progress: DeviceProgress;
  request: DeviceRequest;
  served: ServedRequest;
}

/**
 * A device's protocol runner: `keygen` and `sign` as the requesting device, `serve` to answer
 * its paired peers. Events: `progress` (`DeviceProgress`), `request` (`DeviceRequest`, before
 * the approval is asked), `served` (`ServedRequest`).
 */
export class DeviceNode extends Emitter<DeviceNodeEvents> {
  readonly home: DeviceHomeStore;
  readonly device: DeviceInfo;
  readonly #store: ShareStore;
  readonly #relay: DeviceNodeOptions['relay'];
  readonly #fetch: typeof fetch | undefined;
  readonly #webSocket: RelayWebSocketFactory | undefined;
  readonly #clients = new Map<string, RelayClient>();

  /**
   * `device`: the home's device, when its `load()` is asynchronous (use `DeviceNode.open`);
   * otherwise it is loaded here.
   */
  constructor(o: DeviceNodeOptions, device?: DeviceInfo) {
    super();
    this.home = o.home;
    const loaded = device ?? o.home.load();
    if (loaded instanceof Promise) {
      loaded.catch(() => {});
      throw new DeviceError('NO_DEVICE', 'this home loads asynchronously: use DeviceNode.open');
    }
    this.device = loaded;
    this.#store = o.store;
    this.#relay = o.relay;
    this.#fetch = o.fetch;
    this.#webSocket = o.webSocket;
  }

  /** A node over any home, its device loaded first. */
  static async open(o: DeviceNodeOptions): Promise<DeviceNode> {
    return new DeviceNode(o, await o.home.load());
  }

  /** The relay client for `url` (one per relay, so a login is reused). */
  #clientAt(url: string): RelayClient {
    let c = this.#clients.get(url);
    if (!c) {
      c = new RelayClient({
        url,
        identity: this.device.identity,
        ...(this.#fetch ? { fetch: this.#fetch } : {}),
        ...(this.#webSocket ? { webSocket: this.#webSocket } : {}),
      });
      this.#clients.set(url, c);
    }
    return c;
  }

  /** Where to meet `peer`: the relay, or what the resolver finds (the peer on the LAN). */
  async #clientFor(peer: PeerRecord): Promise<RelayClient> {
    return this.#clientAt(typeof this.#relay === 'string' ? this.#relay : await this.#relay(peer));
  }

  #progress(op: DeviceOperation, kind: keyof typeof ROUND_LABELS, round: number) {
    const labels = ROUND_LABELS[kind];
    const p: DeviceProgress = {
      op,
      round,
      totalRounds: labels.length,
      label: round === 0 ? 'waiting for the other device to approve' : (labels[round - 1] ?? ''),
    };
    this.emit('progress', p);
  }

  /** Creates the operation's room with the peer, and the channel over it. */
  async #openRoom(peer: PeerRecord, ttlMs: number): Promise<Channel> {
    const room = bytesToHex(randomBytes(16));
    const me = this.device;
    const client = await this.#clientFor(peer);
    const created = await client.createRoom({
      v: 1,
      roomId: room,
      protocol: DEVICE_PROTOCOL,
      members: [
        {
          publicKey: bytesToHex(me.identity.public.publicKey),
          x25519: bytesToHex(me.identity.public.x25519),
          role: 'requester',
        },
        { publicKey: peer.publicKey, x25519: peer.x25519, role: 'responder' },
      ],
      expiresAt: Date.now() + Math.min(3_600_000, ttlMs + 60_000),
      maxBytes: 8 * 1024 * 1024,
    });
    return new Channel({
      client,
      me,
      peer,
      peerParty: RESPONDER,
      room,
      manifestHash: created.manifestHash,
    });
  }

  /** Sends the request and waits for the peer's decision. */
  async #request(ch: Channel, req: Request, deadline: number) {
    await ch.sendControl(req);
    this.#progress(
      req.op,
      req.op === 'keygen' ? 'keygen' : req.scheme === 'ecdsa' ? 'sign-ecdsa' : 'sign-frost',
      0
    );
    const c = await ch.control(deadline);
    if (c.t === 'deny')
      throw new DeviceError('REQUEST_DENIED', `the other device denied: ${c.message} (${c.code})`);
    if (c.t !== 'accept')
      throw new ProtocolAbort('UnexpectedKind', RESPONDER, 'the other device answered out of turn');
  }

  /**
   * Generates a 2-of-2 key with `peer` (a name or fingerprint of a paired device), which must be
   * serving and approve. Both devices store their share before this returns.
   */
  async keygen(o: {
    peer: string;
    scheme: Scheme;
    label?: string;
    timeoutMs?: number;
  }): Promise<DeviceKey> {
    const peer = await this.home.findPeer(o.peer);
    const label = o.label ?? '';
    checkLabel(label);
    const timeoutMs = o.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    const sid0 = bytesToHex(randomBytes(32));
    const ch = await this.#openRoom(peer, timeoutMs);
    try {
      await this.#request(
        ch,
        { t: 'request', op: 'keygen', scheme: o.scheme, label, sid0 },
        deadline
      );
      const share = await this.#run(
        ch,
        'keygen',
        'keygen',
        () =>
          dkg.start({
            scheme: o.scheme,
            threshold: 2,
            parties: 2,
            me: REQUESTER,
            sid0: hexToBytes(sid0),
            ...(label ? { label } : {}),
          }),
        (s, e, opts) => dkg.receive(s, e, { sender: opts.sender }),
        new RunGuard(this.#store, null),
        RESPONDER,
        deadline
      );
      const key = await this.#storeShare(share, o.scheme, label, peer);
      const done = await ch.control(deadline);
      if (done.t !== 'done' || done.keyId !== key.keyId || done.publicKey !== key.publicKey)
        throw new ProtocolAbort(
          'ShareConfirm',
          RESPONDER,
          'the other device did not confirm the same key'
        );
      return key;
    } finally {
      await ch.close();
    }
  }

  /**
   * Signs with a device-to-device key; the peer that holds the other share must be serving and
   * approve (it is shown the hash, the purpose and this device's name). The signature is verified
   * under the key before it is returned.
   */
  async sign(o: {
    keyId: string;
    input: { digest: string } | { message: string; hash?: 'sha256' | 'keccak256' };
    purpose: string;
    /** The peer the key was made with (checked against the key's record) */
    peer?: string;
    timeoutMs?: number;
  }): Promise<DeviceSignature> {
    const stored = await this.#store.getKey(o.keyId);
    if (!stored) throw new ClientError('NO_SHARE', `no share of key ${o.keyId} on this device`);
    if (!stored.peer)
      throw new DeviceError('NOT_A_DEVICE_KEY', `key ${o.keyId} was not made with a paired device`);
    const peer = await this.home.findPeer(stored.peer.fingerprint);
    if (o.peer !== undefined && (await this.home.findPeer(o.peer)).fingerprint !== peer.fingerprint)
      throw new DeviceError(
        'WRONG_PEER',
        `key ${o.keyId} was made with "${peer.name}", not "${o.peer}"`
      );
    checkPurpose(o.purpose);
    if (stored.refreshRequired)
      throw new ClientError('REFRESH_REQUIRED', `key ${o.keyId} must be refreshed before it signs`);
    const payload: SignPayload =
      'digest' in o.input
        ? { kind: 'digest', digest: o.input.digest.toLowerCase() }
        : {
            kind: 'message',
            message: o.input.message.toLowerCase(),
            ...(o.input.hash ? { hash: o.input.hash } : {}),
          };
    const signed = signingInput(stored.scheme, payload).bytes;
    const share = await this.#share(stored);
    const peerParty = share.parties.find((p) => p !== share.partyId) as PartyId;
    const timeoutMs = o.timeoutMs ?? 600_000;
    const deadline = Date.now() + timeoutMs;
    const rid = bytesToHex(randomBytes(32));
    const ch = await this.#openRoom(peer, timeoutMs);
    try {
      const req: Request = {
        t: 'request',
        op: 'sign',
        scheme: stored.scheme,
        keyId: stored.keyId,
        epoch: stored.epoch,
        payload,
        purpose: o.purpose,
        rid,
      };
      await this.#request(ch, req, deadline);
      const body = await this.#signWith(
        ch,
        stored,
        share,
        peerParty,
        signed,
        hexToBytes(rid),
        deadline
      );
      const done = await ch.control(deadline);
      if (done.t !== 'done' || done.keyId !== stored.keyId)
        throw new ProtocolAbort(
          'SignatureInvalid',
          peerParty,
          'the other device did not confirm the signature'
        );
      return { keyId: stored.keyId, ...body };
    } finally {
      await ch.close();
    }
  }

  /**
   * Answers paired peers' requests until `signal` aborts: each one is shown (`request` event) and
   * run only if `approve` resolves true. Up to `SERVE_CONCURRENCY` rooms are handled at once;
   * approvals are asked one at a time, oldest first. A request id is recorded (durably) before
   * it is answered, so a replayed request is refused, also after a restart.
   */
  async serve(o: {
    approve(r: DeviceRequest): Promise<boolean>;
    signal?: AbortSignal;
    /** How often the relay is asked for new rooms (default 1 s). */
    pollMs?: number;
    timeoutMs?: number;
  }): Promise<void> {
    /** Rooms already taken, until they expire (a room is answered once). */
    const seen = new Map<string, number>();
    if (typeof this.#relay !== 'string')
      throw new ClientError('BAD_INPUT', 'a serving device needs one relay URL to be found at');
    const client = this.#clientAt(this.#relay);
    const pollMs = o.pollMs ?? 1000;
    const running = new Map<string, Channel>();
    const tasks = new Set<Promise<void>>();
    let approvals: Promise<unknown> = Promise.resolve();
    const approve = (r: DeviceRequest): Promise<boolean> => {
      const p = approvals.then(() => o.approve(r));
      approvals = p.catch(() => {});
      return p;
    };
    const stopAll = () => {
      for (const ch of running.values()) void ch.close();
    };
    o.signal?.addEventListener('abort', stopAll, { once: true });
    while (!o.signal?.aborted) {
      const peers = await this.home.peers();
      const byKey = new Map(peers.map((p) => [p.publicKey, p]));
      const rooms: Awaited<ReturnType<RelayClient['invitations']>> = [];
      // The relay answers for at most 16 creators at a time.
      for (let i = 0; i < peers.length; i += 16)
        try {
          rooms.push(...(await client.invitations(peers.slice(i, i + 16).map((p) => p.publicKey))));
        } catch (e) {
          // A relay that is down or busy is asked again at the next poll; a refused login is not
          // going to change.
          if (e instanceof TesseraError && e.code === 'UNAUTHORIZED') throw e;
        }
      for (const r of rooms.reverse()) {
        if (o.signal?.aborted || running.size >= SERVE_CONCURRENCY) break;
        if (seen.has(r.roomId)) continue;
        seen.set(r.roomId, r.manifest.expiresAt);
        const peer = byKey.get(r.creator);
        const mine = bytesToHex(this.device.identity.public.publicKey);
        const m = r.manifest;
        if (
          !peer ||
          m.protocol !== DEVICE_PROTOCOL ||
          m.members.length !== 2 ||
          m.members[0]?.publicKey !== peer.publicKey ||
          m.members[0]?.x25519 !== peer.x25519 ||
          m.members[1]?.publicKey !== mine ||
          m.members[1]?.x25519 !== bytesToHex(this.device.identity.public.x25519)
        )
          continue;
        const ch = new Channel({
          client,
          me: this.device,
          peer,
          peerParty: REQUESTER,
          room: r.roomId,
          manifestHash: r.manifestHash,
        });
        running.set(r.roomId, ch);
        const task = this.#answer(peer, ch, r.roomId, { ...o, approve })
          .catch(() => {})
          .finally(() => {
            running.delete(r.roomId);
            tasks.delete(task);
          });
        tasks.add(task);
      }
      for (const [id, until] of seen) if (until < Date.now()) seen.delete(id);
      await sleep(pollMs, o.signal);
    }
    stopAll();
    await Promise.allSettled([...tasks]);
  }

  /** One request: read, record, ask, run. */
  async #answer(
    peer: PeerRecord,
    ch: Channel,
    room: string,
    o: { approve(r: DeviceRequest): Promise<boolean>; timeoutMs?: number }
  ): Promise<void> {
    const deadline = Date.now() + (o.timeoutMs ?? 600_000);
    const requestId = room;
    let req: Request;
    try {
      const c = await ch.control(Math.min(deadline, Date.now() + REQUEST_WAIT_MS));
      if (c.t !== 'request') throw new ProtocolAbort('UnexpectedKind', REQUESTER, 'not a request');
      req = c;
    } catch {
      // Not a request we can answer (silent, malformed, or withdrawn): the room is dropped.
      await ch.close();
      return;
    }
    const request: DeviceRequest = {
      id: requestId,
      op: req.op,
      scheme: req.scheme,
      from: { name: peer.name, fingerprint: peer.fingerprint },
      ...(req.op === 'keygen' ? { label: req.label } : {}),
    };
    const served = (outcome: ServedRequest['outcome'], e?: unknown) =>
      this.emit('served', {
        request,
        outcome,
        ...(e === undefined
          ? {}
          : {
              code: e instanceof TesseraError ? e.code : 'FAILED',
              message: e instanceof Error ? e.message : String(e),
            }),
      } satisfies ServedRequest);
    try {
      let signCtx: {
        stored: StoredKey;
        share: KeyShare;
        peerParty: PartyId;
        signed: Uint8Array;
      } | null = null;
      try {
        if (req.op === 'sign') {
          signCtx = await this.#checkSignRequest(req, peer);
          request.keyId = req.keyId;
          request.signing = bytesToHex(signCtx.signed);
          request.purpose = req.purpose;
        }
        // Durable before the answer: the same request id is never served twice.
        if (!(await this.#store.consume(peer.fingerprint, [`request:${requestId}`])))
          throw new DeviceError('REQUEST_REPLAYED', 'this request was answered before');
      } catch (e) {
        const code = e instanceof TesseraError ? e.code : 'REFUSED';
        await ch.sendControl({
          t: 'deny',
          code,
          message: e instanceof Error ? e.message.slice(0, 300) : 'refused',
        });
        served('denied', e);
        return;
      }
      this.emit('request', request);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const approved = await Promise.race([
        o.approve(request),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), Math.max(0, deadline - Date.now()));
        }),
      ]).finally(() => clearTimeout(timer));
      if (!approved) {
        await ch.sendControl({
          t: 'deny',
          code: 'DENIED',
          message: "the other device's user declined",
        });
        served('denied', new DeviceError('DENIED', 'declined on this device'));
        return;
      }
      await ch.sendControl({ t: 'accept' });
      try {
        if (req.op === 'keygen') {
          const share = await this.#run(
            ch,
            'keygen',
            'keygen',
            () =>
              dkg.start({
                scheme: req.scheme,
                threshold: 2,
                parties: 2,
                me: RESPONDER,
                sid0: hexToBytes(req.sid0),
                ...(req.label ? { label: req.label } : {}),
              }),
            (s, e, opts) => dkg.receive(s, e, { sender: opts.sender }),
            new RunGuard(this.#store, null),
            REQUESTER,
            deadline
          );
          const key = await this.#storeShare(share, req.scheme, req.label, peer);
          request.keyId = key.keyId;
          await ch.sendControl({ t: 'done', keyId: key.keyId, publicKey: key.publicKey });
        } else {
          const c = signCtx as NonNullable<typeof signCtx>;
          const body = await this.#signWith(
            ch,
            c.stored,
            c.share,
            c.peerParty,
            c.signed,
            hexToBytes(req.rid),
            deadline
          );
          await ch.sendControl({
            t: 'done',
            keyId: c.stored.keyId,
            publicKey: c.stored.publicKey,
            signature: body.signature.slice(0, 128),
          });
        }
        served('done');
      } catch (e) {
        served('failed', e);
      }
    } finally {
      await ch.close();
    }
  }

  /** A sign request checked against this device's copy of the key. */
  async #checkSignRequest(req: Extract<Request, { op: 'sign' }>, peer: PeerRecord) {
    const stored = await this.#store.getKey(req.keyId);
    if (!stored || stored.peer?.fingerprint !== peer.fingerprint)
      throw new ClientError(
        'NO_SHARE',
        `this device holds no key ${req.keyId} with the requesting device`
      );
    if (stored.scheme !== req.scheme || stored.epoch !== req.epoch)
      throw new DeviceError('KEY_MISMATCH', 'the request names another scheme or epoch of the key');
    if (stored.refreshRequired)
      throw new ClientError(
        'REFRESH_REQUIRED',
        `key ${req.keyId} must be refreshed before it signs`
      );
    let signed: Uint8Array;
    try {
      signed = signingInput(stored.scheme, req.payload).bytes;
    } catch (e) {
      throw new DeviceError('BAD_REQUEST', (e as Error).message);
    }
    const share = await this.#share(stored);
    const peerParty = share.parties.find((p) => p !== share.partyId) as PartyId;
    return { stored, share, peerParty, signed };
  }

  async #share(stored: StoredKey): Promise<KeyShare> {
    const bytes = await this.#store.get(stored.keyId, stored.epoch);
    if (!bytes) throw new ClientError('NO_SHARE', `no share of key ${stored.keyId} on this device`);
    return KeyShare.fromBytes(bytes);
  }

  async #storeShare(
    share: KeyShare,
    scheme: Scheme,
    label: string,
    peer: PeerRecord
  ): Promise<DeviceKey> {
    const key: DeviceKey = {
      keyId: share.keyIdHex,
      scheme,
      publicKey: bytesToHex(share.publicKey),
    };
    await this.#store.put(
      {
        ...key,
        label,
        epoch: bytesToHex(share.epoch),
        server: `device:${peer.fingerprint}`,
        peer: { name: peer.name, fingerprint: peer.fingerprint },
      },
      share.toBytes()
    );
    return key;
  }

  /** Both sides of signing: the guard, the protocol, the signature verified under the key. */
  async #signWith(
    ch: Channel,
    stored: StoredKey,
    share: KeyShare,
    peerParty: PartyId,
    signed: Uint8Array,
    rid: Uint8Array,
    deadline: number
  ): Promise<SignResultBody> {
    const signers = [...share.parties].sort((a, b) => a - b);
    if (stored.scheme === 'ecdsa' && (await this.#store.pairBanned(pairGuardKey(share, peerParty))))
      throw new ClientError(
        'KEY_LOCKED',
        `key ${stored.keyId} is locked on this device after a failed check with the other device`
      );
    const guard = new RunGuard(
      this.#store,
      stored.keyId,
      stored.scheme === 'ecdsa'
        ? {
            share,
            peer: peerParty,
            persist: async () => {
              const { epochs: _, ...k } = stored;
              await this.#store.put(k, share.toBytes());
            },
          }
        : null
    );
    const result =
      stored.scheme === 'ecdsa'
        ? await this.#run(
            ch,
            'sign',
            'sign-ecdsa',
            () => ecdsaSign.start({ share, signers, rid, digest: signed }, guard),
            (s, e, opts) => ecdsaSign.receive(s, e, { share, ...opts }),
            guard,
            peerParty,
            deadline
          )
        : await this.#run(
            ch,
            'sign',
            'sign-frost',
            () => frostSign.start({ share, signers, message: signed, rid }, guard),
            (s, e, opts) => frostSign.receive(s, e, opts),
            guard,
            peerParty,
            deadline
          );
    const body = checkedSignature(stored.scheme, stored.publicKey, signed, result);
    if (!body)
      throw new ClientError('BAD_SIGNATURE', 'the signature does not verify under the key');
    return body;
  }

  /**
   * Drives one core session against the peer: every output durable-guarded before it is sent,
   * every input from the peer's signed envelopes; any failure is announced to the peer and the
   * session's secrets are erased.
   */
  async #run<S extends Session<unknown>, R>(
    ch: Channel,
    op: DeviceOperation,
    kind: keyof typeof ROUND_LABELS,
    start: () => Step<S, R | never>,
    receive: (s: S, e: Envelope, opts: RunOptions) => Step<S, R>,
    guard: RunGuard,
    peerParty: PartyId,
    deadline: number
  ): Promise<R> {
    let session: S | undefined;
    let round = 0;
    const progress = (r: number) => {
      if (r > round && r <= ROUND_LABELS[kind].length) {
        round = r;
        this.#progress(op, kind, r);
      }
    };
    try {
      progress(1);
      const first = await guarded(guard, start);
      session = first.session;
      await ch.sendCore(first.out);
      for (;;) {
        const m = await ch.next(deadline);
        if ('t' in m) {
          if (m.t === 'abort')
            throw new DeviceError('PEER_ABORTED', `the other device stopped (${m.code})`);
          throw new ProtocolAbort(
            'UnexpectedKind',
            peerParty,
            'a control message in the middle of the protocol'
          );
        }
        await guard.begin([m]);
        let step: Step<S, R>;
        try {
          step = await guarded(guard, () =>
            receive(session as S, m, {
              sender: peerParty,
              ledger: guard.ledger,
              pairGuard: guard.pairGuard,
            })
          );
        } catch (e) {
          // A header that does not match this session: dropped, as the core's contract says.
          if (e instanceof MessageRejected) continue;
          throw e;
        }
        session = step.session;
        await ch.sendCore(step.out);
        if (step.result !== undefined) return step.result;
        progress(session.round);
      }
    } catch (e) {
      if (session) discardSession(session);
      await ch.abort(e instanceof TesseraError ? e.code : 'FAILED');
      throw e;
    }
  }
}

function checkLabel(label: string): void {
  if (utf8ToBytes(label).length > MAX_LABEL || hasControl(label))
    throw new ClientError(
      'BAD_INPUT',
      `a key label is at most ${MAX_LABEL} bytes without control characters`
    );
}

function checkPurpose(purpose: string): void {
  if (purpose.length === 0 || utf8ToBytes(purpose).length > MAX_PURPOSE || hasControl(purpose))
    throw new ClientError(
      'BAD_INPUT',
      `a purpose is 1..${MAX_PURPOSE} bytes without control characters`
    );
}
