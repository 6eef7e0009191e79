/**
 * The server's error codes: one table from code to HTTP status, shared by the server (which
 * answers with them) and the client (which maps them back to typed errors). Codes are stable;
 * messages are for people and may change.
 * @module
 */

/** Every error code the API returns, with its HTTP status. */
export const ERROR_STATUS = {
  /** The body, query or parameters do not match the route's schema. */
  SCHEMA: 400,
  /** The scheme (curve) is not one Tessera signs with. */
  UNSUPPORTED_CURVE: 400,
  /** The signing payload could not be parsed (transaction, typed data). */
  BAD_PAYLOAD: 400,
  /**
   * The signing payload would cost too much to hash (typed data past `TYPED_DATA_LIMITS`, or
   * hashing over the server's time budget); `details.limit` names the limit.
   */
  PAYLOAD_TOO_COMPLEX: 400,
  /** A message broke the protocol (wrong round, changed resend, bad envelope): the session is aborted. */
  PROTOCOL_VIOLATION: 400,
  /** A check failed on the peer's message: the session is aborted and the culprit named. */
  PROTOCOL_ABORT: 422,
  /** Missing, expired or invalid bearer token or WebSocket ticket. */
  UNAUTHORIZED: 401,
  /** The request is authenticated but refused (dev-only route, forbidden origin). */
  FORBIDDEN: 403,
  /** No such key or session for this subject (also for another subject's ids). */
  NOT_FOUND: 404,
  /** Another signing session of this key is active. */
  KEY_BUSY: 409,
  /** The request names an epoch that is no longer the key's current one. */
  EPOCH_STALE: 409,
  /** The start request's nonce was seen before. */
  REPLAYED_REQUEST: 409,
  /** Another request is being processed for this session right now. */
  SESSION_BUSY: 409,
  /** The key's policy refuses this request (blind signing, value, destination, chain, daily count). */
  POLICY_DENIED: 403,
  /** The session ran out of time (idle or total lifetime) and its state was destroyed. */
  SESSION_EXPIRED: 410,
  /** The session ended (done or aborted): no further messages. */
  SESSION_CLOSED: 410,
  /** The start request's timestamp is outside the accepted window. */
  STALE_REQUEST: 400,
  /** The body is larger than the route allows. */
  PAYLOAD_TOO_LARGE: 413,
  /** The request did not arrive in full within the server's request timeout. */
  REQUEST_TIMEOUT: 408,
  /** The URL (a path parameter) is longer than any route accepts. */
  URI_TOO_LONG: 414,
  /** The request headers are larger than the server accepts. */
  HEADERS_TOO_LARGE: 431,
  /** Too many requests: retry after the `Retry-After` header. */
  RATE_LIMITED: 429,
  /** A stored share or session failed authentication (tampered, swapped or corrupted at rest). */
  KEY_CORRUPTED: 500,
  /**
   * The store holds a share older than a refresh already confirmed (it was restored from before
   * the refresh): the key does not sign until an operator restores the current state.
   */
  EPOCH_ROLLBACK: 500,
  /** The key pair is locked after a detected cheat; a reshare is needed. */
  KEY_LOCKED: 423,
  /**
   * This node's role in the key forbids the request (node 2 of a 2-of-3 key never signs), or the
   * server runs without the node identity the request needs.
   */
  ROLE_FORBIDDEN: 403,
  /** A recovery issued a new key id for this key's public key: the old key id never signs again. */
  KEY_RETIRED: 410,
  /**
   * A recovery of the key was requested: the key does not sign until it is done or cancelled, and
   * the recovery runs only once the node's delay has passed (`details.readyAt`).
   */
  RECOVERY_PENDING: 409,
  /** No recovery of the key is pending (none was requested, or it was cancelled). */
  NO_RECOVERY: 409,
  /** The store or another dependency is unavailable: retry later. */
  UNAVAILABLE: 503,
  /** This server takes no part through a relay (`relay.url` is not configured). */
  RELAY_DISABLED: 404,
  /** This server has no attestation provider (it does not run in an enclave). */
  ATTESTATION_DISABLED: 404,
  /** The relay room is not what the request says (manifest, members), or the relay refused. */
  RELAY_ROOM: 400,
  /**
   * A verifiable (PVE) backup does not verify against the server's record of the key: its proof,
   * backup key, key, party or epoch (`details.check` names the failed check).
   */
  BACKUP_INVALID: 400,
  /** The key holds as many verifiable backups as the server keeps for one key. */
  BACKUP_LIMIT: 409,
  /** An unexpected server fault (a bug); nothing secret is in the message. */
  INTERNAL: 500,
} as const satisfies Record<string, number>;

/** A stable error code of the API. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The JSON body of every error response. */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    details?: Record<string, unknown>;
  };
}

export const isErrorCode = (c: unknown): c is ErrorCode =>
  typeof c === 'string' && Object.hasOwn(ERROR_STATUS, c);
