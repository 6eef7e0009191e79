/**
 * Row shapes shared by the SQL stores (snake_case columns, JSON text for arrays and policies,
 * integer milliseconds for times, bytes for sealed blobs) and their mapping to records.
 * @module
 */
import type { Policy } from '@tessera/api';
import type {
  AuditEvent,
  BackupRecord,
  KeyRecord,
  KeyTopology,
  RecoveryState,
  SessionRecord,
  StartClaim,
} from './store.ts';

export interface KeyRow {
  key_id: string;
  subject: string;
  scheme: KeyRecord['scheme'];
  label: string;
  public_key: string;
  threshold: number;
  parties: string;
  party: number;
  server_party: number;
  epoch: string;
  pending_epoch: string | null;
  policy: string;
  created_at: number;
  topology: string | null;
  recovery: string | null;
  retired_by: string | null;
  addresses: string | null;
}

export interface SessionRow {
  id: string;
  subject: string;
  kind: SessionRecord['kind'];
  protocol: string;
  scheme: SessionRecord['scheme'];
  key_id: string | null;
  epoch: string | null;
  status: SessionRecord['status'];
  version: number;
  state: Uint8Array | null;
  params: string;
  round: number;
  total_rounds: number;
  last_request: string | null;
  last_reply: string | null;
  created_at: number;
  updated_at: number;
}

export const keyOf = (r: KeyRow): KeyRecord => ({
  keyId: r.key_id,
  subject: r.subject,
  scheme: r.scheme,
  label: r.label,
  publicKey: r.public_key,
  threshold: r.threshold,
  parties: JSON.parse(r.parties) as number[],
  party: r.party,
  serverParty: r.server_party,
  epoch: r.epoch,
  pendingEpoch: r.pending_epoch,
  policy: JSON.parse(r.policy) as Policy,
  createdAt: r.created_at,
  topology: r.topology ? (JSON.parse(r.topology) as KeyTopology) : null,
  recovery: r.recovery ? (JSON.parse(r.recovery) as RecoveryState) : null,
  retiredBy: r.retired_by,
  addresses: r.addresses ? (JSON.parse(r.addresses) as Record<string, string>) : null,
});

export const sessionOf = (r: SessionRow): SessionRecord => ({
  id: r.id,
  subject: r.subject,
  kind: r.kind,
  protocol: r.protocol,
  scheme: r.scheme,
  keyId: r.key_id,
  epoch: r.epoch,
  status: r.status,
  version: r.version,
  state: r.state ? new Uint8Array(r.state) : null,
  params: r.params,
  round: r.round,
  totalRounds: r.total_rounds,
  lastRequest: r.last_request,
  lastReply: r.last_reply,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface AuditRow {
  at: number;
  subject: string;
  key_id: string | null;
  session_id: string | null;
  action: string;
  outcome: string;
  details: string | null;
}

export const auditOf = (r: AuditRow): AuditEvent => ({
  at: r.at,
  subject: r.subject,
  keyId: r.key_id,
  sessionId: r.session_id,
  action: r.action,
  outcome: r.outcome,
  ...(r.details ? { details: JSON.parse(r.details) as Record<string, unknown> } : {}),
});

/** The values of a new key row, in the column order of `KEY_COLUMNS`. */
export const KEY_COLUMNS =
  'key_id, subject, scheme, label, public_key, threshold, parties, party, server_party, epoch, pending_epoch, policy, created_at, topology';
export const keyValues = (k: KeyRecord): unknown[] => [
  k.keyId,
  k.subject,
  k.scheme,
  k.label,
  k.publicKey,
  k.threshold,
  JSON.stringify(k.parties),
  k.party,
  k.serverParty,
  k.epoch,
  null,
  JSON.stringify(k.policy),
  k.createdAt,
  k.topology ? JSON.stringify(k.topology) : null,
];

export const SESSION_COLUMNS =
  'id, subject, kind, protocol, scheme, key_id, epoch, status, version, state, params, round, total_rounds, last_request, last_reply, created_at, updated_at';
export const sessionValues = (r: SessionRecord): unknown[] => [
  r.id,
  r.subject,
  r.kind,
  r.protocol,
  r.scheme,
  r.keyId,
  r.epoch,
  r.status,
  r.version,
  r.state ? Buffer.from(r.state) : null,
  r.params,
  r.round,
  r.totalRounds,
  r.lastRequest,
  r.lastReply,
  r.createdAt,
  r.updatedAt,
];

export const AUDIT_COLUMNS = 'at, subject, key_id, session_id, action, outcome, details';
export const auditValues = (e: AuditEvent): unknown[] => [
  e.at,
  e.subject,
  e.keyId,
  e.sessionId,
  e.action,
  e.outcome,
  e.details ? JSON.stringify(e.details) : null,
];

/**
 * What a start request finds when its nonce is taken (see `StartClaim`). No row: the claim was
 * released between the insert and this read; the resend will find the nonce free.
 */
export const claimOf = (
  r: { digest: string | null; reply: string | null } | undefined,
  digest: string
): StartClaim => {
  if (!r) return { state: 'pending' };
  if (r.digest !== digest) return { state: 'conflict' };
  return r.reply === null ? { state: 'pending' } : { state: 'replay', reply: r.reply };
};

export interface BackupRow {
  backup_id: string;
  key_id: string;
  subject: string;
  epoch: string;
  backup_key: string;
  pve: Uint8Array;
  sealed_share: Uint8Array;
  created_at: number;
}

export const BACKUP_COLUMNS =
  'backup_id, key_id, subject, epoch, backup_key, pve, sealed_share, created_at';
export const backupValues = (b: BackupRecord): unknown[] => [
  b.backupId,
  b.keyId,
  b.subject,
  b.epoch,
  b.backupKey,
  Buffer.from(b.pve),
  Buffer.from(b.sealedShare),
  b.createdAt,
];
export const backupOf = (r: BackupRow): BackupRecord => ({
  backupId: r.backup_id,
  keyId: r.key_id,
  subject: r.subject,
  epoch: r.epoch,
  backupKey: r.backup_key,
  pve: new Uint8Array(r.pve),
  sealedShare: new Uint8Array(r.sealed_share),
  createdAt: r.created_at,
});
