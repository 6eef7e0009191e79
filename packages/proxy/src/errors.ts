/**
 * `ProxyError`: every answer the proxy gives on its own instead of the co-signer's, from one code
 * table in the shape every Tessera service uses (`{ "error": { "code", "message" } }`). The
 * codes the server also has (`SCHEMA`, `REQUEST_TIMEOUT`, `HEADERS_TOO_LARGE`, `RATE_LIMITED`,
 * `INTERNAL`) mean the same here, so a client handles them alike whichever of the two refused;
 * the `UPSTREAM_*` codes are the proxy's own and say the co-signer was not heard from. Messages
 * quote nothing of the request.
 * @module
 */

/** Every code the proxy answers with, and its HTTP status. */
export const PROXY_ERROR_STATUS = {
  /** A malformed HTTP request, or a request target that is not a path. */
  SCHEMA: 400,
  /** The request did not arrive in full in time; the connection is closed. */
  REQUEST_TIMEOUT: 408,
  /** The request's headers are over the proxy's limit. */
  HEADERS_TOO_LARGE: 431,
  /** This address sent more requests than the window allows: `Retry-After`. */
  RATE_LIMITED: 429,
  /** The co-signer cannot be reached: refused, reset, or no connection within the timeout. */
  UPSTREAM_UNAVAILABLE: 502,
  /** The co-signer accepted the request and then sent nothing for too long. */
  UPSTREAM_TIMEOUT: 504,
  /** A fault of the proxy itself. */
  INTERNAL: 500,
} as const satisfies Record<string, number>;

export type ProxyErrorCode = keyof typeof PROXY_ERROR_STATUS;

export interface ProxyErrorBody {
  error: { code: ProxyErrorCode; message: string };
}

export class ProxyError extends Error {
  override name = 'ProxyError';
  readonly code: ProxyErrorCode;
  readonly status: number;
  /** Seconds to wait before retrying (`RATE_LIMITED`). */
  readonly retryAfter: number | undefined;

  constructor(code: ProxyErrorCode, message: string, opts: { retryAfter?: number } = {}) {
    super(message);
    this.code = code;
    this.status = PROXY_ERROR_STATUS[code];
    this.retryAfter = opts.retryAfter;
  }

  toBody(): ProxyErrorBody {
    return { error: { code: this.code, message: this.message } };
  }

  /** The headers of the answer: JSON, never cached or sniffed, `Retry-After` when it has one. */
  headers(bodyBytes: number): Record<string, string> {
    return {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(bodyBytes),
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      ...(this.retryAfter === undefined ? {} : { 'retry-after': String(this.retryAfter) }),
    };
  }
}
