/**
 * The one thing of a request that outlives it: a ban of node 1 after a failed check
 * (docs/architecture.md, invariant 2). A request's shares and nonce ledger live in a
 * `MemoryShareStore` that dies with it; its pair markers go to `DATA/bans/`, shared by every
 * gateway instance on that directory, and are on disk (fsync'd) before the error is answered.
 *
 * A pending marker is written before a check that leaks secret bits when it fails, and removed
 * once it passed. A marker whose writer is gone (its process died, or it is older than the
 * lease) counts as a ban: the check may have failed and been seen.
 * @module
 */
import { join } from 'node:path';
import type { PairMarkerState, ShareStore, StoredKey } from '@tessera/client';
import { PairMarkerDir } from '@tessera/client/node';

/** The ban directory of a data directory (`DATA/bans/`); every instance sharing it shares the bans. */
export class BanBook extends PairMarkerDir {
  constructor(data: string) {
    super(join(data, 'bans'));
  }
}

/**
 * A request's store: shares and the nonce ledger in memory (nothing of a request survives it),
 * pair markers and bans in the data directory.
 */
export class RequestStore implements ShareStore {
  readonly #inner: ShareStore;
  readonly #bans: BanBook;

  constructor(inner: ShareStore, bans: BanBook) {
    this.#inner = inner;
    this.#bans = bans;
  }

  put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void> {
    return this.#inner.put(key, share);
  }
  get(keyId: string, epoch?: string): Promise<Uint8Array | null> {
    return this.#inner.get(keyId, epoch);
  }
  getKey(keyId: string): Promise<StoredKey | null> {
    return this.#inner.getKey(keyId);
  }
  list(): Promise<StoredKey[]> {
    return this.#inner.list();
  }
  prune(keyId: string, keep: string): Promise<void> {
    return this.#inner.prune(keyId, keep);
  }
  consume(keyId: string, ids: readonly string[]): Promise<boolean> {
    return this.#inner.consume(keyId, ids);
  }
  pairBegin(pair: string): Promise<PairMarkerState> {
    return this.#bans.begin(pair);
  }
  pairEnd(pair: string): Promise<void> {
    return this.#bans.end(pair);
  }
  pairBan(pair: string): Promise<void> {
    return this.#bans.ban(pair);
  }
  pairBanned(pair: string): Promise<boolean> {
    return this.#bans.banned(pair);
  }

  /** Zero-fills every share the request's store holds (the request is over). */
  async wipe(): Promise<void> {
    for (const k of await this.#inner.list()) await this.#inner.prune(k.keyId, '');
  }
}
