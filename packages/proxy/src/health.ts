/**
 * Whether the upstream answered recently, for `GET /health`. A TCP connect alone would prove
 * little: the parent's end of the vsock bridge (socat) accepts connections whether or not the
 * enclave is alive, and closes them after. So the probe is an HTTP request to the co-signer's
 * `GET /v1/health`, and any complete HTTP answer counts. What forwarded requests find (an answer,
 * or no connection) counts too, and an observation is kept for a few seconds: a flood of health
 * checks costs at most one probe per period and never queues behind the co-signer.
 * @module
 */
import { request } from 'node:http';

/** How long an observation of the upstream counts as recent. */
const FRESH_MS = 5_000;

export class UpstreamHealth {
  readonly #host: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  #seen: { ok: boolean; at: number } | null = null;
  #probe: Promise<boolean> | null = null;

  constructor(upstream: { host: string; port: number }, timeoutMs: number) {
    this.#host = upstream.host;
    this.#port = upstream.port;
    this.#timeoutMs = timeoutMs;
  }

  /** Records what a forwarded request found (a connection made, or none). */
  note(ok: boolean): void {
    this.#seen = { ok, at: Date.now() };
  }

  /** Reachable within the last few seconds; probes (one connect at a time) when that is unknown. */
  async reachable(): Promise<boolean> {
    const seen = this.#seen;
    if (seen && Date.now() - seen.at < FRESH_MS) return seen.ok;
    this.#probe ??= this.#ask().then((ok) => {
      this.note(ok);
      this.#probe = null;
      return ok;
    });
    return this.#probe;
  }

  #ask(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({
        host: this.#host,
        port: this.#port,
        path: '/v1/health',
        agent: false,
        headers: { connection: 'close' },
        timeout: this.#timeoutMs,
      });
      const done = (ok: boolean) => {
        req.destroy();
        resolve(ok);
      };
      req.once('response', (res) => {
        res.resume();
        done(true);
      });
      req.once('timeout', () => done(false));
      req.once('error', () => done(false));
      req.end();
    });
  }
}
