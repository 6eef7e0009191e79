/**
 * The gateway as the client of a request: a `TesseraClient` against node 1 with a store that
 * lives for this request alone (bans excepted, `bans.ts`) and a token minted for the request's
 * user.
 * @module
 */
import type { KeyInfoResponse, KeyPublicInfoResponse } from '@tessera/api';
import { MemoryShareStore, ServerError, TesseraClient } from '@tessera/client';
import { type BanBook, RequestStore } from './bans.ts';
import type { NodeSet } from './config.ts';
import { GatewayError } from './errors.ts';
import type { TokenMinter } from './token.ts';

/** The client's party in every key the gateway holds a share of. */
export const CLIENT_PARTY = 1;

export class Nodes {
  readonly nodes: NodeSet;
  readonly #tokens: TokenMinter;
  readonly #bans: BanBook;
  readonly #fetch: typeof fetch;

  constructor(o: { nodes: NodeSet; tokens: TokenMinter; bans: BanBook; fetch?: typeof fetch }) {
    this.nodes = o.nodes;
    this.#tokens = o.tokens;
    this.#bans = o.bans;
    this.#fetch = o.fetch ?? fetch;
  }

  /** A client for one request of `userId`, with that request's own store. */
  session(userId: string): { client: TesseraClient; store: RequestStore } {
    const store = new RequestStore(new MemoryShareStore(), this.#bans);
    const client = new TesseraClient({
      server: this.nodes.node1.url,
      token: this.#tokens.forSubject(userId),
      store,
      fetch: this.#fetch,
    });
    return { client, store };
  }

  async listKeys(userId: string): Promise<KeyInfoResponse[]> {
    return this.session(userId).client.listKeys();
  }

  /**
   * A key's public facts at node 1 (`GET /v1/keys/:keyId/public`): as its owner when `userId` is
   * given (another user's key is 404), else with the gateway's public-read token.
   */
  async publicKey(keyId: string, userId?: string): Promise<KeyPublicInfoResponse> {
    const token = await (userId === undefined
      ? this.#tokens.mintPublicReader()
      : this.#tokens.mint(userId));
    const text = await this.#call('GET', `/v1/keys/${keyId}/public`, token);
    let info: Partial<KeyPublicInfoResponse> | null = null;
    try {
      info = JSON.parse(text) as Partial<KeyPublicInfoResponse>;
    } catch {
      // Checked below.
    }
    if (
      info?.keyId !== keyId ||
      typeof info.scheme !== 'string' ||
      typeof info.publicKey !== 'string' ||
      !/^([0-9a-f]{2}){32,65}$/.test(info.publicKey)
    )
      throw new GatewayError('NODE_FAILED', "node 1's answer about the key does not check");
    return info as KeyPublicInfoResponse;
  }

  /** Registers a key's label and addresses at node 1: `PATCH /v1/keys/:keyId`. */
  async patchKey(
    userId: string,
    keyId: string,
    body: { label?: string; addresses?: Record<string, string> }
  ): Promise<void> {
    await this.#call('PATCH', `/v1/keys/${keyId}`, await this.#tokens.mint(userId), body);
  }

  /**
   * One request to node 1 outside the SDK: the reply's text when it is 2xx; node errors come
   * back as the SDK's `ServerError`s, mapped like any other.
   */
  async #call(method: string, path: string, token: string, body?: unknown): Promise<string> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.nodes.node1.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch {
      throw new GatewayError('NODE_UNAVAILABLE', 'node 1 cannot be reached; retry shortly', {
        retryAfter: 2,
      });
    }
    const text = await res.text();
    if (res.ok) return text;
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not the API's error shape (a proxy's page): the status alone says what happened.
    }
    const ra = Number(res.headers.get('retry-after'));
    throw new ServerError(
      res.status,
      isErrorBody(parsed) ? parsed : null,
      Number.isFinite(ra) && ra > 0 ? ra : undefined
    );
  }
}

function isErrorBody(x: unknown): x is ConstructorParameters<typeof ServerError>[1] & object {
  const e = (x as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}
