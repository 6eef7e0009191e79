/**
 * The embedded store: one SQLite file (better-sqlite3), WAL journal, `synchronous=FULL` so a
 * committed step survives a power cut. Every multi-row write is one transaction; single use is a
 * primary key (nonce ledger, request nonces) or a version compare-and-swap (sessions).
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  AUDIT_COLUMNS,
  type AuditRow,
  auditOf,
  auditValues,
  BACKUP_COLUMNS,
  type BackupRow,
  backupOf,
  backupValues,
  claimOf,
  KEY_COLUMNS,
  type KeyRow,
  keyOf,
  keyValues,
  SESSION_COLUMNS,
  type SessionRow,
  sessionOf,
  sessionValues,
} from './rows.ts';
import {
  type AuditEvent,
  type BackupRecord,
  type CommitOutcome,
  type KeyEffect,
  type KeyRecord,
  type PairMarker,
  type RecoveryState,
  type SessionRecord,
  type StartClaim,
  type StartReply,
  type StepCommit,
  type Store,
  StoreUnavailable,
} from './store.ts';

/** Schema migrations, applied in order once each. Never edit a landed one: append. */
const MIGRATIONS: string[] = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
   CREATE TABLE keys (
     key_id TEXT PRIMARY KEY, subject TEXT NOT NULL, scheme TEXT NOT NULL, label TEXT NOT NULL,
     public_key TEXT NOT NULL, threshold INTEGER NOT NULL, parties TEXT NOT NULL,
     party INTEGER NOT NULL, server_party INTEGER NOT NULL, epoch TEXT NOT NULL,
     pending_epoch TEXT, policy TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE INDEX keys_subject ON keys(subject, created_at);
   CREATE TABLE shares (
     key_id TEXT NOT NULL REFERENCES keys(key_id), epoch TEXT NOT NULL, sealed BLOB NOT NULL,
     PRIMARY KEY (key_id, epoch));
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, protocol TEXT NOT NULL,
     scheme TEXT NOT NULL, key_id TEXT, epoch TEXT, status TEXT NOT NULL, version INTEGER NOT NULL,
     state BLOB, params TEXT NOT NULL, round INTEGER NOT NULL, total_rounds INTEGER NOT NULL,
     last_request TEXT, last_reply TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
   CREATE UNIQUE INDEX sessions_one_active_sign ON sessions(key_id)
     WHERE kind = 'sign' AND status = 'active';
   CREATE INDEX sessions_active ON sessions(status, updated_at);
   CREATE INDEX sessions_key ON sessions(key_id, kind, created_at);
   CREATE TABLE nonce_ledger (id TEXT PRIMARY KEY, used_at INTEGER NOT NULL);
   CREATE TABLE request_nonces (subject TEXT NOT NULL, nonce TEXT NOT NULL,
     expires_at INTEGER NOT NULL, PRIMARY KEY (subject, nonce));
   CREATE TABLE pair_guard (pair TEXT PRIMARY KEY, state TEXT NOT NULL);
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, subject TEXT NOT NULL,
     key_id TEXT, session_id TEXT, action TEXT NOT NULL, outcome TEXT NOT NULL, details TEXT);
   CREATE INDEX audit_key ON audit(key_id, at);`,
  // Pair markers are dated so several instances can tell a crash's marker from a live one;
  // WebSocket tickets live in the store so any instance redeems them.
  `ALTER TABLE pair_guard ADD COLUMN since INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE pair_guard ADD COLUMN owner TEXT;
   CREATE TABLE ws_tickets (hash TEXT PRIMARY KEY, subject TEXT NOT NULL,
     session_id TEXT NOT NULL, expires_at INTEGER NOT NULL);`,
  // One active refresh per key, enforced by the database as for signing (several instances can
  // pass a check-then-insert at once). Duplicates left from before are expired first.
  `UPDATE sessions SET status = 'expired', state = NULL, version = version + 1
     WHERE kind = 'refresh' AND status = 'active' AND id NOT IN (
       SELECT MIN(id) FROM sessions WHERE kind = 'refresh' AND status = 'active' GROUP BY key_id);
   CREATE UNIQUE INDEX sessions_one_active_refresh ON sessions(key_id)
     WHERE kind = 'refresh' AND status = 'active';`,
  // A key looked up for its owner: another subject's key and a missing one both miss this
  // index, the same way (no existence oracle in the timing, docs/security.md A-61).
  `CREATE UNIQUE INDEX keys_owner ON keys(subject, key_id);`,
  // The same for a session looked up for its owner (a step, a ticket, an abort).
  `CREATE UNIQUE INDEX sessions_owner ON sessions(subject, id);`,
  // Idempotent starts: a start request's nonce keeps a digest of the request and, once its
  // session exists, the reply it got.
  `ALTER TABLE request_nonces ADD COLUMN digest TEXT;
   ALTER TABLE request_nonces ADD COLUMN reply TEXT;`,
  // The 2-of-3 topology: a key's place in it, a pending recovery, and the key id that replaced a
  // recovered key.
  `ALTER TABLE keys ADD COLUMN topology TEXT;
   ALTER TABLE keys ADD COLUMN recovery TEXT;
   ALTER TABLE keys ADD COLUMN retired_by TEXT;
   ALTER TABLE keys ADD COLUMN addresses TEXT;`,
  // Verifiable (PVE) backups of client shares (docs/pve-backup.md), kept for their owner; `seq`
  // orders them (several may share a millisecond).
  `CREATE TABLE backups (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, backup_id TEXT NOT NULL UNIQUE,
     key_id TEXT NOT NULL REFERENCES keys(key_id), subject TEXT NOT NULL, epoch TEXT NOT NULL,
     backup_key TEXT NOT NULL, pve BLOB NOT NULL, sealed_share BLOB NOT NULL,
     created_at INTEGER NOT NULL);
   CREATE INDEX backups_owner ON backups(subject, key_id, seq);
   CREATE INDEX backups_key ON backups(key_id, epoch);`,
];

const ph = (n: number) => Array(n).fill('?').join(', ');

/** Opens (creating if needed) the SQLite store at a `sqlite:PATH` URL. */
export function openSqliteStore(url: string): SqliteStore {
  const path = url.replace(/^sqlite:/, '');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  return new SqliteStore(path);
}

export class SqliteStore implements Store {
  readonly description: string;
  readonly shared = false;
  readonly db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  /** A prepared statement, compiled once per SQL text. */
  #q(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  constructor(path: string) {
    this.description = `sqlite:${path}`;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  async init(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
    const done = new Set(
      (this.#q('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
        (r) => r.version
      )
    );
    MIGRATIONS.forEach((sql, i) => {
      if (done.has(i + 1)) return;
      this.db.transaction(() => {
        this.db.exec(sql);
        this.#q('INSERT INTO schema_migrations (version) VALUES (?)').run(i + 1);
      })();
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  getWrappedDataKey(): Promise<Uint8Array | null> {
    return this.getMeta('data_key');
  }

  putWrappedDataKeyIfAbsent(wrapped: Uint8Array): Promise<Uint8Array> {
    return this.putMetaIfAbsent('data_key', wrapped);
  }

  async getMeta(name: string): Promise<Uint8Array | null> {
    const r = this.#q('SELECT value FROM meta WHERE name = ?').get(name) as
      | { value: Buffer }
      | undefined;
    return r ? new Uint8Array(r.value) : null;
  }

  async putMetaIfAbsent(name: string, value: Uint8Array): Promise<Uint8Array> {
    this.#q('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run(name, Buffer.from(value));
    return (await this.getMeta(name)) as Uint8Array;
  }

  async setKeyMeta(
    keyId: string,
    meta: { label?: string; addresses?: Record<string, string> }
  ): Promise<boolean> {
    const r = this.#q(
      'UPDATE keys SET label = COALESCE(?, label), addresses = COALESCE(?, addresses) WHERE key_id = ?'
    ).run(meta.label ?? null, meta.addresses ? JSON.stringify(meta.addresses) : null, keyId);
    return r.changes === 1;
  }

  async setRecovery(keyId: string, recovery: RecoveryState | null): Promise<boolean> {
    const r = this.#q('UPDATE keys SET recovery = ? WHERE key_id = ? AND retired_by IS NULL').run(
      recovery ? JSON.stringify(recovery) : null,
      keyId
    );
    return r.changes === 1;
  }

  async getKey(keyId: string, subject?: string): Promise<KeyRecord | null> {
    const r = (
      subject === undefined
        ? this.#q('SELECT * FROM keys WHERE key_id = ?').get(keyId)
        : this.#q('SELECT * FROM keys INDEXED BY keys_owner WHERE subject = ? AND key_id = ?').get(
            subject,
            keyId
          )
    ) as KeyRow | undefined;
    return r ? keyOf(r) : null;
  }

  async listKeys(subject: string): Promise<KeyRecord[]> {
    const rows = this.#q('SELECT * FROM keys WHERE subject = ? ORDER BY created_at, key_id').all(
      subject
    ) as KeyRow[];
    return rows.map(keyOf);
  }

  async getShare(keyId: string, epoch: string): Promise<Uint8Array | null> {
    const r = this.#q('SELECT sealed FROM shares WHERE key_id = ? AND epoch = ?').get(
      keyId,
      epoch
    ) as { sealed: Buffer } | undefined;
    return r ? new Uint8Array(r.sealed) : null;
  }

  async confirmEpoch(keyId: string, epoch: string): Promise<boolean> {
    return this.db.transaction(() => {
      const k = this.#q('SELECT epoch, pending_epoch FROM keys WHERE key_id = ?').get(keyId) as
        | { epoch: string; pending_epoch: string | null }
        | undefined;
      if (!k) return false;
      if (k.epoch === epoch && k.pending_epoch === null) return true;
      if (k.pending_epoch !== epoch) return false;
      this.#q('UPDATE keys SET epoch = ?, pending_epoch = NULL WHERE key_id = ?').run(epoch, keyId);
      this.#q('DELETE FROM shares WHERE key_id = ? AND epoch <> ?').run(keyId, epoch);
      return true;
    })();
  }

  #consume(ids: string[], at: number): boolean {
    const ins = this.#q('INSERT OR IGNORE INTO nonce_ledger (id, used_at) VALUES (?, ?)');
    for (const id of ids) if (ins.run(id, at).changes !== 1) return false;
    return true;
  }

  #audit(e: AuditEvent): void {
    this.#q(`INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (${ph(7)})`).run(...auditValues(e));
  }

  #effect(e: KeyEffect): void {
    if (e.kind === 'create') {
      this.#q(`INSERT INTO keys (${KEY_COLUMNS}) VALUES (${ph(14)})`).run(...keyValues(e.key));
      this.#q('INSERT INTO shares (key_id, epoch, sealed) VALUES (?, ?, ?)').run(
        e.key.keyId,
        e.key.epoch,
        Buffer.from(e.share)
      );
    } else if (e.kind === 'refresh') {
      this.#q('INSERT INTO shares (key_id, epoch, sealed) VALUES (?, ?, ?)').run(
        e.keyId,
        e.epoch,
        Buffer.from(e.share)
      );
      this.#q('UPDATE keys SET pending_epoch = ? WHERE key_id = ?').run(e.epoch, e.keyId);
    } else if (e.kind === 'retire') {
      // The retired key's shares go with it: they must never sign again.
      this.#q('UPDATE keys SET retired_by = ?, recovery = NULL WHERE key_id = ?').run(
        e.successor,
        e.keyId
      );
      this.#q('DELETE FROM shares WHERE key_id = ?').run(e.keyId);
    } else {
      this.#q('UPDATE shares SET sealed = ? WHERE key_id = ? AND epoch = ?').run(
        Buffer.from(e.share),
        e.keyId,
        e.epoch
      );
    }
  }

  async createSession(
    rec: SessionRecord,
    opts: { nonces: string[]; exclusive: boolean; audit: AuditEvent[]; request?: StartReply }
  ): Promise<'ok' | 'busy' | 'nonce-reused' | 'replayed'> {
    const run = this.db.transaction((): 'ok' | 'busy' | 'nonce-reused' => {
      if (opts.exclusive && rec.keyId) {
        const busy = this.#q(
          "SELECT 1 FROM sessions WHERE key_id = ? AND kind = ? AND status = 'active' LIMIT 1"
        ).get(rec.keyId, rec.kind);
        if (busy) return 'busy';
      }
      if (!this.#consume(opts.nonces, rec.createdAt)) throw new NonceReused();
      this.#q(`INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (${ph(17)})`).run(
        ...sessionValues(rec)
      );
      for (const a of opts.audit) this.#audit(a);
      const r = opts.request;
      if (
        r &&
        this.#q(
          'UPDATE request_nonces SET reply = ? WHERE subject = ? AND nonce = ? AND reply IS NULL'
        ).run(r.reply, r.subject, r.nonce).changes !== 1
      )
        throw new Replayed();
      return 'ok';
    });
    try {
      return run();
    } catch (e) {
      if (e instanceof NonceReused) return 'nonce-reused';
      if (e instanceof Replayed) return 'replayed';
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'busy';
      throw e;
    }
  }

  async activeSession(
    keyId: string,
    kind: 'sign' | 'refresh'
  ): Promise<{ createdAt: number; updatedAt: number } | null> {
    // The kind is a literal so that the partial unique index of active sessions answers.
    const r = this.#q(
      kind === 'sign'
        ? "SELECT created_at, updated_at FROM sessions WHERE key_id = ? AND kind = 'sign' AND status = 'active'"
        : "SELECT created_at, updated_at FROM sessions WHERE key_id = ? AND kind = 'refresh' AND status = 'active'"
    ).get(keyId) as { created_at: number; updated_at: number } | undefined;
    return r ? { createdAt: r.created_at, updatedAt: r.updated_at } : null;
  }

  async getSession(id: string, subject?: string): Promise<SessionRecord | null> {
    const r = (
      subject === undefined
        ? this.#q('SELECT * FROM sessions WHERE id = ?').get(id)
        : this.#q(
            'SELECT * FROM sessions INDEXED BY sessions_owner WHERE subject = ? AND id = ?'
          ).get(subject, id)
    ) as SessionRow | undefined;
    return r ? sessionOf(r) : null;
  }

  async commitStep(id: string, version: number, c: StepCommit): Promise<CommitOutcome> {
    const run = this.db.transaction((): CommitOutcome => {
      const upd = this.#q(
        `UPDATE sessions SET status = ?, state = ?, round = ?, last_request = ?, last_reply = ?,
             updated_at = ?, version = version + 1
           WHERE id = ? AND version = ? AND status = 'active'`
      ).run(
        c.status,
        c.state ? Buffer.from(c.state) : null,
        c.round,
        c.lastRequest,
        c.lastReply,
        c.updatedAt,
        id,
        version
      );
      if (upd.changes !== 1) return 'conflict';
      if (!this.#consume(c.nonces, c.updatedAt)) throw new NonceReused();
      for (const e of c.effects) this.#effect(e);
      for (const a of c.audit) this.#audit(a);
      return 'ok';
    });
    try {
      return run();
    } catch (e) {
      if (e instanceof NonceReused) return 'nonce-reused';
      throw e;
    }
  }

  async expireSessions(idleBefore: number, createdBefore: number): Promise<number> {
    this.#q('DELETE FROM request_nonces WHERE expires_at < ?').run(Date.now());
    this.#q('DELETE FROM ws_tickets WHERE expires_at < ?').run(Date.now());
    return this.#q(
      `UPDATE sessions SET status = 'expired', state = NULL, version = version + 1
         WHERE status = 'active' AND (updated_at < ? OR created_at < ?)`
    ).run(idleBefore, createdBefore).changes;
  }

  async countActiveSessions(): Promise<number> {
    return (
      this.#q("SELECT COUNT(*) AS n FROM sessions WHERE status = 'active'").get() as {
        n: number;
      }
    ).n;
  }

  async countSignSessions(keyId: string, since: number): Promise<number> {
    return (
      this.#q(
        "SELECT COUNT(*) AS n FROM sessions WHERE key_id = ? AND kind = 'sign' AND created_at >= ?"
      ).get(keyId, since) as { n: number }
    ).n;
  }

  async rememberRequestNonce(subject: string, nonce: string, expiresAt: number): Promise<boolean> {
    return (
      this.#q(
        'INSERT OR IGNORE INTO request_nonces (subject, nonce, expires_at) VALUES (?, ?, ?)'
      ).run(subject, nonce, expiresAt).changes === 1
    );
  }

  async claimStart(
    subject: string,
    nonce: string,
    digest: string,
    expiresAt: number
  ): Promise<StartClaim> {
    const claimed = this.#q(
      'INSERT OR IGNORE INTO request_nonces (subject, nonce, expires_at, digest) VALUES (?, ?, ?, ?)'
    ).run(subject, nonce, expiresAt, digest).changes;
    if (claimed === 1) return { state: 'claimed' };
    const r = this.#q(
      'SELECT digest, reply FROM request_nonces WHERE subject = ? AND nonce = ?'
    ).get(subject, nonce) as { digest: string | null; reply: string | null } | undefined;
    return claimOf(r, digest);
  }

  async releaseStart(subject: string, nonce: string): Promise<void> {
    this.#q('DELETE FROM request_nonces WHERE subject = ? AND nonce = ? AND reply IS NULL').run(
      subject,
      nonce
    );
  }

  async isNonceUsed(id: string): Promise<boolean> {
    return this.#q('SELECT 1 FROM nonce_ledger WHERE id = ?').get(id) !== undefined;
  }

  async pairBegin(pair: string, at: number, owner: string): Promise<PairMarker> {
    return this.db.transaction((): PairMarker => {
      const r = this.#q('SELECT state FROM pair_guard WHERE pair = ?').get(pair) as
        | { state: string }
        | undefined;
      if (r?.state === 'banned') return 'banned';
      if (r?.state === 'pending') return 'busy';
      this.#q("INSERT INTO pair_guard (pair, state, since, owner) VALUES (?, 'pending', ?, ?)").run(
        pair,
        at,
        owner
      );
      return 'ok';
    })();
  }

  async pairEnd(pair: string, owner: string): Promise<void> {
    this.#q("DELETE FROM pair_guard WHERE pair = ? AND state = 'pending' AND owner = ?").run(
      pair,
      owner
    );
  }

  async pairBan(pair: string): Promise<void> {
    this.#q(
      "INSERT INTO pair_guard (pair, state, since) VALUES (?, 'banned', 0) ON CONFLICT(pair) DO UPDATE SET state = 'banned'"
    ).run(pair);
  }

  async recoverPairMarkers(olderThanMs: number | null): Promise<number> {
    if (olderThanMs === null)
      return this.#q("UPDATE pair_guard SET state = 'banned' WHERE state = 'pending'").run()
        .changes;
    return this.#q(
      "UPDATE pair_guard SET state = 'banned' WHERE state = 'pending' AND since < ?"
    ).run(Date.now() - olderThanMs).changes;
  }

  async putTicket(
    hash: string,
    t: { subject: string; sessionId: string; expiresAt: number }
  ): Promise<void> {
    this.#q(
      'INSERT INTO ws_tickets (hash, subject, session_id, expires_at) VALUES (?, ?, ?, ?)'
    ).run(hash, t.subject, t.sessionId, t.expiresAt);
  }

  async takeTicket(
    hash: string,
    now: number
  ): Promise<{ subject: string; sessionId: string } | null> {
    const r = this.#q(
      'DELETE FROM ws_tickets WHERE hash = ? RETURNING subject, session_id, expires_at'
    ).get(hash) as { subject: string; session_id: string; expires_at: number } | undefined;
    return r && r.expires_at >= now ? { subject: r.subject, sessionId: r.session_id } : null;
  }

  async ping(): Promise<void> {
    try {
      this.#q('SELECT 1').get();
    } catch (e) {
      throw new StoreUnavailable(`sqlite: ${(e as Error).message}`);
    }
  }

  async audit(e: AuditEvent): Promise<void> {
    this.#audit(e);
  }

  async putBackup(
    rec: BackupRecord,
    o: { max: number; audit: AuditEvent }
  ): Promise<'ok' | 'limit'> {
    return this.db.transaction((): 'ok' | 'limit' => {
      this.#q('DELETE FROM backups WHERE key_id = ? AND epoch <> ?').run(rec.keyId, rec.epoch);
      if (this.#countBackups(rec.keyId, rec.epoch) >= o.max) return 'limit';
      this.#q(`INSERT INTO backups (${BACKUP_COLUMNS}) VALUES (${ph(8)})`).run(
        ...backupValues(rec)
      );
      this.#audit(o.audit);
      return 'ok';
    })();
  }

  #countBackups(keyId: string, epoch: string): number {
    return (
      this.#q('SELECT COUNT(*) AS n FROM backups WHERE key_id = ? AND epoch = ?').get(
        keyId,
        epoch
      ) as { n: number }
    ).n;
  }

  async countBackups(keyId: string, epoch: string): Promise<number> {
    return this.#countBackups(keyId, epoch);
  }

  async listBackups(keyId: string, subject: string): Promise<BackupRecord[]> {
    const rows = this.#q(
      'SELECT * FROM backups WHERE subject = ? AND key_id = ? ORDER BY seq DESC'
    ).all(subject, keyId) as BackupRow[];
    return rows.map(backupOf);
  }

  async listAudit(filter: { keyId?: string; limit: number }): Promise<AuditEvent[]> {
    const rows = (
      filter.keyId
        ? this.#q('SELECT * FROM audit WHERE key_id = ? ORDER BY id DESC LIMIT ?').all(
            filter.keyId,
            filter.limit
          )
        : this.#q('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(filter.limit)
    ) as AuditRow[];
    return rows.map(auditOf);
  }
}

class NonceReused extends Error {}
class Replayed extends Error {}
