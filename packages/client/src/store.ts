/**
 * Where the client keeps its shares, and what must outlive the process besides them. `ShareStore`
 * is the interface a store implements (the Node file store in `@tessera/client/node`, an IndexedDB
 * store in a browser); `MemoryShareStore` is for tests and short-lived processes. Stores hold
 * `KeyShare.toBytes()`: secret material.
 *
 * Besides shares a store keeps two durable records the protocols rely on:
 * - the nonce ledger (`consume`): every single-use id (request id, session id, presignature,
 *   nonce pair) the client's protocol runs used. The client sends nothing that depends on an id
 *   before `consume` resolved true, so no nonce is used twice, ever, whatever crashes or replays.
 * - the pending-check markers of ECDSA pairs (`pairBegin`, `pairEnd`, `pairBan`;
 *   docs/protocols/ecdsa.md, "Pending checks"): a marker is written before a check that can leak
 *   secret bits when it fails, and cleared only after the check passed. A marker found after the
 *   process died counts as a ban, because the check may have failed and been observed. A ban locks
 *   the key on this client.
 * An implementation must make each of these durable (on disk, flushed) before its promise
 * resolves, and keep them across restarts; a browser store keeps them in IndexedDB beside the
 * shares and resolves only once the transaction completed.
 * @module
 */

/** Public facts about a stored key (no secrets). */
export interface StoredKey {
  keyId: string;
  scheme: 'ecdsa' | 'ed25519' | 'bip340';
  publicKey: string;
  label: string;
  /** The epoch to sign with. */
  epoch: string;
  /** Every epoch a share is kept for (the previous one survives until the server confirms a refresh). */
  epochs: string[];
  server: string;
  /** A 2-of-3 key (docs/topologies.md): the nodes, as pinned when it was made. */
  topology?: '2-of-3';
  nodes?: {
    node1: { url: string; fingerprint: string };
    node2: { url: string; fingerprint: string };
  };
  /** A device-to-device key (docs/devices.md): the paired device that holds the other share. */
  peer?: { name: string; fingerprint: string };
  /**
   * The share came from a backup: it must be refreshed (`recover`) before it signs, so that the
   * backup is retired and bans recorded since it was taken cannot be lost.
   */
  refreshRequired?: boolean;
}

/** What `pairBegin` found. */
export type PairMarkerState = 'ok' | 'banned' | 'busy';

export interface ShareStore {
  /** Stores a share of `key.epoch`, adding the epoch to the key's list. */
  put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void>;
  /** The share of one epoch (default: the key's current epoch). */
  get(keyId: string, epoch?: string): Promise<Uint8Array | null>;
  getKey(keyId: string): Promise<StoredKey | null>;
  list(): Promise<StoredKey[]>;
  /** Deletes every epoch of the key but `keep`. */
  prune(keyId: string, keep: string): Promise<void>;
  /**
   * Records the single-use `ids` of one protocol step for `keyId`, durably; true only if none of
   * them was recorded before (a refused id stays recorded).
   */
  consume(keyId: string, ids: readonly string[]): Promise<boolean>;
  /**
   * Before a guarded check of `pair`: writes its marker durably (`ok`), or answers `banned` (a
   * ban, or a marker left by a process that died during a check, which becomes a ban) or `busy`
   * (another live process holds the marker).
   */
  pairBegin(pair: string): Promise<PairMarkerState>;
  /** The check passed: clears the marker. */
  pairEnd(pair: string): Promise<void>;
  /** The check failed: bans the pair durably and clears the marker. */
  pairBan(pair: string): Promise<void>;
  /** True if the pair is banned, counting a marker left by a process that died mid-check. */
  pairBanned(pair: string): Promise<boolean>;
}

/**
 * Shares, ledger and markers in memory. Nothing survives the process, which is safe only because
 * nothing else does either (the client never saves a session): use it in tests and one-shot
 * tools, and a durable store wherever shares are kept.
 */
export class MemoryShareStore implements ShareStore {
  readonly #keys = new Map<string, StoredKey>();
  readonly #shares = new Map<string, Uint8Array>();
  readonly #used = new Set<string>();
  readonly #pending = new Set<string>();
  readonly #banned = new Set<string>();

  async put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void> {
    const prev = this.#keys.get(key.keyId);
    const epochs = [...new Set([...(prev?.epochs ?? []), key.epoch])];
    this.#keys.set(key.keyId, { ...key, epochs });
    this.#shares.set(`${key.keyId}/${key.epoch}`, share.slice());
  }

  async get(keyId: string, epoch?: string): Promise<Uint8Array | null> {
    const e = epoch ?? this.#keys.get(keyId)?.epoch;
    return (e && this.#shares.get(`${keyId}/${e}`)?.slice()) || null;
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    return this.#keys.get(keyId) ?? null;
  }

  async list(): Promise<StoredKey[]> {
    return [...this.#keys.values()];
  }

  async prune(keyId: string, keep: string): Promise<void> {
    const k = this.#keys.get(keyId);
    if (!k) return;
    for (const e of k.epochs) if (e !== keep) this.#shares.get(`${keyId}/${e}`)?.fill(0);
    for (const e of k.epochs) if (e !== keep) this.#shares.delete(`${keyId}/${e}`);
    this.#keys.set(keyId, { ...k, epoch: keep, epochs: [keep] });
  }

  async consume(keyId: string, ids: readonly string[]): Promise<boolean> {
    let fresh = new Set(ids).size === ids.length;
    for (const id of ids) {
      const k = `${keyId}/${id}`;
      if (this.#used.has(k)) fresh = false;
      this.#used.add(k);
    }
    return fresh;
  }

  async pairBegin(pair: string): Promise<PairMarkerState> {
    if (this.#banned.has(pair)) return 'banned';
    if (this.#pending.has(pair)) return 'busy';
    this.#pending.add(pair);
    return 'ok';
  }

  async pairEnd(pair: string): Promise<void> {
    this.#pending.delete(pair);
  }

  async pairBan(pair: string): Promise<void> {
    this.#pending.delete(pair);
    this.#banned.add(pair);
  }

  async pairBanned(pair: string): Promise<boolean> {
    return this.#banned.has(pair);
  }
}
