/**
 * `GatewayError`: every refusal the gateway answers with. Its codes are the gateway's own stable
 * table (docs/gateway.md); the codes of the SDK and of the nodes pass through unchanged where
 * the caller can act on them, so one `code` names the cause wherever it arose.
 * @module
 */
import { type ErrorBody, PayloadError } from '@tessera/api';
import { ClientError, ServerError } from '@tessera/client';
import { TesseraError } from '@tessera/core';

/** Every code the gateway answers with, and its HTTP status. */
export const GATEWAY_ERROR_STATUS = {
  /** The body, query or headers do not match the route's schema. */
  SCHEMA: 400,
  /** The `x-api-key` header is missing or not one of the configured keys. */
  UNAUTHORIZED: 401,
  /** The password does not open the `secretStore` (or the `secretStore` was altered). */
  INVALID_PASSWORD: 400,
  /** The `secretStore` is not one this gateway can read (format, version, KDF parameters). */
  SECRET_STORE_INVALID: 400,
  /** The `encryptedShare` is damaged: its format, or its authentication tag, does not check. */
  SHARE_CORRUPTED: 400,
  /** The `encryptedShare`, `secretStore` and `keyId` of a request are not of one key. */
  SHARE_MISMATCH: 400,
  /** The nodes do not know the key as asked (e.g. not the same 2-of-3 key at both nodes). */
  BAD_INPUT: 400,
  /** An ECDSA key on the EdDSA route or the other way round (the message names the right one). */
  WRONG_SIGNING_METHOD: 400,
  /** The signing payload cannot be parsed, or does not fit the key's scheme. */
  BAD_PAYLOAD: 400,
  /** The signing payload would cost too much to hash. */
  PAYLOAD_TOO_COMPLEX: 400,
  /** The body is larger than the gateway accepts. */
  PAYLOAD_TOO_LARGE: 413,
  /** The request did not arrive in full in time. */
  REQUEST_TIMEOUT: 408,
  /** The request's headers are larger than Node accepts. */
  HEADERS_TOO_LARGE: 431,
  /** The URL is longer than the gateway accepts. */
  URI_TOO_LONG: 414,
  /** No such key for this user at node 1 (or no such route). */
  NOT_FOUND: 404,
  /** The key's nodes refuse to do this for the gateway's role (node 2 never co-signs). */
  ROLE_FORBIDDEN: 403,
  /** The key's policy at node 1 refuses this signature. */
  POLICY_DENIED: 403,
  /** The share was replaced by a recovery: use the newer `encryptedShare`. */
  KEY_RETIRED: 410,
  /** Another signing session of this key runs at node 1. */
  KEY_BUSY: 409,
  /** The share's epoch is no longer the key's current one. */
  EPOCH_STALE: 409,
  /** A recovery waits for a node's delay: retry at `details.readyAt` (`Retry-After`). */
  RECOVERY_PENDING: 409,
  /** Node 1 failed a check that leaks secrets when probed: the gateway refuses to sign with it. */
  KEY_LOCKED: 423,
  /** A node answered 429. */
  RATE_LIMITED: 429,
  /** A protocol check failed (the culprit, if known, is in `details.culprit`). */
  PROTOCOL_ABORT: 502,
  /** A node broke the protocol, ended a session early or returned something that does not check. */
  NODE_FAILED: 502,
  /** A node refused the gateway's own token: its `--trust-jwks` does not list the gateway's key. */
  NODE_AUTH_FAILED: 502,
  /** A node cannot be reached, timed out, or answered 503: retry after `Retry-After`. */
  NODE_UNAVAILABLE: 503,
  /** The password-hashing queue is full: retry after `Retry-After`. */
  BUSY: 503,
  /** A fault of the gateway itself (a bug); nothing secret is in the message. */
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_STATUS;

export class GatewayError extends TesseraError {
  override name = 'GatewayError';
  declare readonly code: GatewayErrorCode | string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds to wait before retrying. */
  readonly retryAfter: number | undefined;

  constructor(
    code: GatewayErrorCode,
    message: string,
    opts: { details?: Record<string, unknown>; retryAfter?: number; status?: number } = {}
  ) {
    super(code, message);
    this.status = opts.status ?? GATEWAY_ERROR_STATUS[code];
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code as ErrorBody['error']['code'],
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

/** A node's code passed through as it is (the node's table is stable too), with our status. */
class PassedThrough extends GatewayError {
  constructor(code: string, status: number, message: string, e: ServerError) {
    super('NODE_FAILED', message, {
      status,
      ...(e.details ? { details: safeDetails(e.details) } : {}),
      ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}),
    });
    Object.defineProperty(this, 'code', { value: code });
  }
}

/** The node codes a caller can act on, with the status the gateway answers them with. */
const NODE_CODES: Record<string, number> = {
  NOT_FOUND: 404,
  KEY_RETIRED: 410,
  ROLE_FORBIDDEN: 403,
  POLICY_DENIED: 403,
  FORBIDDEN: 403,
  KEY_BUSY: 409,
  SESSION_BUSY: 409,
  EPOCH_STALE: 409,
  RECOVERY_PENDING: 409,
  NO_RECOVERY: 409,
  KEY_LOCKED: 423,
  RATE_LIMITED: 429,
  BAD_PAYLOAD: 400,
  PAYLOAD_TOO_COMPLEX: 400,
  UNSUPPORTED_CURVE: 400,
  PROTOCOL_ABORT: 502,
  PROTOCOL_VIOLATION: 502,
};

/** Node details that say when or who, never anything a node could echo from a request. */
function safeDetails(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['readyAt', 'culprit', 'limit', 'check'])
    if (typeof d[k] === 'number' || typeof d[k] === 'string') out[k] = d[k];
  return out;
}

/** The client SDK's refusals the caller can act on, by the SDK's code. */
const CLIENT_CODES: Partial<Record<string, [GatewayErrorCode, string]>> = {
  KEY_LOCKED: [
    'KEY_LOCKED',
    'node 1 failed a check on this key: the gateway does not sign with it',
  ],
  SHARE_CORRUPTED: ['SHARE_CORRUPTED', 'the share inside the encryptedShare is damaged'],
  DIGEST_MISMATCH: ['NODE_FAILED', 'node 1 asked to sign something other than the request'],
  BAD_SIGNATURE: ['NODE_FAILED', 'the joint signature did not verify: nothing was returned'],
  SESSION_INCOMPLETE: ['NODE_FAILED', 'the session ended before every party finished'],
  PROTOCOL_VIOLATION: ['NODE_FAILED', 'a node sent a message that is not for this session'],
  STORE_BUSY: ['KEY_BUSY', 'another request is checking this key with node 1; retry shortly'],
};

/**
 * Maps anything a handler throws to the error the caller gets. Unknown faults become INTERNAL
 * with a generic message: an SDK or core message is never trusted to be free of request data.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
  if (e.validation)
    return new GatewayError('SCHEMA', `invalid request: ${e.message ?? 'schema mismatch'}`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new GatewayError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  if (typeof e.code === 'string' && e.code.startsWith('FST_ERR_CTP'))
    return new GatewayError('SCHEMA', 'invalid request body: not JSON, or of another type');
  if (err instanceof ServerError) return fromNode(err);
  if (err instanceof ClientError) {
    if (err.code === 'TRANSPORT')
      return new GatewayError('NODE_UNAVAILABLE', 'a node cannot be reached; retry shortly', {
        retryAfter: 2,
      });
    const code = err.code as string;
    if (code === 'RECOVERY_PENDING') return recoveryPending(err);
    // Node 1 holds no current key of the public key a recovery names.
    if (code === 'NO_SHARE') return new GatewayError('NOT_FOUND', 'node 1 holds no such key');
    if (code === 'BAD_INPUT')
      // The SDK's own words about ids and keys it was given (no secret reaches its messages).
      return new GatewayError('BAD_INPUT', err.message.replace(/\s+/g, ' ').slice(0, 300));
    const known = CLIENT_CODES[code];
    if (known) return new GatewayError(known[0], known[1]);
    return new GatewayError('INTERNAL', 'internal error');
  }
  if (err instanceof PayloadError)
    return new GatewayError(
      err.code === 'PAYLOAD_TOO_COMPLEX' ? 'PAYLOAD_TOO_COMPLEX' : 'BAD_PAYLOAD',
      err.message
    );
  if (err instanceof TesseraError && err.code === 'PROTOCOL_ABORT')
    return new GatewayError('PROTOCOL_ABORT', 'a protocol check failed', {
      ...(err.culprit !== null && err.culprit !== undefined
        ? { details: { culprit: err.culprit } }
        : {}),
    });
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new GatewayError('SCHEMA', 'bad request');
  return new GatewayError('INTERNAL', 'internal error');
}

function fromNode(e: ServerError): GatewayError {
  if (e.status === 503 || e.status === 502 || e.status === 504 || e.code === 'UNAVAILABLE')
    return new GatewayError('NODE_UNAVAILABLE', 'a node is unavailable; retry shortly', {
      retryAfter: e.retryAfter ?? 2,
    });
  if (e.status === 401)
    return new GatewayError(
      'NODE_AUTH_FAILED',
      "a node refused the gateway's token: start the nodes with --trust-jwks DATA/gateway.jwks.json"
    );
  if (e.code === 'RECOVERY_PENDING') return recoveryPending(e);
  const status = NODE_CODES[e.code];
  if (status !== undefined) return new PassedThrough(e.code, status, nodeMessage(e), e);
  // A node's own fault or a refusal the caller cannot fix: said as a node's failure, code kept.
  return new PassedThrough(e.code, 502, `node refused: ${e.code}`, e);
}

/** A node's message is its own text about its own state: kept short and on one line. */
const nodeMessage = (e: ServerError) => `node: ${e.message.replace(/\s+/g, ' ').slice(0, 200)}`;

function recoveryPending(e: TesseraError): GatewayError {
  const details = (e as { details?: Record<string, unknown> | undefined }).details;
  const readyAt = typeof details?.readyAt === 'number' ? details.readyAt : null;
  const wait = readyAt === null ? 60 : Math.max(1, Math.ceil((readyAt - Date.now()) / 1000));
  return new GatewayError(
    'RECOVERY_PENDING',
    readyAt === null
      ? 'the recovery waits for a node delay; retry later'
      : `the recovery waits for a node delay; retry at ${new Date(readyAt).toISOString()}`,
    { retryAfter: wait, ...(readyAt === null ? {} : { details: { readyAt } }) }
  );
}
