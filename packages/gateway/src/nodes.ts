/**
 * The gateway as the client of a request: a `TesseraClient` against node 1 with a store that
 * lives for this request alone (bans excepted, `bans.ts`) and a token minted for the request's
 * user.
 * @module
 */
import type { KeyInfoResponse } from '@tessera/api';
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

  async getKey(userId: string, keyId: string): Promise<KeyInfoResponse> {
    return this.session(userId).client.getKey(keyId);
  }

  /**
   * Registers a key's label and addresses at node 1: `PATCH /v1/keys/:keyId` (the SDK has no
   * call for it). Node errors come back as the SDK's `ServerError`s, mapped like any other.
   */
  async patchKey(
    userId: string,
    keyId: string,
    body: { label?: string; addresses?: Record<string, string> }
  ): Promise<void> {
    const token = await this.#tokens.mint(userId);
    let res: Response;
    try {
      res = await this.#fetch(`${this.nodes.node1.url}/v1/keys/${keyId}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch {
      throw new GatewayError('NODE_UNAVAILABLE', 'node 1 cannot be reached; retry shortly', {
        retryAfter: 2,
      });
    }
    const text = await res.text();
    if (res.ok) return;
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
