/**
 * The scale-out store: PostgreSQL (`pg`), shared by every server instance. Nothing about a
 * session lives in a process, so any instance serves any round. The guarantees that matter under
 * concurrency are the database's own: a step commits only with `UPDATE … WHERE version = $v`
 * (two instances racing on one round: the second finds the row changed and gets `conflict`), and
 * a consumed nonce is a primary-key row (`INSERT … ON CONFLICT DO NOTHING` counted, never
 * check-then-insert). Connection faults and timeouts surface as `StoreUnavailable` (503): a
 * transaction that did not commit changed nothing, and one whose COMMIT was lost in flight is
 * recognised on retry by the session's cached last request.
 * @module
 */
import pg from 'pg';
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

/** Schema migrations, applied in order once each, under an advisory lock. Append, never edit. */
const MIGRATIONS: string[] = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
   CREATE TABLE keys (
     key_id TEXT PRIMARY KEY, subject TEXT NOT NULL, scheme TEXT NOT NULL, label TEXT NOT NULL,
     public_key TEXT NOT NULL, threshold INTEGER NOT NULL, parties TEXT NOT NULL,
     party INTEGER NOT NULL, server_party INTEGER NOT NULL, epoch TEXT NOT NULL,
     pending_epoch TEXT, policy TEXT NOT NULL, created_at BIGINT NOT NULL);
   CREATE INDEX keys_subject ON keys(subject, created_at);
   CREATE TABLE shares (
     key_id TEXT NOT NULL REFERENCES keys(key_id), epoch TEXT NOT NULL, sealed BYTEA NOT NULL,
     PRIMARY KEY (key_id, epoch));
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, protocol TEXT NOT NULL,
     scheme TEXT NOT NULL, key_id TEXT, epoch TEXT, status TEXT NOT NULL, version INTEGER NOT NULL,
     state BYTEA, params TEXT NOT NULL, round INTEGER NOT NULL, total_rounds INTEGER NOT NULL,
     last_request TEXT, last_reply TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
   CREATE UNIQUE INDEX sessions_one_active_sign ON sessions(key_id)
     WHERE kind = 'sign' AND status = 'active';
   CREATE INDEX sessions_active ON sessions(status, updated_at);
   CREATE INDEX sessions_key ON sessions(key_id, kind, created_at);
   CREATE TABLE nonce_ledger (id TEXT PRIMARY KEY, used_at BIGINT NOT NULL);
   CREATE TABLE request_nonces (subject TEXT NOT NULL, nonce TEXT NOT NULL,
     expires_at BIGINT NOT NULL, PRIMARY KEY (subject, nonce));
   CREATE INDEX request_nonces_expiry ON request_nonces(expires_at);
   CREATE TABLE pair_guard (pair TEXT PRIMARY KEY, state TEXT NOT NULL,
     since BIGINT NOT NULL DEFAULT 0, owner TEXT);
   CREATE TABLE ws_tickets (hash TEXT PRIMARY KEY, subject TEXT NOT NULL,
     session_id TEXT NOT NULL, expires_at BIGINT NOT NULL);
   CREATE TABLE audit (
     id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, subject TEXT NOT NULL,
     key_id TEXT, session_id TEXT, action TEXT NOT NULL, outcome TEXT NOT NULL, details TEXT);
   CREATE INDEX audit_key ON audit(key_id, at);`,
  // One active refresh per key, enforced by the database as for signing (several instances can
  // pass a check-then-insert at once). Duplicates left from before are expired first.
  `UPDATE sessions SET status = 'expired', state = NULL, version = version + 1
     WHERE kind = 'refresh' AND status = 'active' AND id NOT IN (
       SELECT MIN(id) FROM sessions WHERE kind = 'refresh' AND status = 'active' GROUP BY key_id);
   CREATE UNIQUE INDEX sessions_one_active_refresh ON sessions(key_id)
     WHERE kind = 'refresh' AND status = 'active';`,
  // A key looked up for its owner (see getKey): another subject's key and a missing one both
  // miss this index the same way.
  `CREATE UNIQUE INDEX keys_owner ON keys(subject, key_id);`,
  // The same for a session looked up for its owner (a step, a ticket, an abort).
  `CREATE UNIQUE INDEX sessions_owner ON sessions(subject, id);`,
  // Idempotent starts: a start request's nonce keeps a digest of the request and, once its
  // session exists, the reply it got.
  `ALTER TABLE request_nonces ADD COLUMN digest TEXT, ADD COLUMN reply TEXT;`,
  // The 2-of-3 topology: a key's place in it, a pending recovery, and the key id that replaced a
  // recovered key.
  `ALTER TABLE keys ADD COLUMN topology TEXT, ADD COLUMN recovery TEXT, ADD COLUMN retired_by TEXT,
     ADD COLUMN addresses TEXT;`,
  // Verifiable (PVE) backups of client shares (docs/pve-backup.md), kept for their owner; `seq`
  // orders them (several may share a millisecond).
  `CREATE TABLE backups (
     seq BIGSERIAL PRIMARY KEY, backup_id TEXT NOT NULL UNIQUE,
     key_id TEXT NOT NULL REFERENCES keys(key_id), subject TEXT NOT NULL, epoch TEXT NOT NULL,
     backup_key TEXT NOT NULL, pve BYTEA NOT NULL, sealed_share BYTEA NOT NULL,
     created_at BIGINT NOT NULL);
   CREATE INDEX backups_owner ON backups(subject, key_id, seq);
   CREATE INDEX backups_key ON backups(key_id, epoch);`,
];

/** Any fixed number: serialises migrations of instances starting together. */
const MIGRATION_LOCK = 0x7e55e7a;

const INT8_OID = 20;
// Times are milliseconds in BIGINT columns; they fit a double exactly.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** The database's clock in milliseconds (pair markers are dated by it, not by an instance's). */
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** `$1, $2, …, $n`, starting after `from`. */
const ph = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `$${from + i + 1}`).join(', ');

export interface PostgresOptions {
  /** Connections in this instance's pool. */
  poolSize?: number;
  /** A query unanswered for this long fails as StoreUnavailable (and its connection is dropped). */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Opens the store at a `postgres://` URL. A `schema` query parameter (not part of libpq's URL
 * syntax, removed before connecting) puts the tables in that schema, created if needed.
 */
export function openPostgresStore(url: string, o: PostgresOptions = {}): PostgresStore {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`store URL: schema "${schema}" must be a lower-case SQL identifier`);
  const description = `postgres://${u.host}${u.pathname}${schema ? ` schema ${schema}` : ''}`;
  return new PostgresStore(u.toString(), schema, description, o);
}

type Queryable = Pick<pg.PoolClient, 'query'>;

export class PostgresStore implements Store {
  readonly description: string;
  readonly shared = true;
  readonly pool: pg.Pool;
  readonly #schema: string | null;

  constructor(url: string, schema: string | null, description: string, o: PostgresOptions) {
    this.description = description;
    this.#schema = schema;
    this.pool = new pg.Pool({
      connectionString: url,
      max: o.poolSize ?? 10,
      connectionTimeoutMillis: o.connectTimeoutMs ?? 3_000,
      query_timeout: o.queryTimeoutMs ?? 5_000,
      // The server gives up first: a statement the client stopped waiting for cannot commit later.
      statement_timeout: Math.max(1, (o.queryTimeoutMs ?? 5_000) - 1_000),
      idleTimeoutMillis: 30_000,
      application_name: 'tessera-server',
      types,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle connection the server dropped: the pool replaces it; nothing to do per request.
    this.pool.on('error', () => {});
  }

  /** Connections the pool holds now (for the load report). */
  get connections(): { total: number; idle: number; waiting: number } {
    return {
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
    };
  }

  async #query<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[] = []
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, values);
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * Runs `fn` in one transaction. A connection fault destroys the connection (the server rolls
   * back) instead of sending a ROLLBACK that would wait on the same fault.
   */
  async #tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw unavailable(e);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      const u = unavailable(e);
      if (u instanceof StoreUnavailable) broken = u;
      else
        await client.query('ROLLBACK').catch((r: unknown) => {
          broken = r;
        });
      throw u;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async init(): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      if (this.#schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
      const done = new Set(
        (await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
          (r) => r.version
        )
      );
      for (const [i, sql] of MIGRATIONS.entries()) {
        if (done.has(i + 1)) continue;
        await c.query(sql);
        await c.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  getWrappedDataKey(): Promise<Uint8Array | null> {
    return this.getMeta('data_key');
  }

  putWrappedDataKeyIfAbsent(wrapped: Uint8Array): Promise<Uint8Array> {
    return this.putMetaIfAbsent('data_key', wrapped);
  }

  async getMeta(name: string): Promise<Uint8Array | null> {
    const r = await this.#query<{ value: Buffer }>('SELECT value FROM meta WHERE name = $1', [
      name,
    ]);
    return r.rows[0] ? new Uint8Array(r.rows[0].value) : null;
  }

  async putMetaIfAbsent(name: string, value: Uint8Array): Promise<Uint8Array> {
    await this.#query(
      'INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, Buffer.from(value)]
    );
    return (await this.getMeta(name)) as Uint8Array;
  }

  async setKeyMeta(
    keyId: string,
    meta: { label?: string; addresses?: Record<string, string> }
  ): Promise<boolean> {
    const r = await this.#query(
      'UPDATE keys SET label = COALESCE($1, label), addresses = COALESCE($2, addresses) WHERE key_id = $3',
      [meta.label ?? null, meta.addresses ? JSON.stringify(meta.addresses) : null, keyId]
    );
    return r.rowCount === 1;
  }

  async setRecovery(keyId: string, recovery: RecoveryState | null): Promise<boolean> {
    const r = await this.#query(
      'UPDATE keys SET recovery = $1 WHERE key_id = $2 AND retired_by IS NULL',
      [recovery ? JSON.stringify(recovery) : null, keyId]
    );
    return r.rowCount === 1;
  }

  async getKey(keyId: string, subject?: string): Promise<KeyRecord | null> {
    // With both columns bound the planner takes keys_owner (EXPLAIN, generic and custom plans),
    // not the primary key, which would fetch another subject's row.
    const r =
      subject === undefined
        ? await this.#query<KeyRow>('SELECT * FROM keys WHERE key_id = $1', [keyId])
        : await this.#query<KeyRow>('SELECT * FROM keys WHERE key_id = $1 AND subject = $2', [
            keyId,
            subject,
          ]);
    return r.rows[0] ? keyOf(r.rows[0]) : null;
  }

  async listKeys(subject: string): Promise<KeyRecord[]> {
    const r = await this.#query<KeyRow>(
      'SELECT * FROM keys WHERE subject = $1 ORDER BY created_at, key_id',
      [subject]
    );
    return r.rows.map(keyOf);
  }

  async getShare(keyId: string, epoch: string): Promise<Uint8Array | null> {
    const r = await this.#query<{ sealed: Buffer }>(
      'SELECT sealed FROM shares WHERE key_id = $1 AND epoch = $2',
      [keyId, epoch]
    );
    return r.rows[0] ? new Uint8Array(r.rows[0].sealed) : null;
  }

  async confirmEpoch(keyId: string, epoch: string): Promise<boolean> {
    return this.#tx(async (c) => {
      const k = (
        await c.query<{ epoch: string; pending_epoch: string | null }>(
          'SELECT epoch, pending_epoch FROM keys WHERE key_id = $1 FOR UPDATE',
          [keyId]
        )
      ).rows[0];
      if (!k) return false;
      if (k.epoch === epoch && k.pending_epoch === null) return true;
      if (k.pending_epoch !== epoch) return false;
      await c.query('UPDATE keys SET epoch = $1, pending_epoch = NULL WHERE key_id = $2', [
        epoch,
        keyId,
      ]);
      await c.query('DELETE FROM shares WHERE key_id = $1 AND epoch <> $2', [keyId, epoch]);
      return true;
    });
  }

  /** Inserts every id into the ledger; false if any was there before (or repeated). */
  async #consume(c: Queryable, ids: string[], at: number): Promise<boolean> {
    if (ids.length === 0) return true;
    const r = await c.query(
      'INSERT INTO nonce_ledger (id, used_at) SELECT unnest($1::text[]), $2 ON CONFLICT (id) DO NOTHING',
      [ids, at]
    );
    return r.rowCount === ids.length;
  }

  async #audit(c: Queryable, events: AuditEvent[]): Promise<void> {
    for (const e of events)
      await c.query(`INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (${ph(7)})`, auditValues(e));
  }

  async #effect(c: Queryable, e: KeyEffect): Promise<void> {
    if (e.kind === 'create') {
      await c.query(`INSERT INTO keys (${KEY_COLUMNS}) VALUES (${ph(14)})`, keyValues(e.key));
      await c.query('INSERT INTO shares (key_id, epoch, sealed) VALUES ($1, $2, $3)', [
        e.key.keyId,
        e.key.epoch,
        Buffer.from(e.share),
      ]);
    } else if (e.kind === 'refresh') {
      await c.query('INSERT INTO shares (key_id, epoch, sealed) VALUES ($1, $2, $3)', [
        e.keyId,
        e.epoch,
        Buffer.from(e.share),
      ]);
      await c.query('UPDATE keys SET pending_epoch = $1 WHERE key_id = $2', [e.epoch, e.keyId]);
    } else if (e.kind === 'retire') {
      // The retired key's shares go with it: they must never sign again.
      await c.query('UPDATE keys SET retired_by = $1, recovery = NULL WHERE key_id = $2', [
        e.successor,
        e.keyId,
      ]);
      await c.query('DELETE FROM shares WHERE key_id = $1', [e.keyId]);
    } else {
      await c.query('UPDATE shares SET sealed = $1 WHERE key_id = $2 AND epoch = $3', [
        Buffer.from(e.share),
        e.keyId,
        e.epoch,
      ]);
    }
  }

  async createSession(
    rec: SessionRecord,
    opts: { nonces: string[]; exclusive: boolean; audit: AuditEvent[]; request?: StartReply }
  ): Promise<'ok' | 'busy' | 'nonce-reused' | 'replayed'> {
    try {
      return await this.#tx(async (c) => {
        if (opts.exclusive && rec.keyId) {
          const busy = await c.query(
            "SELECT 1 FROM sessions WHERE key_id = $1 AND kind = $2 AND status = 'active' LIMIT 1",
            [rec.keyId, rec.kind]
          );
          if (busy.rowCount) return 'busy';
        }
        if (!(await this.#consume(c, opts.nonces, rec.createdAt))) throw new NonceReused();
        await c.query(
          `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (${ph(17)})`,
          sessionValues(rec)
        );
        await this.#audit(c, opts.audit);
        const r = opts.request;
        if (r) {
          // The claim's row lock makes a concurrent writer of the same reply wait, then miss.
          const kept = await c.query(
            'UPDATE request_nonces SET reply = $1 WHERE subject = $2 AND nonce = $3 AND reply IS NULL',
            [r.reply, r.subject, r.nonce]
          );
          if (kept.rowCount !== 1) throw new Replayed();
        }
        return 'ok';
      });
    } catch (e) {
      if (e instanceof NonceReused) return 'nonce-reused';
      if (e instanceof Replayed) return 'replayed';
      // Two instances starting a signature (or a refresh) on one key at once: the partial unique
      // index decides.
      if (
        isUniqueViolation(e, 'sessions_one_active_sign') ||
        isUniqueViolation(e, 'sessions_one_active_refresh')
      )
        return 'busy';
      throw e;
    }
  }

  async activeSession(
    keyId: string,
    kind: 'sign' | 'refresh'
  ): Promise<{ createdAt: number; updatedAt: number } | null> {
    // The kind is a literal so that the partial unique index of active sessions answers.
    const r = await this.#query<{ created_at: number; updated_at: number }>(
      kind === 'sign'
        ? "SELECT created_at, updated_at FROM sessions WHERE key_id = $1 AND kind = 'sign' AND status = 'active'"
        : "SELECT created_at, updated_at FROM sessions WHERE key_id = $1 AND kind = 'refresh' AND status = 'active'",
      [keyId]
    );
    const row = r.rows[0];
    return row ? { createdAt: row.created_at, updatedAt: row.updated_at } : null;
  }

  async getSession(id: string, subject?: string): Promise<SessionRecord | null> {
    // As for getKey: with both columns bound the planner takes sessions_owner, not the primary key.
    const r =
      subject === undefined
        ? await this.#query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id])
        : await this.#query<SessionRow>('SELECT * FROM sessions WHERE id = $1 AND subject = $2', [
            id,
            subject,
          ]);
    return r.rows[0] ? sessionOf(r.rows[0]) : null;
  }

  async commitStep(id: string, version: number, c: StepCommit): Promise<CommitOutcome> {
    try {
      return await this.#tx(async (q): Promise<CommitOutcome> => {
        // The row lock taken here makes a racing instance wait, then see the new version.
        const upd = await q.query(
          `UPDATE sessions SET status = $1, state = $2, round = $3, last_request = $4,
               last_reply = $5, updated_at = $6, version = version + 1
             WHERE id = $7 AND version = $8 AND status = 'active'`,
          [
            c.status,
            c.state ? Buffer.from(c.state) : null,
            c.round,
            c.lastRequest,
            c.lastReply,
            c.updatedAt,
            id,
            version,
          ]
        );
        if (upd.rowCount !== 1) throw new Conflict();
        if (!(await this.#consume(q, c.nonces, c.updatedAt))) throw new NonceReused();
        for (const e of c.effects) await this.#effect(q, e);
        await this.#audit(q, c.audit);
        return 'ok';
      });
    } catch (e) {
      if (e instanceof Conflict) return 'conflict';
      if (e instanceof NonceReused) return 'nonce-reused';
      throw e;
    }
  }

  async expireSessions(idleBefore: number, createdBefore: number): Promise<number> {
    const now = Date.now();
    await this.#query('DELETE FROM request_nonces WHERE expires_at < $1', [now]);
    await this.#query('DELETE FROM ws_tickets WHERE expires_at < $1', [now]);
    const r = await this.#query(
      `UPDATE sessions SET status = 'expired', state = NULL, version = version + 1
         WHERE status = 'active' AND (updated_at < $1 OR created_at < $2)`,
      [idleBefore, createdBefore]
    );
    return r.rowCount ?? 0;
  }

  async countActiveSessions(): Promise<number> {
    const r = await this.#query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sessions WHERE status = 'active'"
    );
    return r.rows[0]?.n ?? 0;
  }

  async countSignSessions(keyId: string, since: number): Promise<number> {
    const r = await this.#query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM sessions WHERE key_id = $1 AND kind = 'sign' AND created_at >= $2",
      [keyId, since]
    );
    return r.rows[0]?.n ?? 0;
  }

  async rememberRequestNonce(subject: string, nonce: string, expiresAt: number): Promise<boolean> {
    const r = await this.#query(
      'INSERT INTO request_nonces (subject, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [subject, nonce, expiresAt]
    );
    return r.rowCount === 1;
  }

  async claimStart(
    subject: string,
    nonce: string,
    digest: string,
    expiresAt: number
  ): Promise<StartClaim> {
    const ins = await this.#query(
      'INSERT INTO request_nonces (subject, nonce, expires_at, digest) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [subject, nonce, expiresAt, digest]
    );
    if (ins.rowCount === 1) return { state: 'claimed' };
    const r = await this.#query<{ digest: string | null; reply: string | null }>(
      'SELECT digest, reply FROM request_nonces WHERE subject = $1 AND nonce = $2',
      [subject, nonce]
    );
    return claimOf(r.rows[0], digest);
  }

  async releaseStart(subject: string, nonce: string): Promise<void> {
    await this.#query(
      'DELETE FROM request_nonces WHERE subject = $1 AND nonce = $2 AND reply IS NULL',
      [subject, nonce]
    );
  }

  async isNonceUsed(id: string): Promise<boolean> {
    return (
      ((await this.#query('SELECT 1 FROM nonce_ledger WHERE id = $1', [id])).rowCount ?? 0) > 0
    );
  }

  async pairBegin(pair: string, _at: number, owner: string): Promise<PairMarker> {
    // Dated by the database's clock: every instance then agrees on a marker's age.
    const ins = await this.#query(
      `INSERT INTO pair_guard (pair, state, since, owner) VALUES ($1, 'pending', ${DB_NOW_MS}, $2)
         ON CONFLICT (pair) DO NOTHING`,
      [pair, owner]
    );
    if (ins.rowCount === 1) return 'ok';
    const r = await this.#query<{ state: string }>('SELECT state FROM pair_guard WHERE pair = $1', [
      pair,
    ]);
    // Gone between the two statements: ended by its owner just now; the caller retries.
    return r.rows[0]?.state === 'banned' ? 'banned' : 'busy';
  }

  async pairEnd(pair: string, owner: string): Promise<void> {
    await this.#query(
      "DELETE FROM pair_guard WHERE pair = $1 AND state = 'pending' AND owner = $2",
      [pair, owner]
    );
  }

  async pairBan(pair: string): Promise<void> {
    await this.#query(
      "INSERT INTO pair_guard (pair, state) VALUES ($1, 'banned') ON CONFLICT (pair) DO UPDATE SET state = 'banned'",
      [pair]
    );
  }

  async recoverPairMarkers(olderThanMs: number | null): Promise<number> {
    const r =
      olderThanMs === null
        ? await this.#query("UPDATE pair_guard SET state = 'banned' WHERE state = 'pending'")
        : await this.#query(
            `UPDATE pair_guard SET state = 'banned' WHERE state = 'pending' AND since < ${DB_NOW_MS} - $1`,
            [olderThanMs]
          );
    return r.rowCount ?? 0;
  }

  async putTicket(
    hash: string,
    t: { subject: string; sessionId: string; expiresAt: number }
  ): Promise<void> {
    await this.#query(
      'INSERT INTO ws_tickets (hash, subject, session_id, expires_at) VALUES ($1, $2, $3, $4)',
      [hash, t.subject, t.sessionId, t.expiresAt]
    );
  }

  async takeTicket(
    hash: string,
    now: number
  ): Promise<{ subject: string; sessionId: string } | null> {
    const r = await this.#query<{ subject: string; session_id: string; expires_at: number }>(
      'DELETE FROM ws_tickets WHERE hash = $1 RETURNING subject, session_id, expires_at',
      [hash]
    );
    const t = r.rows[0];
    return t && t.expires_at >= now ? { subject: t.subject, sessionId: t.session_id } : null;
  }

  async audit(e: AuditEvent): Promise<void> {
    await this.#audit(this.pool, [e]).catch((err: unknown) => {
      throw unavailable(err);
    });
  }

  async putBackup(
    rec: BackupRecord,
    o: { max: number; audit: AuditEvent }
  ): Promise<'ok' | 'limit'> {
    return this.#tx(async (c) => {
      // The key's row lock serialises concurrent backups of one key: the count below holds
      // until this transaction ends (several instances may take backups of one key at once).
      await c.query('SELECT 1 FROM keys WHERE key_id = $1 FOR UPDATE', [rec.keyId]);
      await c.query('DELETE FROM backups WHERE key_id = $1 AND epoch <> $2', [
        rec.keyId,
        rec.epoch,
      ]);
      const n = await c.query<{ n: number }>(
        'SELECT COUNT(*)::int AS n FROM backups WHERE key_id = $1 AND epoch = $2',
        [rec.keyId, rec.epoch]
      );
      if ((n.rows[0]?.n ?? 0) >= o.max) return 'limit';
      await c.query(`INSERT INTO backups (${BACKUP_COLUMNS}) VALUES (${ph(8)})`, backupValues(rec));
      await this.#audit(c, [o.audit]);
      return 'ok';
    });
  }

  async countBackups(keyId: string, epoch: string): Promise<number> {
    const r = await this.#query<{ n: number }>(
      'SELECT COUNT(*)::int AS n FROM backups WHERE key_id = $1 AND epoch = $2',
      [keyId, epoch]
    );
    return r.rows[0]?.n ?? 0;
  }

  async listBackups(keyId: string, subject: string): Promise<BackupRecord[]> {
    const r = await this.#query<BackupRow>(
      'SELECT * FROM backups WHERE subject = $1 AND key_id = $2 ORDER BY seq DESC',
      [subject, keyId]
    );
    return r.rows.map(backupOf);
  }

  async listAudit(filter: { keyId?: string; limit: number }): Promise<AuditEvent[]> {
    const r = filter.keyId
      ? await this.#query<AuditRow>(
          'SELECT * FROM audit WHERE key_id = $1 ORDER BY id DESC LIMIT $2',
          [filter.keyId, filter.limit]
        )
      : await this.#query<AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [
          filter.limit,
        ]);
    return r.rows.map(auditOf);
  }
}

class NonceReused extends Error {}
class Conflict extends Error {}
class Replayed extends Error {}

const isUniqueViolation = (e: unknown, constraint: string) =>
  (e as { code?: string }).code === '23505' &&
  (e as { constraint?: string }).constraint === constraint;

/**
 * A fault of reaching the database, as opposed to a query it refused: connection errors and
 * timeouts from the driver, and the SQLSTATE classes for connection exceptions (08),
 * insufficient resources (53), operator intervention such as a shutdown (57) and transaction
 * rollbacks the server chose (40: serialisation failure, deadlock).
 */
function unavailable(e: unknown): unknown {
  if (
    e instanceof StoreUnavailable ||
    e instanceof NonceReused ||
    e instanceof Conflict ||
    e instanceof Replayed
  )
    return e;
  const code = (e as { code?: unknown }).code;
  const message = (e as { message?: unknown }).message;
  const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
  const transport =
    sqlState === null &&
    ((typeof code === 'string' && /^E[A-Z]+$/.test(code)) ||
      (typeof message === 'string' &&
        /connection terminated|connection error|timeout|not queryable|connection ended/i.test(
          message
        )));
  if (sqlState ? /^(08|53|57|40)/.test(sqlState) : transport)
    return new StoreUnavailable(
      `postgres: ${sqlState ?? (typeof code === 'string' ? code : '')} ${typeof message === 'string' ? message : ''}`.trim()
    );
  return e;
}
