/**
 * `RelayError`: every refusal the relay answers with, from one stable code table
 * (docs/relay.md). A caller's mistake is a 4xx with its code and a message that quotes nothing of
 * the request; anything else is `INTERNAL` with a generic message.
 * @module
 */

/** Every code the relay answers with, and its HTTP status. */
export const RELAY_ERROR_STATUS = {
  /** The body, query, path or headers do not match the route's schema. */
  SCHEMA: 400,
  /** The manifest does not parse strictly, its signature does not verify, or its bounds are off. */
  BAD_MANIFEST: 400,
  /** More members in a manifest than the relay accepts. */
  TOO_MANY_MEMBERS: 400,
  /** No bearer token, or an unknown or expired one (or a used ticket). */
  UNAUTHORIZED: 401,
  /** The login signature does not verify, or the challenge is unknown, used or expired. */
  LOGIN_FAILED: 401,
  /** The caller's identity is not a member of the room. */
  NOT_A_MEMBER: 403,
  /** No such room, or it expired or was closed for being idle. */
  ROOM_NOT_FOUND: 404,
  /** No such route. */
  NOT_FOUND: 404,
  /** Another manifest for an existing room id, or a used clientSeq with a different body. */
  CONFLICT: 409,
  /** One envelope is larger than the relay accepts. */
  MESSAGE_TOO_LARGE: 413,
  /** The room holds as many bytes as its manifest (or the relay) allows until members ack. */
  ROOM_FULL: 413,
  /** The request did not arrive in full in time. */
  REQUEST_TIMEOUT: 408,
  /** The request's headers are larger than Node accepts. */
  HEADERS_TOO_LARGE: 431,
  /** A path parameter is longer than the relay accepts. */
  URI_TOO_LONG: 414,
  /** A recipient has as many unacknowledged messages queued as the relay allows. */
  QUEUE_FULL: 429,
  /** The identity has as many open rooms as the relay allows. */
  TOO_MANY_ROOMS: 429,
  /** Too many challenges from this address, or room creations by this identity: `Retry-After`. */
  RATE_LIMITED: 429,
  /** The room store (Redis) cannot be reached: retry shortly. */
  UNAVAILABLE: 503,
  /** A fault of the relay itself; nothing of the request is in the message. */
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type RelayErrorCode = keyof typeof RELAY_ERROR_STATUS;

export interface RelayErrorBody {
  error: { code: string; message: string };
}

export class RelayError extends Error {
  override name = 'RelayError';
  readonly code: RelayErrorCode;
  readonly status: number;
  /** Seconds to wait before retrying. */
  readonly retryAfter: number | undefined;

  constructor(code: RelayErrorCode, message: string, opts: { retryAfter?: number } = {}) {
    super(message);
    this.code = code;
    this.status = RELAY_ERROR_STATUS[code];
    this.retryAfter = opts.retryAfter;
  }

  toBody(): RelayErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Maps anything a handler throws to the refusal the caller gets. */
export function toRelayError(err: unknown, bodyTooLarge: RelayErrorCode = 'SCHEMA'): RelayError {
  if (err instanceof RelayError) return err;
  const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
  if (e.validation)
    return new RelayError('SCHEMA', `invalid request: ${e.message ?? 'schema mismatch'}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new RelayError(bodyTooLarge, 'the request body is too large');
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP'))
    return new RelayError('SCHEMA', 'invalid request body: not JSON, or of another type');
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new RelayError('SCHEMA', 'bad request');
  if (typeof e.code === 'string' && /^(ECONNREFUSED|ETIMEDOUT|ECONNRESET)$/.test(e.code))
    return new RelayError('UNAVAILABLE', 'the room store is unavailable; retry shortly');
  if (
    e.message === 'Connection is closed.' ||
    /Command timed out|Stream isn't writeable/.test(e.message ?? '')
  )
    return new RelayError('UNAVAILABLE', 'the room store is unavailable; retry shortly');
  return new RelayError('INTERNAL', 'internal error');
}
