/**
 * The store interface: everything the server keeps durably. SQLite implements it for the embedded
 * default; PostgreSQL implements it again for scale-out, and both run the same compliance
 * suite. Methods are async so a networked store fits; single-use guarantees are expressed as
 * compare-and-swap (session versions) and unique inserts (nonce ledger, request nonces).
 * @module
 */
import type { Policy } from '@tessera/api';

export type SchemeName = 'ecdsa' | 'ed25519' | 'bip340';
export type SessionKind = 'keygen' | 'sign' | 'refresh';
export type SessionState = 'active' | 'done' | 'aborted' | 'expired';

export interface KeyRecord {
  keyId: string;
  subject: string;
  scheme: SchemeName;
  label: string;
  publicKey: string;
  threshold: number;
  parties: number[];
  /** The client's party id and the server's. */
  party: number;
  serverParty: number;
  epoch: string;
  /** After a refresh, the new epoch until the client confirms it holds its new share. */
  pendingEpoch: string | null;
  policy: Policy;
  createdAt: number;
  /** A key of the 2-of-3 topology: this node's place in it and its peer node (null: 2-of-2). */
  topology: KeyTopology | null;
  /** A recovery of the key requested and not yet done (it blocks signing), or cancelled. */
  recovery: RecoveryState | null;
  /** Set once a recovery issued a new key id for the same public key: that key id. */
  retiredBy: string | null;
  /** Addresses the owner registered for the key (public facts, e.g. by a gateway). */
  addresses: Record<string, string> | null;
}

/** Node ids of the 2-of-3 topology: node 1 co-signs with the client, node 2 only recovers. */
export type NodeId = 'node1' | 'node2';

/** A node's public identity: Ed25519 to verify what it signs, X25519 to seal to it. */
export interface NodeIdentityPublic {
  nodeId: NodeId;
  ed25519: string;
  x25519: string;
  fingerprint: string;
}

export interface KeyTopology {
  kind: '2-of-3';
  /** This node's id in the key (party 2 is node 1, party 3 node 2; the client is party 1). */
  node: NodeId;
  /** The other node, as bound into the key's configuration at key generation. */
  peer: NodeIdentityPublic;
}

export interface RecoveryState {
  state: 'pending' | 'cancelled';
  requestedAt: number;
  /** When the recovery may run (requestedAt + the node's configured delay). */
  readyAt: number;
}

export interface SessionRecord {
  id: string;
  subject: string;
  kind: SessionKind;
  protocol: string;
  scheme: SchemeName;
  keyId: string | null;
  /** The key epoch the session runs on (sign, refresh). */
  epoch: string | null;
  status: SessionState;
  /** Incremented by every committed step: the compare-and-swap token. */
  version: number;
  /** Sealed core session (null once finished, aborted or expired). */
  state: Uint8Array | null;
  /** What the client starts its own session with (JSON, public). */
  params: string;
  round: number;
  totalRounds: number;
  /** Hash of the last step request and the exact reply it got (resends get the same bytes). */
  lastRequest: string | null;
  lastReply: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A key generation or refresh that finished: written atomically with the session's last step. */
export type KeyEffect =
  | { kind: 'create'; key: KeyRecord; share: Uint8Array }
  | { kind: 'refresh'; keyId: string; epoch: string; share: Uint8Array }
  | { kind: 'share'; keyId: string; epoch: string; share: Uint8Array }
  /** A recovery finished: the old key id is retired for good in favour of `successor`. */
  | { kind: 'retire'; keyId: string; successor: string };

export interface AuditEvent {
  at: number;
  subject: string;
  keyId: string | null;
  sessionId: string | null;
  action: string;
  outcome: string;
  /** Public facts only: digest, culprit, check, parsed transaction fields. */
  details?: Record<string, unknown>;
}

/**
 * A verifiable (PVE) backup of a key's client share (docs/pve-backup.md), as the server checked
 * and keeps it. Nothing in it is secret to the server: the ciphertext and the sealed share open
 * only under the backup key's private key, which the server never sees.
 */
export interface BackupRecord {
  /** Random, 16 bytes hex. */
  backupId: string;
  keyId: string;
  subject: string;
  /** The key epoch of the share backed up. */
  epoch: string;
  /** The backup public key (`encodeBackupKey`). */
  backupKey: string;
  /** The PVE ciphertext with its proof (`pveEncrypt`). */
  pve: Uint8Array;
  /** The whole client share sealed to the backup key (`pveSealShare`). */
  sealedShare: Uint8Array;
  createdAt: number;
}

export interface StepCommit {
  status: SessionState;
  state: Uint8Array | null;
  round: number;
  lastRequest: string | null;
  lastReply: string | null;
  updatedAt: number;
  /** Single-use ids consumed by this step (nonces, presignatures): must all be new. */
  nonces: string[];
  effects: KeyEffect[];
  audit: AuditEvent[];
}

export type CommitOutcome = 'ok' | 'conflict' | 'nonce-reused';

/**
 * A start request claimed by its nonce (idempotent starts): `claimed` for the first request with
 * the nonce; for a later one, the stored reply if it is the same request (same digest) and that
 * one succeeded, `pending` while it is still running (or ended without a reply being kept), and
 * `conflict` if it is another request.
 */
export type StartClaim =
  | { state: 'claimed' }
  | { state: 'replay'; reply: string }
  | { state: 'pending' }
  | { state: 'conflict' };

/** The start request a new session answers: its reply is kept with the session, atomically. */
export interface StartReply {
  subject: string;
  nonce: string;
  /** The exact JSON text sent (public: session id, params, the server's first envelopes). */
  reply: string;
}

export type PairMarker = 'ok' | 'banned' | 'busy';

/**
 * The store cannot be reached or answered too slowly (connection refused or lost, timeout, the
 * database shutting down). Transient: the request changed nothing it did not commit, and the
 * caller may retry (the API answers 503 with a retry hint).
 */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
}

export interface Store {
  /** What and where (for `status` and the start-up line); no credentials. */
  readonly description: string;
  /** True when several server instances may share this store (PostgreSQL), false for SQLite. */
  readonly shared: boolean;
  /** Creates or migrates the schema. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** The wrapped data key, written once. */
  getWrappedDataKey(): Promise<Uint8Array | null>;
  putWrappedDataKeyIfAbsent(wrapped: Uint8Array): Promise<Uint8Array>;
  /** A named value written once (the node identity): the first writer's value wins. */
  getMeta(name: string): Promise<Uint8Array | null>;
  putMetaIfAbsent(name: string, value: Uint8Array): Promise<Uint8Array>;

  /**
   * The key, or null. With `subject`, a key of another subject is null too, found by the same
   * query as a missing one, so the two take the same time (no existence oracle, docs/security.md
   *
   */
  getKey(keyId: string, subject?: string): Promise<KeyRecord | null>;
  listKeys(subject: string): Promise<KeyRecord[]>;
  getShare(keyId: string, epoch: string): Promise<Uint8Array | null>;
  /** Makes the pending epoch current and deletes every other epoch's share. */
  confirmEpoch(keyId: string, epoch: string): Promise<boolean>;
  /** Records (or clears) the key's recovery request; false if the key is gone or retired. */
  setRecovery(keyId: string, recovery: RecoveryState | null): Promise<boolean>;
  /** Sets the key's label and registered addresses (each when given); false if it is gone. */
  setKeyMeta(
    keyId: string,
    meta: { label?: string; addresses?: Record<string, string> }
  ): Promise<boolean>;

  /**
   * Inserts a session with its first state. Refused with `busy` when `exclusiveKey` is set and
   * another active session of that kind exists for the key, with `nonce-reused` if a nonce id
   * was consumed before, and with `replayed` if `request` is given and its claim already holds a
   * reply (or is gone): the session is then not created.
   */
  createSession(
    rec: SessionRecord,
    opts: { nonces: string[]; exclusive: boolean; audit: AuditEvent[]; request?: StartReply }
  ): Promise<'ok' | 'busy' | 'nonce-reused' | 'replayed'>;
  /**
   * The key's active session of `kind`, if any, with its times (a start refuses a busy key before
   * doing any work; `createSession` still decides).
   */
  activeSession(
    keyId: string,
    kind: 'sign' | 'refresh'
  ): Promise<{ createdAt: number; updatedAt: number } | null>;
  /**
   * The session, or null. With `subject`, another subject's session is null too, found by the
   * same index as a missing one (no existence oracle in the timing, as for `getKey`).
   */
  getSession(id: string, subject?: string): Promise<SessionRecord | null>;
  /** Applies a step if the session is still at `version`, atomically with its effects. */
  commitStep(id: string, version: number, c: StepCommit): Promise<CommitOutcome>;
  /** Marks active sessions idle since `idleBefore` or created before `createdBefore` expired, wiping their state. */
  expireSessions(idleBefore: number, createdBefore: number): Promise<number>;
  countActiveSessions(): Promise<number>;
  /** Sign sessions of a key started since `since` (the policy's daily count). */
  countSignSessions(keyId: string, since: number): Promise<number>;

  /** Records a start request's nonce; false if it was seen (replay). */
  rememberRequestNonce(subject: string, nonce: string, expiresAt: number): Promise<boolean>;
  /**
   * Claims a start request's nonce for the request of `digest` (until `expiresAt`), or says what
   * an earlier request with that nonce left (see `StartClaim`). One claim per (subject, nonce),
   * also under concurrency.
   */
  claimStart(
    subject: string,
    nonce: string,
    digest: string,
    expiresAt: number
  ): Promise<StartClaim>;
  /** Drops a claim that got no reply (the start failed), so that its resend runs again. */
  releaseStart(subject: string, nonce: string): Promise<void>;
  /** True if the nonce id was consumed. */
  isNonceUsed(id: string): Promise<boolean>;

  /**
   * Pending-check markers (docs/protocols/ecdsa.md, "Pending checks"), one per (key epoch, pair). A
   * pending marker is dated and owned by the step that began it (`owner`, random per step), which
   * alone may end it. `at` is the caller's clock; a shared store dates markers by the database's
   * clock instead, so that instances with skewed clocks agree on a marker's age.
   */
  pairBegin(pair: string, at: number, owner: string): Promise<PairMarker>;
  pairEnd(pair: string, owner: string): Promise<void>;
  pairBan(pair: string): Promise<void>;
  /**
   * Pending markers become bans (docs/protocols/ecdsa.md, "Pending checks"): their step's process
   * died mid-computation. `null`: every pending marker (one process alone on its store, at
   * start-up). A number: markers older than that many milliseconds, by the store's clock (several
   * instances: a live instance's marker is younger than the lease).
   */
  recoverPairMarkers(olderThanMs: number | null): Promise<number>;

  /**
   * One-time WebSocket tickets, stored by hash so that any instance can redeem one another
   * issued. `takeTicket` deletes and returns it (null if unknown, used or expired).
   */
  putTicket(
    hash: string,
    t: { subject: string; sessionId: string; expiresAt: number }
  ): Promise<void>;
  takeTicket(hash: string, now: number): Promise<{ subject: string; sessionId: string } | null>;

  /** A cheap round trip (health checks); throws StoreUnavailable when the store is down. */
  ping(): Promise<void>;

  /**
   * Keeps a verifiable backup and its audit row, in one transaction, unless the key already holds
   * `max` backups of `rec.epoch` (`limit`: nothing is written). Backups of the key's other epochs
   * are deleted in the same transaction: a refresh replaced their shares, and the server no
   * longer holds the other half of them.
   */
  putBackup(rec: BackupRecord, o: { max: number; audit: AuditEvent }): Promise<'ok' | 'limit'>;
  /** How many backups of `epoch` the key holds. */
  countBackups(keyId: string, epoch: string): Promise<number>;
  /** The key's backups for its owner (another subject's key: none), newest first. */
  listBackups(keyId: string, subject: string): Promise<BackupRecord[]>;

  audit(e: AuditEvent): Promise<void>;
  listAudit(filter: { keyId?: string; limit: number }): Promise<AuditEvent[]>;
}
