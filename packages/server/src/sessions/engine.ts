/**
 * The session engine: the life of a session, whatever its protocol. It opens the session a
 * protocol started, feeds it the client's envelopes and persists every step; the protocol (see
 * `protocol.ts`) says how it starts and finishes and which steps need the share. Transport-
 * agnostic: HTTP start/step and the WebSocket both call `step`, so a client may switch
 * transports mid-session.
 *
 * Single use on every path (architecture invariant 3; docs/security.md ):
 * - A step commits with a compare-and-swap on the session version, together with the single-use
 *   ids (nonces, presignatures) the core consumed; only a committed step's reply is released.
 * - The exact last request and reply are stored: a byte-identical resend gets the byte-identical
 *   reply without running the protocol again. Any other message for an answered round, or for a
 *   future round, aborts the session and destroys its state (`PROTOCOL_VIOLATION`).
 * - Expiry (idle or total lifetime) destroys the state.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  coreProtocolName,
  type ErrorCode,
  openSessionMessage,
  type ProtocolNameValue,
  type SealedSession,
  type SessionStartedResponse,
  type StepReplyResponse,
  sealSessionMessage,
} from '@tessera/api';
import {
  checkPartyPublic,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  KeyShare,
  type PartyIdentity,
  type PartyPublic,
  pairGuardKey,
  type Scheme,
  TesseraError,
} from '@tessera/core';
import type { Logger } from 'pino';
import { type EpochAnchor, MemoryEpochAnchor } from '../anchor.ts';
import { type Compute, ComputePool, type StepOutcome } from '../compute.ts';
import { isComputeFailure } from '../compute-errors.ts';
import type { ServerConfig } from '../config.ts';
import type { Sealer } from '../custody.ts';
import { ApiError, notFound } from '../errors.ts';
import { StorePairGuards } from '../keys/pairGuard.ts';
import { CLIENT_PARTY, SERVER_PARTY } from '../keys/parties.ts';
import { KeyVault, type LoadedShare } from '../keys/vault.ts';
import type { Metrics } from '../metrics.ts';
import { NodeEnvelopeRejected, openNodeEnvelope, sealNodeEnvelope } from '../node/envelope.ts';
import type { NodeIdentity } from '../node/identity.ts';
import type { SessionEvents } from '../redis.ts';
import type {
  AuditEvent,
  CommitOutcome,
  KeyEffect,
  KeyRecord,
  NodeIdentityPublic,
  SessionRecord,
  StartReply,
  StepCommit,
  Store,
} from '../store/store.ts';
import type {
  ExclusiveKind,
  Finished,
  Opening,
  ProtocolContext,
  ServerProtocol,
} from './protocol.ts';
import { PROTOCOLS, type SessionTable, sessionTable } from './protocols/index.ts';

const SESSIONS = sessionTable(PROTOCOLS);
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = bytesToHex;
/** SHA-256 in hex through OpenSSL: a step's request covers up to ~80 KiB. */
const nodeSha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The start request a session answers (idempotent starts): its reply is kept by its nonce. */
export type StartRequest = Pick<StartReply, 'nonce'> & {
  /** The client's identity for a sealed session (attested servers only). */
  sealed?: { publicKey: string; x25519: string };
};

export interface EngineDeps {
  store: Store;
  sealer: Sealer;
  config: ServerConfig;
  metrics: Metrics;
  log: Logger;
  /** Where terminal session states are announced (other instances' WebSockets listen). */
  events?: SessionEvents;
  /** Where protocol arithmetic runs (default: on the event loop). */
  compute?: Compute;
  /**
   * The protocols whose sessions it steps (default: the server's, `protocols/index.ts`). A
   * `ComputePool` steps sessions by the codecs of that list (a worker can only find a codec by
   * name), so another list needs a `compute` of its own: tests use this with a fake compute.
   */
  protocols?: readonly ServerProtocol<unknown>[];
  /** The confirmed generations, kept outside the store (default: in memory only). */
  anchor?: EpochAnchor;
  /** This node's identity in the 2-of-3 topology (a server started with `--node-id`). */
  identity?: NodeIdentity;
  /** Signs each session reply with the attested identity key (a server in an enclave). */
  signReply?: (kind: 'started' | 'step', reply: object) => string;
  /** The attested identity, which opens and seals the envelopes of sealed sessions. */
  sessionIdentity?: PartyIdentity;
  now?: () => number;
}

export class SessionEngine {
  readonly #store: Store;
  readonly #sealer: Sealer;
  readonly #config: ServerConfig;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #events: SessionEvents | undefined;
  readonly #compute: Compute;
  readonly #sessions: SessionTable;
  readonly #pairs: StorePairGuards;
  readonly #ctx: ProtocolContext;
  readonly #signReply: ((kind: 'started' | 'step', reply: object) => string) | undefined;
  readonly #sessionIdentity: PartyIdentity | undefined;
  /** The server's shares: every load, anchor check and lock goes through it. */
  readonly vault: KeyVault;
  /** The node identity, when the server runs as a node of the 2-of-3 topology. */
  readonly identity: NodeIdentity | undefined;
  readonly now: () => number;
  /**
   * Sessions with a step in progress in this process, by subject and session id (a second
   * concurrent step of the owner gets SESSION_BUSY; another subject finds no session).
   */
  readonly #busy = new Set<string>();
  /**
   * Test hook: called at named points (`<protocol>:computed|committed:round|final`) so a test can
   * kill the process there (docs/security.md ).
   */
  faultPoint: (name: string) => void = () => {};

  constructor(d: EngineDeps) {
    this.#store = d.store;
    this.#sealer = d.sealer;
    this.#config = d.config;
    this.#metrics = d.metrics;
    this.#log = d.log;
    this.#events = d.events;
    this.#compute = d.compute ?? new ComputePool(0);
    if (d.protocols && this.#compute instanceof ComputePool)
      throw new Error('an engine with its own protocol list needs a compute of its own');
    this.#sessions = d.protocols ? sessionTable(d.protocols) : SESSIONS;
    this.now = d.now ?? Date.now;
    this.identity = d.identity;
    this.#signReply = d.signReply;
    this.#sessionIdentity = d.sessionIdentity;
    this.vault = new KeyVault({
      store: d.store,
      sealer: d.sealer,
      anchor: d.anchor ?? new MemoryEpochAnchor(),
      log: d.log,
    });
    this.#pairs = new StorePairGuards({ store: d.store, log: d.log, now: () => this.now() });
    this.#ctx = {
      config: d.config,
      vault: this.vault,
      compute: this.#compute,
      now: () => this.now(),
      signaturesSince: (keyId, since) => this.#store.countSignSessions(keyId, since),
      refuseBusy: (keyId, kind) => this.#refuseBusy(keyId, kind),
      identity: d.identity,
      log: d.log,
      event: (...a) => this.#event(...a),
      auditRefusal: (...a) => this.#auditRefusal(...a),
    };
  }

  // ---- starting sessions -------------------------------------------------------------------

  /** Starts a session of `protocol` for `subject`, and answers with its first messages. */
  async start<I>(
    protocol: ServerProtocol<I>,
    subject: string,
    input: I,
    request?: StartRequest
  ): Promise<SessionStartedResponse> {
    return this.#open(subject, await protocol.start(this.#ctx, subject, input), request);
  }

  /** The client holds its share of the pending epoch: make it current and delete older shares. */
  async confirmEpoch(subject: string, keyId: string, epoch: string): Promise<KeyRecord> {
    return this.vault.confirmEpoch(subject, keyId, epoch, this.now());
  }

  /** Stores the opened session (and, with `request`, the reply under its nonce). */
  async #open(
    subject: string,
    o: Opening,
    request: StartRequest | undefined
  ): Promise<SessionStartedResponse> {
    // A protocol missing from the engine's list could start sessions that no step could run.
    if (this.#sessions.find(o.codec.name) !== o.codec)
      throw new ApiError('INTERNAL', `sessions of "${o.codec.name}" are not registered`);
    const now = this.now();
    const id = hex(new Uint8Array(randomBytes(16)));
    // The core session id, kept with the params: every envelope of the session must carry it.
    const params = {
      ...o.params,
      sid: o.codec.decode(o.state).sid,
      ...(request?.sealed ? { sealed: this.#sealedClient(request.sealed) } : {}),
    };
    const rec: SessionRecord = {
      id,
      subject,
      kind: o.codec.kind,
      protocol: o.codec.name,
      scheme: o.scheme,
      keyId: o.keyId,
      epoch: o.epoch,
      status: 'active',
      version: 0,
      state: this.#sealer.sealSession(id, 0, o.state),
      params: JSON.stringify(params),
      round: o.round,
      totalRounds: o.codec.totalRounds,
      lastRequest: null,
      lastReply: null,
      createdAt: now,
      updatedAt: now,
    };
    const audit = [this.#event(subject, o.keyId, id, o.audit.action, 'ok', o.audit.details)];
    const node = nodeParamsOf(params);
    const routed = node ? this.#route(node, o.out) : { client: o.out, peer: [] };
    const started: SessionStartedResponse = {
      sessionId: id,
      protocol: o.codec.name,
      party: CLIENT_PARTY,
      serverParty: node ? node.me : SERVER_PARTY,
      totalRounds: o.codec.totalRounds,
      params,
      messages: this.#sealOut(id, params, routed.client).map(b64),
      ...(node ? { relay: routed.peer.map(b64) } : {}),
      expiresAt: now + this.#config.sessions.idleMs,
    };
    if (this.#signReply) started.serverSignature = this.#signReply('started', started);
    const kept = request
      ? { subject, nonce: request.nonce, reply: JSON.stringify(started) }
      : undefined;
    const create = () =>
      this.#store.createSession(rec, {
        nonces: o.nonces,
        exclusive: o.exclusive,
        audit,
        ...(kept ? { request: kept } : {}),
      });
    let created = await create();
    // The active session of this key may have expired without being reaped yet (the reaper runs
    // every 30 s): expire what is due and try once more. Reaping on every start instead ran three
    // write statements and a count per session.
    if (created === 'busy' && (await this.reap()) > 0) created = await create();
    if (created === 'busy')
      throw new ApiError('KEY_BUSY', `another ${o.codec.kind} session of key ${o.keyId} is active`);
    if (created === 'nonce-reused') throw new ApiError('INTERNAL', 'a fresh request id collided');
    // The same start request, run twice at once, already has its session and reply.
    if (created === 'replayed')
      throw new ApiError(
        'SESSION_BUSY',
        'this start request is being answered by another request; resend to get its reply',
        { retryAfter: 1 }
      );
    this.#metrics.sessions.inc({ protocol: o.codec.name, outcome: 'started' });
    this.#log.info({ sessionId: id, protocol: o.codec.name, keyId: o.keyId }, 'session started');
    return started;
  }

  // ---- steps -------------------------------------------------------------------------------

  /**
   * Delivers the client's envelopes (base64), and in a 2-of-3 session the peer node's envelopes
   * the client relays (`relay`), and returns the reply as the exact JSON text sent, so that a
   * resend gets the same bytes.
   */
  async step(
    subject: string,
    sessionId: string,
    messages: string[],
    relay: string[] = []
  ): Promise<string> {
    // Keyed by subject too: another subject's request finds no session (404), busy or not.
    const busy = `${subject}\n${sessionId}`;
    if (this.#busy.has(busy))
      throw new ApiError('SESSION_BUSY', 'another request for this session is being processed');
    this.#busy.add(busy);
    try {
      return await this.#step(subject, sessionId, messages, relay);
    } finally {
      this.#busy.delete(busy);
    }
  }

  async #step(
    subject: string,
    sessionId: string,
    messages: string[],
    relay: string[]
  ): Promise<string> {
    const started = performance.now();
    const rec = await this.ownedSession(subject, sessionId);
    const raw = messages.map((m) => new Uint8Array(Buffer.from(m, 'base64')));
    const relayed = relay.map((m) => new Uint8Array(Buffer.from(m, 'base64')));
    // The relayed envelopes after a separator no envelope length can be (2^32 - 1).
    const requestHash = nodeSha256(
      Buffer.concat([
        ...raw.flatMap((r) => [u32(r.length), r]),
        ...(relayed.length ? [u32(0xffffffff), ...relayed.flatMap((r) => [u32(r.length), r])] : []),
      ])
    );
    if (rec.lastRequest === requestHash && rec.lastReply !== null) return rec.lastReply;
    if (rec.status === 'expired')
      throw new ApiError('SESSION_EXPIRED', 'the session expired; start a new one');
    if (rec.status !== 'active')
      throw new ApiError('SESSION_CLOSED', `the session is ${rec.status}`);
    const now = this.now();
    if (this.#overdue(rec, now)) {
      await this.reap();
      throw new ApiError('SESSION_EXPIRED', 'the session expired; start a new one');
    }
    if (raw.length === 0 && relayed.length === 0)
      throw new ApiError('SCHEMA', 'messages: at least one envelope is needed');
    let envs: Envelope[];
    // A sealed session's envelopes, opened: from here on the session sees plain envelopes.
    let plain: Uint8Array[] = raw;
    try {
      plain = this.#openIn(rec, raw);
      envs = plain.map((r) => decodeEnvelope(r));
    } catch (e) {
      return this.#violation(rec, `malformed envelope: ${(e as Error).message}`);
    }
    if (rec.state === null) throw new ApiError('SESSION_CLOSED', 'the session has no state');
    const state = this.#sealer.openSession(rec.id, rec.version, rec.state);
    const params = JSON.parse(rec.params) as StoredParams;
    const node = nodeParamsOf(params);
    // Sessions opened before the sid was recorded: read it from their state.
    const sid = params.sid ?? this.#sessions.codecOf(rec.protocol).decode(state).sid;
    const mismatch = this.#headerMismatch(rec, sid, node, envs);
    if (mismatch) return this.#violation(rec, `envelope ${mismatch} does not match the session`);
    if (relayed.length > 0 && !node)
      return this.#violation(rec, 'relayed node envelopes in a session without a peer node');
    // The peer node's envelopes, opened: a failed check is the relaying client's doing.
    let fromPeer: Envelope[] = [];
    if (node) {
      try {
        fromPeer = relayed.map((w) => this.#openRelayed(rec, sid, node, w));
      } catch (e) {
        if (!(e instanceof NodeEnvelopeRejected)) throw e;
        return this.#abort(
          rec,
          new TesseraError('PROTOCOL_ABORT', `${e.message} (relayed by the client)`, {
            check: 'NodeEnvelope',
            culprit: CLIENT_PARTY,
          }),
          undefined
        );
      }
    }
    // Round by round, whoever sent them: a round's messages from the client and from the peer
    // complete it before a later round's message is taken.
    const ordered = node ? byRound(plain, envs, fromPeer, node.peerParty) : null;
    const codec = this.#sessions.codecOf(rec.protocol);
    const key = rec.keyId ? await this.#store.getKey(rec.keyId) : null;
    if (rec.keyId && !key) throw new ApiError('SESSION_CLOSED', 'the key of this session is gone');
    let loaded: LoadedShare | undefined;
    if (codec.loadsShare && key) {
      try {
        loaded = await this.vault.load(key, rec.epoch as string);
      } catch (e) {
        // A refresh was confirmed meanwhile and the epoch's share is gone: end the session.
        if (e instanceof ApiError && e.code === 'EPOCH_STALE')
          return this.#abortWith(
            rec,
            'EPOCH_CHANGED',
            'the key was refreshed during this session; start a new one',
            'SESSION_CLOSED'
          );
        throw e;
      }
      this.vault.refuseLocked(key, loaded.share);
    }
    // A durable pair marker only for a step that runs a guarded check; any other step gets a
    // guard that refuses, so a check moved to another round fails loudly instead of unguarded.
    const guarded = envs.some((e) => codec.guardedRounds.includes(e.round));
    const marker =
      loaded && guarded
        ? await this.#pairs.begin(pairGuardKey(loaded.share, CLIENT_PARTY))
        : undefined;
    // A ban the store holds as a marker (a crashed step's; docs/protocols/ecdsa.md, "Pending
    // checks") is anchored too.
    if (marker?.state === 'banned' && loaded) this.vault.lock(rec.keyId as string, loaded.share);
    let computed: StepOutcome;
    try {
      computed = await this.#compute.step(
        {
          protocol: rec.protocol as ProtocolNameValue,
          state,
          envelopes: ordered ? ordered.envelopes : plain,
          ...(loaded ? { share: loaded.input } : {}),
          guard: !loaded ? 'none' : marker ? marker.state : 'refuse',
          sender: ordered ? ordered.senders : CLIENT_PARTY,
        },
        { affinity: rec.keyId ?? rec.id, subject: rec.subject },
        loaded?.share
      );
      if (computed.banned) marker?.guard.ban('');
      if ((computed.banned || computed.bannedShare) && loaded)
        this.vault.lock(rec.keyId as string, loaded.share);
    } catch (e) {
      // The worker died mid-step: whether a guarded check failed is unknown, and the pending-check
      // rule reads an unknown outcome as a failure (as it reads a marker left by a crashed
      // process).
      if (isComputeFailure(e)) {
        marker?.guard.ban('');
        // Only a step whose marker was taken could have run the check (settle bans only then).
        if (marker?.state === 'ok' && loaded) this.vault.lock(rec.keyId as string, loaded.share);
      }
      throw e;
    } finally {
      await marker?.settle();
    }
    if (computed.kind === 'violation') return this.#violation(rec, computed.why);
    if (computed.kind === 'error') {
      const e = computed.error;
      // A core error from a worker is a copy of its data: dispatch on `code` and `check`.
      const core = e instanceof TesseraError ? e : null;
      if (core?.code === 'PROTOCOL_ABORT') return this.#abort(rec, core, computed.bannedShare);
      if (core?.code === 'MESSAGE_REJECTED') return this.#violation(rec, core.message);
      if (core?.check === 'PairBanned') throw new ApiError('KEY_LOCKED', e.message);
      // The key's one session with a pair marker has a step in flight (on another instance).
      if (core?.check === 'PairBusy')
        throw new ApiError(
          'SESSION_BUSY',
          'another request for this session is being processed; resend to get its reply'
        );
      throw e;
    }
    const result = computed.result;
    const stage = result !== undefined ? 'final' : 'round';
    this.faultPoint(`${rec.protocol}:computed:${stage}`);
    const protocol = this.#sessions.protocolOf(rec.protocol, params);
    const finished: Finished | undefined =
      result !== undefined ? protocol.finish(this.#ctx, rec, key, result) : undefined;
    const effects: KeyEffect[] = [...(finished?.effects ?? [])];
    if (computed.bannedShare) effects.push(this.#bansEffect(rec, computed.bannedShare));
    const routed = node ? this.#route(node, computed.out) : { client: computed.out, peer: [] };
    const reply: StepReplyResponse = {
      sessionId: rec.id,
      status: result !== undefined ? 'done' : 'active',
      round: computed.round,
      messages: this.#sealOut(rec.id, params, routed.client).map(b64),
      ...(node ? { relay: routed.peer.map(b64) } : {}),
      ...(finished ? { result: finished.result } : {}),
    };
    if (this.#signReply) reply.serverSignature = this.#signReply('step', reply);
    const replyText = JSON.stringify(reply);
    const commit: StepCommit = {
      status: reply.status,
      state:
        computed.state === null
          ? null
          : this.#sealer.sealSession(rec.id, rec.version + 1, computed.state),
      round: computed.round,
      lastRequest: requestHash,
      lastReply: replyText,
      updatedAt: now,
      nonces: computed.nonces,
      effects,
      audit: finished?.audit ?? [],
    };
    const outcome = await this.#store.commitStep(rec.id, rec.version, commit);
    if (outcome === 'conflict') {
      // Another instance (or request) committed this very step first: its reply is the answer,
      // and what was computed here is dropped unreleased.
      const now = await this.#store.getSession(rec.id);
      if (now?.lastRequest === requestHash && now.lastReply !== null) return now.lastReply;
      throw new ApiError(
        'SESSION_BUSY',
        'the session moved on concurrently; resend to get its reply'
      );
    }
    if (outcome === 'nonce-reused') {
      return this.#abortWith(
        rec,
        'NONCE_REUSE',
        'a single-use nonce of this session was already used'
      );
    }
    this.faultPoint(`${rec.protocol}:committed:${stage}`);
    if (result !== undefined) {
      this.#metrics.sessions.inc({ protocol: rec.protocol, outcome: 'done' });
      this.#events?.publish({ sessionId: rec.id, status: 'done' });
      await protocol.committed?.(this.#ctx, rec, key);
    }
    this.#metrics.roundSeconds.observe(
      { protocol: rec.protocol },
      (performance.now() - started) / 1000
    );
    return replyText;
  }

  // ---- aborts ------------------------------------------------------------------------------

  /**
   * The client gave up on its session (a failed check on its side, a cancel): the state is
   * destroyed and the key is free for a new session at once. An aborted session stays aborted.
   */
  async abortByClient(subject: string, sessionId: string, code: string): Promise<void> {
    const rec = await this.ownedSession(subject, sessionId);
    const busy = `${subject}\n${sessionId}`;
    if (this.#busy.has(busy))
      throw new ApiError('SESSION_BUSY', 'a request of this session is being processed');
    if (rec.status === 'aborted') return;
    if (rec.status === 'done') throw new ApiError('SESSION_CLOSED', 'the session is done');
    if (rec.status === 'expired' || this.#overdue(rec, this.now()))
      throw new ApiError('SESSION_EXPIRED', 'the session expired');
    this.#busy.add(busy);
    try {
      // A step committed meanwhile (on another instance) moved the version: the client resends.
      if ((await this.#closeAborted(rec, 'client-abort', { code }, [])) !== 'ok')
        throw new ApiError('SESSION_BUSY', 'the session moved on concurrently; resend the abort');
    } finally {
      this.#busy.delete(busy);
    }
    this.#metrics.sessions.inc({ protocol: rec.protocol, outcome: 'client-abort' });
    this.#log.info(
      { sessionId, protocol: rec.protocol, keyId: rec.keyId },
      'aborted by the client'
    );
  }

  /** A check on the client's message failed: terminal, culprit named, state destroyed. */
  async #abort(
    rec: SessionRecord,
    e: TesseraError,
    bannedShare: Uint8Array | undefined
  ): Promise<never> {
    this.#metrics.cheatAborts.inc({ protocol: rec.protocol, check: e.check ?? 'unknown' });
    this.#metrics.sessions.inc({ protocol: rec.protocol, outcome: 'aborted' });
    const details = { check: e.check, culprit: e.culprit };
    const effects = bannedShare ? [this.#bansEffect(rec, bannedShare)] : [];
    await this.#closeAborted(rec, 'abort', details, effects);
    this.#log.warn(
      { sessionId: rec.id, protocol: rec.protocol, keyId: rec.keyId, ...details },
      'protocol abort'
    );
    throw new ApiError(
      'PROTOCOL_ABORT',
      `protocol aborted: check ${e.check} failed on party ${e.culprit ?? 'unknown'}'s message`,
      { details }
    );
  }

  // ---- sealed sessions (docs/attestation.md) ----------------------------------------------------

  /** The client's identity for a sealed session, checked; only an attested server seals. */
  #sealedClient(k: { publicKey: string; x25519: string }): { publicKey: string; x25519: string } {
    if (!this.#sessionIdentity)
      throw new ApiError(
        'ATTESTATION_DISABLED',
        'sealed sessions need a server with an attestation provider'
      );
    const bad = checkPartyPublic(partyOf(k));
    if (bad) throw new ApiError('SCHEMA', `invalid request: sealed: ${bad}`);
    return { publicKey: k.publicKey, x25519: k.x25519 };
  }

  #sealedSession(id: string, params: StoredParams): SealedSession | null {
    const k = params.sealed;
    if (!k || !this.#sessionIdentity || typeof params.sid !== 'string') return null;
    return {
      sessionId: id,
      sid: params.sid,
      server: this.#sessionIdentity.public,
      client: partyOf(k),
    };
  }

  /** The client's envelopes of a sealed session, opened (a failure throws: a violation). */
  #openIn(rec: SessionRecord, raw: Uint8Array[]): Uint8Array[] {
    const params = JSON.parse(rec.params) as StoredParams;
    if (!params.sealed) return raw;
    const s = this.#sealedSession(rec.id, params);
    if (!s || !this.#sessionIdentity)
      throw new Error('a sealed session on a server without its identity');
    const me = this.#sessionIdentity;
    return raw.map((r) => openSessionMessage(me, s.client, s, r));
  }

  /** The server's envelopes, sealed to the client when the session is sealed. */
  #sealOut(id: string, params: StoredParams, out: Uint8Array[]): Uint8Array[] {
    const s = this.#sealedSession(id, params);
    const me = this.#sessionIdentity;
    return s && me ? out.map((e) => sealSessionMessage(me, s.client, s, e)) : out;
  }

  /** A message that breaks the session's sequence (wrong round, changed resend, garbage). */
  async #violation(rec: SessionRecord, why: string): Promise<never> {
    this.#metrics.sessions.inc({ protocol: rec.protocol, outcome: 'violation' });
    await this.#closeAborted(rec, 'violation', { reason: why }, []);
    throw new ApiError('PROTOCOL_VIOLATION', `${why}; the session is aborted`);
  }

  async #abortWith(
    rec: SessionRecord,
    reason: string,
    message: string,
    code: ErrorCode = 'PROTOCOL_VIOLATION'
  ): Promise<never> {
    await this.#closeAborted(rec, 'abort', { reason }, []);
    throw new ApiError(code, message);
  }

  async #closeAborted(
    rec: SessionRecord,
    outcome: string,
    details: Record<string, unknown>,
    effects: KeyEffect[]
  ): Promise<CommitOutcome> {
    const written = await this.#store.commitStep(rec.id, rec.version, {
      status: 'aborted',
      state: null,
      round: rec.round,
      lastRequest: null,
      lastReply: null,
      updatedAt: this.now(),
      nonces: [],
      effects,
      audit: [this.#event(rec.subject, rec.keyId, rec.id, rec.kind, outcome, details)],
    });
    // Announced only when written: a stale record (another instance moved on) aborted nothing.
    if (written === 'ok') this.#events?.publish({ sessionId: rec.id, status: 'aborted' });
    return written;
  }

  /** A share whose bans changed in this session's step (its encoding), to commit with it. */
  #bansEffect(rec: SessionRecord, share: Uint8Array): KeyEffect {
    return this.vault.bansEffect(
      rec.keyId as string,
      KeyShare.fromBytes(share).partyId,
      rec.epoch as string,
      share
    );
  }

  // ---- lookups and housekeeping --------------------------------------------------------------

  /** The session, if it belongs to `subject`; 404 otherwise, the same for a missing one. */
  async ownedSession(subject: string, sessionId: string): Promise<SessionRecord> {
    const rec = await this.#store.getSession(sessionId, subject);
    if (!rec || rec.subject !== subject) throw notFound('session');
    return rec;
  }

  /** 404 unless the session exists and belongs to `subject`. */
  async assertSessionOwner(subject: string, sessionId: string): Promise<void> {
    await this.ownedSession(subject, sessionId);
  }

  /**
   * The first header field of an envelope that does not fit the session, or null. The transport
   * authenticates the whole request, header fields included; checking them here, before core,
   * means a valid envelope replayed into another session of the same subject, or one claiming
   * another sender, aborts only the session it was sent to: no pair marker, no ban, no compute.
   */
  #headerMismatch(
    rec: SessionRecord,
    sid: string,
    node: NodeParams | null,
    envs: Envelope[]
  ): string | null {
    const proto = coreProtocolName(rec.protocol as ProtocolNameValue, rec.scheme as Scheme);
    const me = node?.me ?? SERVER_PARTY;
    for (const e of envs) {
      if (e.v !== 1) return 'version';
      if (e.proto !== proto) return 'protocol';
      if (e.sid !== sid) return 'session id';
      if (e.from !== CLIENT_PARTY) return 'sender';
      if (e.to !== 0 && e.to !== me) return 'recipient';
    }
    return null;
  }

  /** The node identity a 2-of-3 session needs; ROLE_FORBIDDEN on a server started without one. */
  #identity(): NodeIdentity {
    if (!this.identity)
      throw new ApiError('ROLE_FORBIDDEN', 'this server was started without a node identity');
    return this.identity;
  }

  #openRelayed(rec: SessionRecord, sid: string, node: NodeParams, wire: Uint8Array): Envelope {
    return openNodeEnvelope(
      this.#identity(),
      {
        sid,
        proto: coreProtocolName(rec.protocol as ProtocolNameValue, rec.scheme as Scheme),
        peerParty: node.peerParty,
        peer: node.peer,
      },
      wire
    );
  }

  /**
   * Splits what the node sends: the client gets its point-to-point messages and every broadcast;
   * the peer node gets its point-to-point messages sealed and every broadcast signed, relayed
   * by the client.
   */
  #route(node: NodeParams, out: Uint8Array[]): { client: Uint8Array[]; peer: Uint8Array[] } {
    const me = this.#identity();
    const client: Uint8Array[] = [];
    const peer: Uint8Array[] = [];
    for (const raw of out) {
      const to = decodeEnvelope(raw).to;
      if (to === 0 || to === CLIENT_PARTY) client.push(raw);
      if (to === 0 || to === node.peerParty) peer.push(sealNodeEnvelope(me, node.peer, raw));
    }
    return { client, peer };
  }

  /** Idle or over its lifetime at `now`. */
  #overdue(s: { updatedAt: number; createdAt: number }, now: number): boolean {
    const { idleMs, lifetimeMs } = this.#config.sessions;
    return now - s.updatedAt > idleMs || now - s.createdAt > lifetimeMs;
  }

  /** Expires idle and over-age sessions, destroying their state. */
  async reap(): Promise<number> {
    const now = this.now();
    const n = await this.#store.expireSessions(
      now - this.#config.sessions.idleMs,
      now - this.#config.sessions.lifetimeMs
    );
    if (n > 0) this.#metrics.sessions.inc({ protocol: 'any', outcome: 'expired' }, n);
    // With several instances, one that died mid-step never restarts to clean up after itself.
    if (this.#store.shared) await this.recoverPairMarkers();
    this.#metrics.activeSessions.set(await this.#store.countActiveSessions());
    return n;
  }

  /**
   * Turns the pair markers of crashed steps into bans (docs/protocols/ecdsa.md, "Pending checks").
   */
  async recoverPairMarkers(): Promise<number> {
    return this.#pairs.recover();
  }

  /** KEY_BUSY while the key has an unexpired active session of `kind` (a route's check). */
  refuseActive(keyId: string, kind: ExclusiveKind): Promise<void> {
    return this.#refuseBusy(keyId, kind);
  }

  /**
   * KEY_BUSY before any work while the key has an active session of `kind` that is not yet due
   * to expire (one that is due is reaped when the new session is created).
   */
  async #refuseBusy(keyId: string, kind: ExclusiveKind): Promise<void> {
    const active = await this.#store.activeSession(keyId, kind);
    if (!active || this.#overdue(active, this.now())) return;
    throw new ApiError('KEY_BUSY', `another ${kind} session of key ${keyId} is active`);
  }

  /**
   * A refused start leaves an audit row (`action`): who, which key, the code and reason, and
   * what the protocol says the request was, never its payload. The refusal stands if the store
   * cannot write it.
   */
  async #auditRefusal(
    subject: string,
    keyId: string,
    action: string,
    refusal: ApiError,
    details: Record<string, unknown>
  ): Promise<void> {
    try {
      await this.#store.audit(
        this.#event(subject, keyId, null, action, 'refused', {
          code: refusal.code,
          reason: refusal.message,
          ...details,
        })
      );
    } catch (e) {
      this.#log.warn({ keyId, action, err: (e as Error).message }, 'could not audit a refusal');
    }
  }

  #event(
    subject: string,
    keyId: string | null,
    sessionId: string | null,
    action: string,
    outcome: string,
    details?: Record<string, unknown>
  ): AuditEvent {
    return {
      at: this.now(),
      subject,
      keyId,
      sessionId,
      action,
      outcome,
      ...(details ? { details } : {}),
    };
  }
}

/** A 2-of-3 session's parties as its params record them (`me`, `peer`), or null. */
interface NodeParams {
  me: number;
  peerParty: number;
  peer: NodeIdentityPublic;
}

/**
 * Both senders' envelopes in round order (stable: each sender's order kept within a round): the
 * client's as they came (`raw`, decoded in `decoded`), the peer node's as opened.
 */
function byRound(
  raw: Uint8Array[],
  decoded: Envelope[],
  fromPeer: Envelope[],
  peer: number
): { envelopes: Uint8Array[]; senders: number[] } {
  const all = [
    ...raw.map((bytes, i) => ({
      bytes,
      sender: CLIENT_PARTY,
      round: (decoded[i] as Envelope).round,
      i,
    })),
    ...fromPeer.map((e, i) => ({
      bytes: encodeEnvelope(e),
      sender: peer,
      round: e.round,
      i: raw.length + i,
    })),
  ].sort((a, b) => a.round - b.round || a.i - b.i);
  return { envelopes: all.map((e) => e.bytes), senders: all.map((e) => e.sender) };
}

/** A session's params as stored: the protocol's own, the core sid, and a 2-of-3 session's parties. */
type StoredParams = Readonly<Record<string, unknown>> & {
  sid?: string;
  sealed?: { publicKey: string; x25519: string };
  me?: number;
  peer?: NodeIdentityPublic & { party: number };
};

const partyOf = (k: { publicKey: string; x25519: string }): PartyPublic => ({
  publicKey: hexToBytes(k.publicKey),
  x25519: hexToBytes(k.x25519),
});

function nodeParamsOf(p: StoredParams): NodeParams | null {
  if (p.me === undefined || !p.peer) return null;
  return { me: p.me, peerParty: p.peer.party, peer: p.peer };
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
