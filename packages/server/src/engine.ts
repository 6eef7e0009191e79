/**
 * The session engine: starts core sessions as the server's party, feeds them the client's
 * envelopes, and persists every step. Transport-agnostic: HTTP start/step and the WebSocket both
 * call `step`, so a client may switch transports mid-session.
 *
 * Single use on every path (architecture invariant 3, security-tests §2.1–2.2):
 * - A step commits with a compare-and-swap on the session version, together with the single-use
 *   ids (nonces, presignatures) the core consumed; only a committed step's reply is released.
 * - The exact last request and reply are stored: a byte-identical resend gets the byte-identical
 *   reply without running the protocol again. Any other message for an answered round, or for a
 *   future round, aborts the session and destroys its state (`PROTOCOL_VIOLATION`).
 * - Expiry (idle or total lifetime) destroys the state.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  checkedSignature,
  checkPayloadBounds,
  coreProtocolName,
  describeInput,
  type ErrorCode,
  PayloadError,
  PayloadTooComplex,
  type ProtocolNameValue,
  type SessionStartedResponse,
  type SigningInput,
  type SignPayload,
  type StepReplyResponse,
  signingInput,
} from '@tessera/api';
import {
  BoundedCache,
  decodeEnvelope,
  dkg,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  frostSign,
  KeyShare,
  type PairGuard,
  type PairGuardState,
  pairGuardKey,
  reshare,
  SCHEMES,
  type Scheme,
  type Session,
  StagedLedger,
  TesseraError,
  taprootTweak,
} from '@tessera/core';
import type { Logger } from 'pino';
import { type EpochAnchor, MemoryEpochAnchor } from './anchor.ts';
import {
  ComputeFailed,
  ComputePool,
  ComputeTimeout,
  type ShareInput,
  type StartOutcome,
  type StepOutcome,
} from './compute.ts';
import type { ServerConfig } from './config.ts';
import type { Sealer } from './custody.ts';
import { ApiError, notFound } from './errors.ts';
import type { Metrics } from './metrics.ts';
import {
  type CoreResult,
  isEcdsaSignature,
  isKeyShare,
  isReshareResult,
  type ProtocolRunner,
  RUNNERS,
} from './protocols.ts';
import type { SessionEvents } from './redis.ts';
import {
  type AuditEvent,
  type CommitOutcome,
  type KeyEffect,
  type KeyRecord,
  type SessionRecord,
  type StartReply,
  type StepCommit,
  type Store,
  StoreUnavailable,
} from './store/store.ts';

/** The client is party 1 and the server party 2 of a 2-of-2 key. */
export const CLIENT_PARTY = 1;
export const SERVER_PARTY = 2;
const PARTIES = [CLIENT_PARTY, SERVER_PARTY];
const SHARE_CACHE_SIZE = 256;
const TRANSACTION_KINDS = new Set(['eip1559', 'eip2930', 'legacy']);
/** The longest a signing step may hold its pair marker before the marker counts as a crash's. */
const PAIR_MARKER_LEASE_MS = 120_000;

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const hex = bytesToHex;

/** The start request a session answers (idempotent starts): its reply is kept by its nonce. */
export type StartRequest = Pick<StartReply, 'nonce'>;

/** A started core session as `#open` stores it: state and first envelopes encoded. */
function encodedStart(
  runner: ProtocolRunner,
  step: { session: unknown; out: Envelope[] }
): { state: Uint8Array; round: number; out: Uint8Array[] } {
  const session = step.session as Session<unknown>;
  return { state: runner.encode(session), round: session.round, out: step.out.map(encodeEnvelope) };
}

/** SHA-256 in hex through OpenSSL: the request and share digests cover up to ~80 KiB per step. */
const nodeSha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const rand32 = () => new Uint8Array(randomBytes(32));

export interface EngineDeps {
  store: Store;
  sealer: Sealer;
  config: ServerConfig;
  metrics: Metrics;
  log: Logger;
  /** Where terminal session states are announced (other instances' WebSockets listen). */
  events?: SessionEvents;
  /** Where protocol arithmetic runs (default: on the event loop). */
  compute?: ComputePool;
  /** The confirmed generations, kept outside the store (default: in memory only). */
  anchor?: EpochAnchor;
  now?: () => number;
}

export class SessionEngine {
  readonly #store: Store;
  readonly #sealer: Sealer;
  readonly #config: ServerConfig;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #events: SessionEvents | undefined;
  readonly now: () => number;
  /**
   * Decoded shares by key id, epoch and sealed blob: decoding and validating a share costs more
   * than a signing round's bookkeeping. Bounded; an entry whose blob changed is not used.
   */
  readonly #shares = new BoundedCache<string, { blob: string; share: KeyShare; bytes: Uint8Array }>(
    SHARE_CACHE_SIZE,
    { onEvict: (_, dropped) => dropped.bytes.fill(0) }
  );
  readonly #compute: ComputePool;
  readonly #anchor: EpochAnchor;
  /**
   * Sessions with a step in progress in this process, by subject and session id (a second
   * concurrent step of the owner gets SESSION_BUSY; another subject finds no session).
   */
  readonly #busy = new Set<string>();
  /**
   * Test hook: called at named points (`<protocol>:computed|committed:round|final`) so a test can
   * kill the process there (security-tests §3, SRV-F-01..03).
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
    this.#anchor = d.anchor ?? new MemoryEpochAnchor();
    this.now = d.now ?? Date.now;
  }

  // ---- starting sessions -------------------------------------------------------------------

  async startKeygen(
    subject: string,
    scheme: string,
    label: string,
    request?: StartRequest
  ): Promise<SessionStartedResponse> {
    if (!(SCHEMES as readonly string[]).includes(scheme))
      throw new ApiError(
        'UNSUPPORTED_CURVE',
        `scheme "${scheme}" is not supported (use ecdsa, ed25519 or bip340)`
      );
    const sid0 = rand32();
    const step = dkg.start({
      scheme: scheme as Scheme,
      threshold: 2,
      parties: 2,
      me: SERVER_PARTY,
      sid0,
      label,
    });
    return this.#open({
      subject,
      runner: RUNNERS.dkg,
      scheme: scheme as Scheme,
      keyId: null,
      epoch: null,
      ...encodedStart(RUNNERS.dkg, step),
      nonces: [],
      params: { scheme: scheme as Scheme, threshold: 2, parties: PARTIES, sid0: hex(sid0), label },
      exclusive: false,
      audit: { action: 'keygen.start', details: { scheme } },
      request,
    });
  }

  async startSign(
    subject: string,
    keyId: string,
    payload: SignPayload,
    epochHex: string | undefined,
    request?: StartRequest
  ): Promise<SessionStartedResponse> {
    const key = await this.#ownedKey(subject, keyId);
    const epoch = epochHex ?? key.pendingEpoch ?? key.epoch;
    if (epoch !== key.epoch && epoch !== key.pendingEpoch)
      throw new ApiError('EPOCH_STALE', `epoch ${epoch} of key ${keyId} is no longer current`);
    // The cheap refusals come before the payload costs anything: a busy key, then its bounds.
    await this.#refuseBusy(key.keyId, 'sign');
    const input = await this.#signingInput(subject, key, payload);
    await this.#checkPolicy(subject, key, input, payload.kind);
    const loaded = await this.#loadShareInput(key, epoch);
    if (key.scheme === 'ecdsa') this.#refuseLocked(key, loaded.share);
    const stored = loaded.share;
    // BIP-341: both parties sign with shares of the tweaked output key; the client does the same.
    const share = input.taproot ? taprootTweak(stored, input.taproot.merkleRoot) : stored;
    const rid = rand32();
    let started: StartOutcome;
    if (key.scheme === 'ecdsa') {
      started = await this.#compute.signStart(
        { share: loaded.input, signers: PARTIES, rid, digest: input.bytes },
        { affinity: keyId, subject },
        share
      );
    } else {
      const ledger = new StagedLedger();
      const step = frostSign.start(
        { share, signers: PARTIES, message: input.bytes, rid },
        { ledger }
      );
      started = { ...encodedStart(RUNNERS['frost.sign'], step), nonces: ledger.take() };
    }
    return this.#open({
      subject,
      runner: key.scheme === 'ecdsa' ? RUNNERS['ecdsa.sign'] : RUNNERS['frost.sign'],
      scheme: key.scheme,
      keyId,
      epoch,
      state: started.state,
      round: started.round,
      out: started.out,
      nonces: started.nonces,
      params: {
        scheme: key.scheme,
        threshold: 2,
        parties: PARTIES,
        keyId,
        epoch,
        rid: hex(rid),
        ...(key.scheme === 'ecdsa' ? { digest: hex(input.bytes) } : { message: hex(input.bytes) }),
        ...(input.taproot ? { outputKey: hex(share.publicKey) } : {}),
      },
      exclusive: true,
      audit: {
        action: 'sign.start',
        details: {
          kind: payload.kind,
          ...describeInput(input),
          ...(input.taproot ? { outputKey: hex(share.publicKey) } : {}),
        },
      },
      request,
    });
  }

  /**
   * What the payload signs. Typed data past its limits is refused first, on the loop in time
   * linear in its size; typed data and transactions are then parsed and hashed on a worker
   * within `limits.payloadHashMs`, the other kinds (a hex decoding, one SHA-256) here.
   */
  async #signingInput(
    subject: string,
    key: KeyRecord,
    payload: SignPayload
  ): Promise<SigningInput> {
    try {
      checkPayloadBounds(payload);
      if (payload.kind !== 'eip712' && !TRANSACTION_KINDS.has(payload.kind))
        return signingInput(key.scheme, payload);
      const budget = this.#config.limits.payloadHashMs;
      try {
        return await this.#compute.payload(
          { scheme: key.scheme, payload },
          { affinity: key.keyId, subject },
          budget
        );
      } catch (e) {
        // Its worker was terminated over the budget, or died of the payload: one or the other.
        if (e instanceof ComputeFailed)
          throw new PayloadTooComplex(
            'budget',
            e instanceof ComputeTimeout
              ? `the payload took more than ${budget} ms to hash; it is refused`
              : 'hashing the payload exhausted its worker; it is refused'
          );
        throw e;
      }
    } catch (e) {
      if (e instanceof PayloadTooComplex) {
        const refusal = new ApiError('PAYLOAD_TOO_COMPLEX', e.message, {
          details: { limit: e.limit },
        });
        await this.#auditRefusal(subject, key.keyId, refusal, {
          kind: payload.kind,
          limit: e.limit,
        });
        throw refusal;
      }
      if (e instanceof PayloadError) throw new ApiError('BAD_PAYLOAD', e.message);
      throw e;
    }
  }

  /**
   * A refresh; as `recover`, the same protocol started by a client that restored its share from
   * a backup: the round-4 proofs show it holds the share, and both shares are replaced.
   */
  async startRefresh(
    subject: string,
    keyId: string,
    epochHex: string,
    purpose: 'refresh' | 'recover' = 'refresh',
    request?: StartRequest
  ): Promise<SessionStartedResponse> {
    const key = await this.#ownedKey(subject, keyId);
    await this.#refuseBusy(key.keyId, 'refresh');
    const latest = key.pendingEpoch ?? key.epoch;
    if (epochHex !== latest)
      throw new ApiError(
        'EPOCH_STALE',
        `epoch ${epochHex} is not the latest epoch of key ${keyId}`,
        {
          details: { epoch: latest },
        }
      );
    const share = await this.#loadShare(key, latest);
    const sid0 = rand32();
    const step = reshare.start({
      share,
      dealers: PARTIES,
      parties: PARTIES,
      threshold: 2,
      me: SERVER_PARTY,
      sid0,
    });
    return this.#open({
      subject,
      runner: RUNNERS.reshare,
      scheme: key.scheme,
      keyId,
      epoch: latest,
      ...encodedStart(RUNNERS.reshare, step),
      nonces: [],
      params: {
        scheme: key.scheme,
        threshold: 2,
        parties: PARTIES,
        keyId,
        epoch: latest,
        sid0: hex(sid0),
      },
      exclusive: true,
      audit: { action: `${purpose}.start` },
      request,
    });
  }

  /** The client holds its share of the pending epoch: make it current and delete older shares. */
  async confirmEpoch(subject: string, keyId: string, epoch: string): Promise<KeyRecord> {
    const key = await this.#ownedKey(subject, keyId);
    if (!(await this.#store.confirmEpoch(keyId, epoch)))
      throw new ApiError('EPOCH_STALE', `epoch ${epoch} is not the pending epoch of key ${keyId}`);
    await this.#anchorConfirmed(key, epoch);
    await this.#store.audit(this.#event(subject, keyId, null, 'refresh.confirm', 'ok', { epoch }));
    return (await this.#store.getKey(keyId)) ?? key;
  }

  async #open(o: {
    subject: string;
    runner: ProtocolRunner;
    scheme: Scheme;
    keyId: string | null;
    epoch: string | null;
    /** The session's first state, encoded, its round, and the first envelopes, encoded. */
    state: Uint8Array;
    round: number;
    out: Uint8Array[];
    nonces: string[];
    params: Omit<SessionStartedResponse['params'], 'sid'>;
    exclusive: boolean;
    audit: { action: string; details?: Record<string, unknown> };
    /** Keeps the reply with the session, under the start request's nonce (idempotent starts). */
    request: StartRequest | undefined;
  }): Promise<SessionStartedResponse> {
    const now = this.now();
    const id = hex(new Uint8Array(randomBytes(16)));
    // The core session id, kept with the params: every envelope of the session must carry it.
    const params = { ...o.params, sid: o.runner.decode(o.state).sid };
    const rec: SessionRecord = {
      id,
      subject: o.subject,
      kind: o.runner.kind,
      protocol: o.runner.name,
      scheme: o.scheme,
      keyId: o.keyId,
      epoch: o.epoch,
      status: 'active',
      version: 0,
      state: this.#sealer.sealSession(id, 0, o.state),
      params: JSON.stringify(params),
      round: o.round,
      totalRounds: o.runner.totalRounds,
      lastRequest: null,
      lastReply: null,
      createdAt: now,
      updatedAt: now,
    };
    const audit = [this.#event(o.subject, o.keyId, id, o.audit.action, 'ok', o.audit.details)];
    const started: SessionStartedResponse = {
      sessionId: id,
      protocol: o.runner.name,
      party: CLIENT_PARTY,
      serverParty: SERVER_PARTY,
      totalRounds: o.runner.totalRounds,
      params,
      messages: o.out.map(b64),
      expiresAt: now + this.#config.sessions.idleMs,
    };
    const request = o.request
      ? { subject: o.subject, nonce: o.request.nonce, reply: JSON.stringify(started) }
      : undefined;
    const create = () =>
      this.#store.createSession(rec, {
        nonces: o.nonces,
        exclusive: o.exclusive,
        audit,
        ...(request ? { request } : {}),
      });
    let created = await create();
    // The active session of this key may have expired without being reaped yet (the reaper runs
    // every 30 s): expire what is due and try once more. Reaping on every start instead ran three
    // write statements and a count per signature.
    if (created === 'busy' && (await this.reap()) > 0) created = await create();
    if (created === 'busy')
      throw new ApiError(
        'KEY_BUSY',
        `another ${o.runner.kind} session of key ${o.keyId} is active`
      );
    if (created === 'nonce-reused') throw new ApiError('INTERNAL', 'a fresh request id collided');
    // The same start request, run twice at once, already has its session and reply.
    if (created === 'replayed')
      throw new ApiError(
        'SESSION_BUSY',
        'this start request is being answered by another request; resend to get its reply',
        { retryAfter: 1 }
      );
    this.#metrics.sessions.inc({ protocol: o.runner.name, outcome: 'started' });
    this.#log.info({ sessionId: id, protocol: o.runner.name, keyId: o.keyId }, 'session started');
    return started;
  }

  // ---- steps -------------------------------------------------------------------------------

  /**
   * Delivers the client's envelopes (base64) and returns the reply as the exact JSON text sent,
   * so that a resend gets the same bytes.
   */
  async step(subject: string, sessionId: string, messages: string[]): Promise<string> {
    // Keyed by subject too: another subject's request finds no session (404), busy or not.
    const busy = `${subject}\n${sessionId}`;
    if (this.#busy.has(busy))
      throw new ApiError('SESSION_BUSY', 'another request for this session is being processed');
    this.#busy.add(busy);
    try {
      return await this.#step(subject, sessionId, messages);
    } finally {
      this.#busy.delete(busy);
    }
  }

  async #step(subject: string, sessionId: string, messages: string[]): Promise<string> {
    const started = performance.now();
    const rec = await this.ownedSession(subject, sessionId);
    const raw = messages.map((m) => new Uint8Array(Buffer.from(m, 'base64')));
    const requestHash = nodeSha256(Buffer.concat(raw.flatMap((r) => [u32(r.length), r])));
    if (rec.lastRequest === requestHash && rec.lastReply !== null) return rec.lastReply;
    if (rec.status === 'expired')
      throw new ApiError('SESSION_EXPIRED', 'the session expired; start a new one');
    if (rec.status !== 'active')
      throw new ApiError('SESSION_CLOSED', `the session is ${rec.status}`);
    const now = this.now();
    if (
      now - rec.updatedAt > this.#config.sessions.idleMs ||
      now - rec.createdAt > this.#config.sessions.lifetimeMs
    ) {
      await this.reap();
      throw new ApiError('SESSION_EXPIRED', 'the session expired; start a new one');
    }
    if (raw.length === 0) throw new ApiError('SCHEMA', 'messages: at least one envelope is needed');
    let envs: Envelope[];
    try {
      envs = raw.map((r) => decodeEnvelope(r));
    } catch (e) {
      return this.#violation(rec, `malformed envelope: ${(e as Error).message}`);
    }
    if (rec.state === null) throw new ApiError('SESSION_CLOSED', 'the session has no state');
    const state = this.#sealer.openSession(rec.id, rec.version, rec.state);
    const mismatch = this.#headerMismatch(rec, state, envs);
    if (mismatch) return this.#violation(rec, `envelope ${mismatch} does not match the session`);
    const key = rec.keyId ? await this.#store.getKey(rec.keyId) : null;
    if (rec.keyId && !key) throw new ApiError('SESSION_CLOSED', 'the key of this session is gone');
    let loaded: { share: KeyShare; input: ShareInput } | undefined;
    if (rec.kind === 'sign' && rec.scheme === 'ecdsa') {
      try {
        loaded = await this.#loadShareInput(key as KeyRecord, rec.epoch as string);
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
      this.#refuseLocked(key as KeyRecord, loaded.share);
    }
    // A durable pair marker only for a step that runs a guarded check; any other step gets a
    // guard that refuses, so a check moved to another round fails loudly instead of unguarded.
    const guarded = envs.some((e) => ecdsaSign.guardedRounds.includes(e.round));
    const guard =
      loaded && guarded
        ? await this.#pairGuard(pairGuardKey(loaded.share, CLIENT_PARTY))
        : undefined;
    // A ban the store holds as a marker (a crashed step's, §15.1) is anchored too.
    if (guard?.state === 'banned' && loaded) this.#lock(rec.keyId as string, loaded.share);
    let computed: StepOutcome;
    try {
      computed = await this.#compute.step(
        {
          protocol: rec.protocol as ProtocolNameValue,
          state,
          envelopes: raw,
          ...(loaded ? { share: loaded.input } : {}),
          guard: !loaded ? 'none' : guard ? guard.state : 'refuse',
          sender: CLIENT_PARTY,
        },
        { affinity: rec.keyId ?? rec.id, subject: rec.subject },
        loaded?.share
      );
      if (computed.banned) guard?.guard.ban('');
      if ((computed.banned || computed.bannedShare) && loaded)
        this.#lock(rec.keyId as string, loaded.share);
    } catch (e) {
      // The worker died mid-step: whether a guarded check failed is unknown, and §15.1 reads an
      // unknown outcome as a failure (as it reads a marker left by a crashed process).
      if (e instanceof ComputeFailed) {
        guard?.guard.ban('');
        // Only a step whose marker was taken could have run the check (settle bans only then).
        if (guard?.state === 'ok' && loaded) this.#lock(rec.keyId as string, loaded.share);
      }
      throw e;
    } finally {
      await guard?.settle();
    }
    if (computed.kind === 'violation') return this.#violation(rec, computed.why);
    if (computed.kind === 'error') {
      const e = computed.error;
      // A core error from a worker is a copy of its data: dispatch on `code` and `check`.
      const core = e instanceof TesseraError ? e : null;
      if (core?.code === 'PROTOCOL_ABORT') return this.#abort(rec, core, computed.bannedShare);
      if (core?.code === 'MESSAGE_REJECTED') return this.#violation(rec, core.message);
      if (core?.check === 'PairBanned') throw new ApiError('KEY_LOCKED', e.message);
      // The key's one signing session has a step in flight (on another instance): retryable.
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
    const effects: KeyEffect[] = [];
    const audit: AuditEvent[] = [];
    let publicResult: StepReplyResponse['result'];
    if (result !== undefined) {
      publicResult = this.#finish(rec, key, result, effects, audit);
    }
    if (computed.bannedShare) effects.push(this.#shareEffect(computed.bannedShare, rec));
    const reply: StepReplyResponse = {
      sessionId: rec.id,
      status: result !== undefined ? 'done' : 'active',
      round: computed.round,
      messages: computed.out.map(b64),
      ...(publicResult ? { result: publicResult } : {}),
    };
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
      audit,
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
      // Anchored only if this confirmation took: a refresh that committed meanwhile has moved the
      // pending epoch on, and anchoring the old one would put the anchor ahead of the store.
      if (rec.kind === 'sign' && key && rec.epoch !== null && rec.epoch === key.pendingEpoch) {
        if (await this.#store.confirmEpoch(key.keyId, rec.epoch))
          await this.#anchorConfirmed(key, rec.epoch);
      }
    }
    this.#metrics.roundSeconds.observe(
      { protocol: rec.protocol },
      (performance.now() - started) / 1000
    );
    return replyText;
  }

  /** Turns a core result into the public reply and the durable effects of the last step. */
  #finish(
    rec: SessionRecord,
    key: KeyRecord | null,
    result: CoreResult,
    effects: KeyEffect[],
    audit: AuditEvent[]
  ): StepReplyResponse['result'] {
    if (rec.kind === 'keygen' && isKeyShare(result)) {
      const params = JSON.parse(rec.params) as { label?: string };
      const keyId = result.keyIdHex;
      const epoch = hex(result.epoch);
      const record: KeyRecord = {
        keyId,
        subject: rec.subject,
        scheme: result.scheme,
        label: params.label ?? '',
        publicKey: hex(result.publicKey),
        threshold: result.threshold,
        parties: [...result.parties],
        party: CLIENT_PARTY,
        serverParty: SERVER_PARTY,
        epoch,
        pendingEpoch: null,
        policy: this.#config.policy,
        createdAt: this.now(),
      };
      effects.push({
        kind: 'create',
        key: record,
        share: this.#sealer.sealShare(keyId, SERVER_PARTY, epoch, result.toBytes()),
      });
      audit.push(
        this.#event(rec.subject, keyId, rec.id, 'keygen', 'ok', { scheme: result.scheme })
      );
      return { keyId, scheme: result.scheme, publicKey: record.publicKey, epoch };
    }
    if (rec.kind === 'refresh' && isReshareResult(result) && key && result.share) {
      const epoch = hex(result.epoch);
      if (hex(result.keyId) !== key.keyId)
        throw new ApiError('INTERNAL', 'refresh changed the key id');
      effects.push({
        kind: 'refresh',
        keyId: key.keyId,
        epoch,
        share: this.#sealer.sealShare(key.keyId, SERVER_PARTY, epoch, result.share.toBytes()),
      });
      audit.push(this.#event(rec.subject, key.keyId, rec.id, 'refresh', 'ok', { epoch }));
      return { keyId: key.keyId, epoch };
    }
    if (rec.kind === 'sign' && key && (isEcdsaSignature(result) || result instanceof Uint8Array)) {
      const params = JSON.parse(rec.params) as {
        digest?: string;
        message?: string;
        outputKey?: string;
      };
      const signed = hexToBytes((key.scheme === 'ecdsa' ? params.digest : params.message) ?? '');
      // Invariant 4: checked again here, independently of the core, against the stored key (or
      // the Taproot output key the start tweaked it to).
      const body = checkedSignature(key.scheme, params.outputKey ?? key.publicKey, signed, result);
      if (!body)
        throw new ApiError('INTERNAL', 'the signature does not verify under the stored key');
      const digest = signed.length === 32 ? hex(signed) : hex(sha256(signed));
      audit.push(this.#event(rec.subject, key.keyId, rec.id, 'sign', 'ok', { digest }));
      return body;
    }
    throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
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
    const now = this.now();
    if (
      rec.status === 'expired' ||
      now - rec.updatedAt > this.#config.sessions.idleMs ||
      now - rec.createdAt > this.#config.sessions.lifetimeMs
    )
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
    const effects = bannedShare ? [this.#shareEffect(bannedShare, rec)] : [];
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

  // ---- helpers -----------------------------------------------------------------------------

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
  #headerMismatch(rec: SessionRecord, state: Uint8Array, envs: Envelope[]): string | null {
    const params = JSON.parse(rec.params) as { sid?: string };
    // Sessions opened before the sid was recorded: read it from their state.
    const sid = params.sid ?? RUNNERS[rec.protocol as ProtocolNameValue].decode(state).sid;
    const proto = coreProtocolName(rec.protocol as ProtocolNameValue, rec.scheme as Scheme);
    for (const e of envs) {
      if (e.v !== 1) return 'version';
      if (e.proto !== proto) return 'protocol';
      if (e.sid !== sid) return 'session id';
      if (e.from !== CLIENT_PARTY) return 'sender';
      if (e.to !== 0 && e.to !== SERVER_PARTY) return 'recipient';
    }
    return null;
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
   * Turns the pair markers of crashed steps into bans (protocol-spec §15.1). Alone on its store,
   * this process's start-up sees only markers of its own crashed past; on a shared store, only
   * markers older than the lease can be a dead instance's.
   */
  async recoverPairMarkers(): Promise<number> {
    const n = await this.#store.recoverPairMarkers(
      this.#store.shared ? PAIR_MARKER_LEASE_MS : null
    );
    if (n > 0)
      this.#log.warn(
        { pairs: n },
        'pair markers left by a crash are now bans (protocol-spec §15.1)'
      );
    return n;
  }

  async #ownedKey(subject: string, keyId: string): Promise<KeyRecord> {
    // Another subject's key is indistinguishable from a missing one, in the answer and in the
    // time it takes (no existence oracle).
    const key = await this.#store.getKey(keyId, subject);
    if (!key || key.subject !== subject) throw notFound('key');
    return key;
  }

  async #loadShare(key: KeyRecord, epoch: string): Promise<KeyShare> {
    return (await this.#loadShareInput(key, epoch)).share;
  }

  /**
   * The share of `epoch`, decoded, and its encoding as a compute job carries it (named by the
   * sealed blob's digest, under which workers keep it decoded).
   */
  async #loadShareInput(
    key: KeyRecord,
    epoch: string
  ): Promise<{ share: KeyShare; input: ShareInput }> {
    const blob = await this.#store.getShare(key.keyId, epoch);
    if (!blob) throw new ApiError('EPOCH_STALE', `no share of epoch ${epoch} for key ${key.keyId}`);
    const cacheKey = `${key.keyId}:${epoch}`;
    const digest = nodeSha256(blob);
    const cached = this.#shares.get(cacheKey);
    if (cached?.blob === digest) {
      this.#checkAnchor(key, epoch, cached.share);
      return { share: cached.share, input: { digest, bytes: cached.bytes } };
    }
    const bytes = this.#sealer.openShare(key.keyId, SERVER_PARTY, epoch, blob);
    let share: KeyShare;
    try {
      share = KeyShare.fromBytes(bytes);
    } catch {
      bytes.fill(0);
      throw new ApiError('KEY_CORRUPTED', `the stored share of key ${key.keyId} does not decode`);
    }
    if (
      share.keyIdHex !== key.keyId ||
      hex(share.epoch) !== epoch ||
      share.partyId !== SERVER_PARTY
    )
      throw new ApiError(
        'KEY_CORRUPTED',
        `the stored share of key ${key.keyId} is not the one its record names`
      );
    try {
      this.#checkAnchor(key, epoch, share);
    } catch (e) {
      bytes.fill(0);
      throw e;
    }
    // Plaintext share bytes live as long as the decoded share they came with, and no longer.
    if (cached) cached.bytes.fill(0);
    this.#shares.set(cacheKey, { blob: digest, share, bytes });
    return { share, input: { digest, bytes } };
  }

  /**
   * SRV-S-03: a share older than the generation anchored outside the store means the store was
   * rolled back to before a refresh; it never signs again. Loading the current epoch catches the
   * anchor up when a crash came between the store's confirmation and the anchor's record.
   */
  #checkAnchor(key: KeyRecord, epoch: string, share: KeyShare): void {
    const anchored = this.#anchor.confirmed(key.keyId);
    if (share.generation < anchored) {
      this.#log.error(
        { keyId: key.keyId, epoch, generation: share.generation, anchored },
        'epoch rollback: the store holds a share older than a confirmed refresh'
      );
      throw new ApiError(
        'EPOCH_ROLLBACK',
        `key ${key.keyId}: the stored share is of generation ${share.generation}, but generation ${anchored} was confirmed; the store was rolled back`
      );
    }
    if (epoch !== key.epoch || share.generation <= anchored) return;
    try {
      this.#anchor.record(key.keyId, share.generation);
    } catch (e) {
      // Signing goes on; the anchor catches up at a later load.
      this.#log.warn({ keyId: key.keyId, err: (e as Error).message }, 'epoch anchor not written');
    }
  }

  /**
   * SRV-S-04 / T-OT-05: a cheat detected on this key's pair is anchored outside the store before
   * the step commits, so a store restored from before the ban still refuses to sign. If the
   * anchor cannot be written the ban still goes to the store.
   */
  #lock(keyId: string, share: KeyShare): void {
    try {
      this.#anchor.lock(keyId, share.generation);
    } catch (e) {
      this.#log.error(
        { keyId, err: (e as Error).message },
        'could not anchor a pair ban; the store still records it'
      );
    }
  }

  #refuseLocked(key: KeyRecord, share: KeyShare): void {
    // A ban the stored share holds but the anchor does not (recorded before the anchor existed,
    // or by another instance) is anchored now; the core refuses the pair either way.
    if (share.isBanned(CLIENT_PARTY) && this.#anchor.lockedThrough(key.keyId) < share.generation)
      this.#lock(key.keyId, share);
    const through = this.#anchor.lockedThrough(key.keyId);
    if (share.generation > through) return;
    if (!share.isBanned(CLIENT_PARTY))
      this.#log.error(
        { keyId: key.keyId, generation: share.generation },
        'the store lost a pair ban that the epoch anchor holds (restored from before the ban?)'
      );
    throw new ApiError(
      'KEY_LOCKED',
      `key ${key.keyId} is locked after a detected cheat; a reshare is needed`
    );
  }

  /**
   * After the store made `epoch` current: anchor its generation. The confirmation stands if this
   * fails; the next load of the epoch records it.
   */
  async #anchorConfirmed(key: KeyRecord, epoch: string): Promise<void> {
    try {
      await this.#loadShare({ ...key, epoch, pendingEpoch: null }, epoch);
    } catch (e) {
      this.#log.warn(
        { keyId: key.keyId, epoch, err: (e as Error).message },
        'could not anchor a confirmed epoch yet'
      );
    }
  }

  /** A share whose bans changed (its encoding), sealed for the store. */
  #shareEffect(share: Uint8Array, rec: SessionRecord): KeyEffect {
    const epoch = rec.epoch as string;
    const keyId = rec.keyId as string;
    return {
      kind: 'share',
      keyId,
      epoch,
      share: this.#sealer.sealShare(keyId, SERVER_PARTY, epoch, share),
    };
  }

  /**
   * The §15.1 marker, written durably before the step and settled after it: the core's checks
   * then see the stored state synchronously. A marker left by a crash reads as a ban.
   */
  async #pairGuard(
    pair: string
  ): Promise<{ state: PairGuardState; guard: PairGuard; settle(): Promise<void> }> {
    const owner = hex(new Uint8Array(randomBytes(16)));
    let state: Awaited<ReturnType<Store['pairBegin']>>;
    try {
      state = await this.#store.pairBegin(pair, this.now(), owner);
    } catch (e) {
      // The insert may have committed without our hearing: end the marker once the store is
      // back, or it would read as a crash's and ban the pair.
      this.#settleLater(() => this.#store.pairEnd(pair, owner));
      throw e;
    }
    let banned = false;
    const guard: PairGuard = {
      begin: () => state,
      end: () => {},
      ban: () => {
        banned = true;
      },
    };
    return {
      state,
      guard,
      settle: async () => {
        if (state !== 'ok') return;
        const write = () => (banned ? this.#store.pairBan(pair) : this.#store.pairEnd(pair, owner));
        try {
          await write();
        } catch (e) {
          if (!(e instanceof StoreUnavailable)) throw e;
          this.#settleLater(write);
        }
      },
    };
  }

  /**
   * Retries a marker write while the store is unreachable, for less than the marker lease: a
   * marker still pending after the lease becomes a ban, the safe side.
   */
  #settleLater(write: () => Promise<void>): void {
    const deadline = this.now() + PAIR_MARKER_LEASE_MS / 2;
    const attempt = (delay: number) =>
      setTimeout(() => {
        write().catch((e: Error) => {
          if (this.now() < deadline) attempt(Math.min(delay * 2, 5_000));
          else this.#log.error({ err: e.message }, 'could not settle a pair marker');
        });
      }, delay).unref();
    attempt(250);
  }

  /** POLICY_DENIED, audited, when the key's policy refuses the request. */
  async #checkPolicy(
    subject: string,
    key: KeyRecord,
    input: SigningInput,
    kind: string
  ): Promise<void> {
    const why = await this.#policyRefusal(key, input, kind);
    if (why === null) return;
    const refusal = new ApiError('POLICY_DENIED', `the key's policy refuses this request: ${why}`);
    await this.#auditRefusal(subject, key.keyId, refusal, { kind, ...describeInput(input) });
    throw refusal;
  }

  /** Why the key's policy refuses the request, or null. */
  async #policyRefusal(key: KeyRecord, input: SigningInput, kind: string): Promise<string | null> {
    const p = key.policy;
    if (input.blind && !p.blindSigning)
      return `"${kind}" payloads are blind signing, which this key does not allow; send a typed payload`;
    if (p.allowedChainIds && kind === 'eip712') {
      // The chain checked must be the chain signed (probe M3): a domain without chainId is valid
      // on every chain, and a domain type of the request's own may leave chainId out or rename it.
      if (input.domainType !== 'standard')
        return 'typed data with its own EIP712Domain type: send the standard domain type (name, version, chainId, verifyingContract, salt, as present)';
      if (input.chainId === undefined)
        return 'typed data without domain.chainId is valid on every chain';
    }
    if (
      p.allowedChainIds &&
      input.chainId !== undefined &&
      !p.allowedChainIds.includes(input.chainId)
    )
      return `chain id ${input.chainId} is not allowed`;
    // Every transaction kind (eip1559, eip2930, legacy) is checked alike.
    const transaction = TRANSACTION_KINDS.has(kind);
    if (p.allowedChainIds && transaction && input.chainId === undefined)
      return 'the chain id is missing';
    if (p.allowedDestinations && transaction) {
      const allowed = p.allowedDestinations.map((a) => a.toLowerCase());
      if (!input.to || !allowed.includes(input.to))
        return `destination ${input.to ?? '(contract creation)'} is not allowed`;
    }
    if (
      p.maxValueWei !== undefined &&
      input.value !== undefined &&
      input.value > BigInt(p.maxValueWei)
    )
      return `value ${input.value} wei is above the limit of ${p.maxValueWei}`;
    if (p.dailyLimit !== undefined) {
      const since = this.now() - 24 * 3600 * 1000;
      if ((await this.#store.countSignSessions(key.keyId, since)) >= p.dailyLimit)
        return `the daily limit of ${p.dailyLimit} signatures is reached`;
    }
    return null;
  }

  /**
   * A refused sign request leaves an audit row: who, which key, the code and reason, and what
   * the payload is (its kind, and its digest and parsed fields or the limit it broke), never the
   * payload. The refusal stands if the store cannot write it.
   */
  async #auditRefusal(
    subject: string,
    keyId: string,
    refusal: ApiError,
    details: Record<string, unknown>
  ): Promise<void> {
    try {
      await this.#store.audit(
        this.#event(subject, keyId, null, 'sign.refused', 'refused', {
          code: refusal.code,
          reason: refusal.message,
          ...details,
        })
      );
    } catch (e) {
      this.#log.warn(
        { keyId, err: (e as Error).message },
        'could not audit a refused sign request'
      );
    }
  }

  /**
   * KEY_BUSY before any work while the key has an active session of `kind` that is not yet due
   * to expire (one that is due is reaped when the new session is created).
   */
  async #refuseBusy(keyId: string, kind: 'sign' | 'refresh'): Promise<void> {
    const active = await this.#store.activeSession(keyId, kind);
    if (!active) return;
    const now = this.now();
    const { idleMs, lifetimeMs } = this.#config.sessions;
    if (now - active.updatedAt > idleMs || now - active.createdAt > lifetimeMs) return;
    throw new ApiError('KEY_BUSY', `another ${kind} session of key ${keyId} is active`);
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

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
