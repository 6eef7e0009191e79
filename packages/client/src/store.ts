/**
 * Where the client keeps its shares. `ShareStore` is the interface a store implements (the Node
 * file store in `@tessera/client/node`, a browser IndexedDB store later); `MemoryShareStore` is
 * for tests and short-lived processes. Stores hold `KeyShare.toBytes()`: secret material.
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
}

export interface ShareStore {
  /** Stores a share of `key.epoch`, adding the epoch to the key's list. */
  put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void>;
  /** The share of one epoch (default: the key's current epoch). */
  get(keyId: string, epoch?: string): Promise<Uint8Array | null>;
  getKey(keyId: string): Promise<StoredKey | null>;
  list(): Promise<StoredKey[]>;
  /** Deletes every epoch of the key but `keep`. */
  prune(keyId: string, keep: string): Promise<void>;
}

export class MemoryShareStore implements ShareStore {
  readonly #keys = new Map<string, StoredKey>();
  readonly #shares = new Map<string, Uint8Array>();

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
}
