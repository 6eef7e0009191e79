/**
 * The browser's `ShareStore`: everything in IndexedDB (never localStorage), written in
 * transactions that resolve only once committed (`durability: 'strict'`).
 *
 * - Each share is AES-256-GCM encrypted under a random wrapping key that WebCrypto generated as
 *   non-extractable and that is kept, as a `CryptoKey`, in IndexedDB: script in the page can ask
 *   for decryptions while it runs, but can never read the key out. The associated data names the
 *   key id and epoch, so a ciphertext moved to another record does not decrypt.
 * - Optionally a passphrase adds a second layer (Argon2id, 64 MiB, t = 3, then AES-256-GCM as a
 *   non-extractable key): the wallet is locked until it is unlocked with the passphrase.
 * - The nonce ledger and the ECDSA pending-check markers (docs/protocols/ecdsa.md) are records
 *   of their own stores, each written in one transaction before the promise resolves.
 * - Liveness of a marker's owner is a Web Lock each store instance holds for its lifetime: a
 *   pending marker whose owner's lock is gone was left by a tab that died mid-check, and counts
 *   as a ban, as the file store counts a dead process's marker.
 * @module
 */
import type { PairMarkerState, ShareStore, StoredKey } from '@tessera/client';
import { argon2id } from 'hash-wasm';
import {
  exclusively,
  inTransaction,
  liveOwner,
  liveOwners,
  open,
  openDb,
  request,
  type Sealed,
  type StoreName,
  seal,
  WalletStoreError,
} from './idb.ts';

export { WalletStoreError };

const WRAPPING_KEY = 'wrapping-key';
const PASSPHRASE = 'passphrase';
const AAD_PREFIX = 'tessera-wallet/share/v1';
/** Argon2id for the optional passphrase: the floor of Tessera's backups. */
const ARGON2 = { memorySize: 65536, iterations: 3, parallelism: 1 } as const;
const CHECK_PLAINTEXT = new TextEncoder().encode('tessera-wallet/passphrase-check/v1');

interface SealedShare extends Sealed {
  /** Present when the passphrase layer wrapped the share before the wrapping key did. */
  layered?: true;
}

interface PassphraseRecord {
  salt: Uint8Array;
  memorySize: number;
  iterations: number;
  parallelism: number;
  check: Sealed;
}

interface Marker {
  state: 'pending' | 'banned';
  owner: string;
}

const aad = (keyId: string, epoch: string) =>
  new TextEncoder().encode(`${AAD_PREFIX}\0${keyId}\0${epoch}`);

/** The passphrase layer's key: Argon2id output imported as a non-extractable AES-GCM key. */
async function passphraseKey(passphrase: string, rec: Omit<PassphraseRecord, 'check'>) {
  const raw = (await argon2id({
    password: passphrase,
    salt: rec.salt,
    memorySize: rec.memorySize,
    iterations: rec.iterations,
    parallelism: rec.parallelism,
    hashLength: 32,
    outputType: 'binary',
  })) as Uint8Array<ArrayBuffer>;
  try {
    return await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  } finally {
    raw.fill(0);
  }
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.length === b.length && a.every((x, i) => x === b[i]);

const sameSealed = (a: SealedShare | undefined, b: SealedShare): boolean =>
  a !== undefined && sameBytes(a.iv, b.iv) && sameBytes(a.ciphertext, b.ciphertext);

export class IndexedDbShareStore implements ShareStore {
  readonly #db: IDBDatabase;
  readonly #wrappingKey: CryptoKey;
  readonly #owner: string;
  /** The passphrase layer as this instance unlocked it, with the salt of the record it opened. */
  #layer: { key: CryptoKey; salt: Uint8Array } | null = null;

  private constructor(db: IDBDatabase, wrappingKey: CryptoKey, owner: string) {
    this.#db = db;
    this.#wrappingKey = wrappingKey;
    this.#owner = owner;
  }

  /** Opens the wallet's database, creating the wrapping key on first use. */
  static async open(): Promise<IndexedDbShareStore> {
    const db = await openDb();
    // Two tabs opening a fresh wallet at once must not each make a wrapping key.
    const wrappingKey = await exclusively('tessera-wallet:init', async () => {
      const found = (await inTransaction(db, 'meta', 'readonly', (tx) =>
        request(tx.objectStore('meta').get(WRAPPING_KEY))
      )) as CryptoKey | undefined;
      if (found) return found;
      const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
        'encrypt',
        'decrypt',
      ]);
      await inTransaction(db, 'meta', 'readwrite', (tx) => {
        tx.objectStore('meta').put(key, WRAPPING_KEY);
      });
      return key;
    });
    return new IndexedDbShareStore(db, wrappingKey, liveOwner());
  }

  /** The wrapping key as stored (non-extractable): the device home seals its identity with it. */
  get wrappingKey(): CryptoKey {
    return this.#wrappingKey;
  }

  /** The database, for the other record stores of the wallet (the device home). */
  get db(): IDBDatabase {
    return this.#db;
  }

  #tx<T>(
    stores: StoreName | StoreName[],
    mode: IDBTransactionMode,
    fn: (tx: IDBTransaction) => Promise<T> | T
  ): Promise<T> {
    return inTransaction(this.#db, stores, mode, fn);
  }

  // ---- the passphrase layer ----

  async #passphraseRecord(): Promise<PassphraseRecord | undefined> {
    return this.#tx('meta', 'readonly', (tx) => request(tx.objectStore('meta').get(PASSPHRASE)));
  }

  /** This instance's layer, if it opened the passphrase record as it is now (another tab may have changed it). */
  #currentLayer(rec: PassphraseRecord | undefined): CryptoKey | null {
    if (!rec || !this.#layer || !sameBytes(this.#layer.salt, rec.salt)) return null;
    return this.#layer.key;
  }

  /** Whether a passphrase protects the shares, and whether this instance is unlocked. */
  async lockState(): Promise<{ passphrase: boolean; unlocked: boolean }> {
    const rec = await this.#passphraseRecord();
    return { passphrase: rec !== undefined, unlocked: !rec || this.#currentLayer(rec) !== null };
  }

  async unlock(passphrase: string): Promise<void> {
    const rec = await this.#passphraseRecord();
    if (!rec) return;
    const key = await passphraseKey(passphrase, rec);
    try {
      await open(key, rec.check, CHECK_PLAINTEXT);
    } catch {
      throw new WalletStoreError('WRONG_PASSPHRASE', 'the wallet passphrase is wrong');
    }
    this.#layer = { key, salt: rec.salt };
  }

  /**
   * Protects every share with a passphrase as well (or replaces the passphrase). Every share is
   * re-encrypted and written with the new record in one transaction, so a crash leaves all shares
   * under the old layer or all under the new. A share stored meanwhile (by this tab or another)
   * makes the write start over, so none is left under the old layer.
   */
  async setPassphrase(passphrase: string): Promise<void> {
    if (passphrase.length < 8)
      throw new WalletStoreError('BAD_INPUT', 'a wallet passphrase has at least 8 characters');
    await exclusively('tessera-wallet:passphrase', async () => {
      const salt = crypto.getRandomValues(new Uint8Array(16));
      const params = { salt, ...ARGON2 };
      const key = await passphraseKey(passphrase, params);
      const check = await seal(key, CHECK_PLAINTEXT, CHECK_PLAINTEXT);
      for (let attempt = 0; attempt < 5; attempt++) {
        const current = await this.#passphraseRecord();
        if (current && !this.#currentLayer(current))
          throw new WalletStoreError('WALLET_LOCKED', 'unlock the wallet first');
        const snapshot = await this.#tx('shares', 'readonly', async (tx) => {
          const store = tx.objectStore('shares');
          const ids = (await request(store.getAllKeys())) as string[];
          const sealed = (await request(store.getAll())) as SealedShare[];
          return new Map(ids.map((id, i) => [id, sealed[i] as SealedShare]));
        });
        const resealed = new Map<string, SealedShare>();
        for (const id of snapshot.keys()) {
          const [keyId, epoch] = id.split('/') as [string, string];
          const plain = await this.#openShare(keyId, epoch);
          if (!plain) continue;
          try {
            resealed.set(id, await this.#sealShare(keyId, epoch, plain, key));
          } finally {
            plain.fill(0);
          }
        }
        const written = await this.#tx(['meta', 'shares'], 'readwrite', async (tx) => {
          const store = tx.objectStore('shares');
          const ids = (await request(store.getAllKeys())) as string[];
          const now = (await request(store.getAll())) as SealedShare[];
          const unchanged =
            ids.length === snapshot.size &&
            ids.every((id, i) => sameSealed(snapshot.get(id), now[i] as SealedShare));
          if (!unchanged) return false;
          tx.objectStore('meta').put({ ...params, check } satisfies PassphraseRecord, PASSPHRASE);
          for (const [id, s] of resealed) store.put(s, id);
          return true;
        });
        if (written) {
          this.#layer = { key, salt };
          return;
        }
      }
      throw new WalletStoreError('STORAGE', 'shares kept changing: set the passphrase again');
    });
  }

  async #sealShare(
    keyId: string,
    epoch: string,
    share: Uint8Array,
    layer: CryptoKey | null
  ): Promise<SealedShare> {
    const data = aad(keyId, epoch);
    if (!layer) return seal(this.#wrappingKey, share, data);
    const inner = await seal(layer, share, data);
    const packed = new Uint8Array(12 + inner.ciphertext.length);
    packed.set(inner.iv);
    packed.set(inner.ciphertext, 12);
    return { ...(await seal(this.#wrappingKey, packed, data)), layered: true };
  }

  async #openShare(keyId: string, epoch: string): Promise<Uint8Array | null> {
    const sealed = (await this.#tx('shares', 'readonly', (tx) =>
      request(tx.objectStore('shares').get(`${keyId}/${epoch}`))
    )) as SealedShare | undefined;
    if (!sealed) return null;
    const data = aad(keyId, epoch);
    const outer = await open(this.#wrappingKey, sealed, data).catch(() => {
      throw new WalletStoreError('STORAGE', `the stored share of ${keyId} does not decrypt`);
    });
    if (!sealed.layered) return outer;
    const layer = this.#layer?.key;
    if (!layer) {
      outer.fill(0);
      throw new WalletStoreError('WALLET_LOCKED', 'the wallet is locked: enter its passphrase');
    }
    try {
      return await open(layer, { iv: outer.subarray(0, 12), ciphertext: outer.subarray(12) }, data);
    } finally {
      outer.fill(0);
    }
  }

  // ---- ShareStore ----

  async put(key: Omit<StoredKey, 'epochs'>, share: Uint8Array): Promise<void> {
    const rec = await this.#passphraseRecord();
    const layer = this.#currentLayer(rec);
    if (rec && !layer)
      throw new WalletStoreError('WALLET_LOCKED', 'the wallet is locked: enter its passphrase');
    const sealed = await this.#sealShare(key.keyId, key.epoch, share, layer);
    await this.#tx(['meta', 'keys', 'shares'], 'readwrite', async (tx) => {
      // Sealed under the layer the record names now, or not written: a passphrase set or changed
      // meanwhile would leave this share under a key nobody can unlock.
      const now = (await request(tx.objectStore('meta').get(PASSPHRASE))) as
        | PassphraseRecord
        | undefined;
      if (!sameBytes(now?.salt, rec?.salt))
        throw new WalletStoreError('WALLET_LOCKED', 'the wallet passphrase changed: unlock again');
      const keys = tx.objectStore('keys');
      const prev = (await request(keys.get(key.keyId))) as StoredKey | undefined;
      const epochs = [...new Set([...(prev?.epochs ?? []), key.epoch])];
      keys.put({ ...key, epochs } satisfies StoredKey, key.keyId);
      tx.objectStore('shares').put(sealed, `${key.keyId}/${key.epoch}`);
    });
  }

  async get(keyId: string, epoch?: string): Promise<Uint8Array | null> {
    const k = await this.getKey(keyId);
    if (!k) return null;
    const e = epoch ?? k.epoch;
    if (!k.epochs.includes(e)) return null;
    return this.#openShare(keyId, e);
  }

  getKey(keyId: string): Promise<StoredKey | null> {
    return this.#tx('keys', 'readonly', async (tx) => {
      const k = (await request(tx.objectStore('keys').get(keyId))) as StoredKey | undefined;
      return k ?? null;
    });
  }

  list(): Promise<StoredKey[]> {
    return this.#tx('keys', 'readonly', (tx) =>
      request(tx.objectStore('keys').getAll())
    ) as Promise<StoredKey[]>;
  }

  async prune(keyId: string, keep: string): Promise<void> {
    await this.#tx(['keys', 'shares'], 'readwrite', async (tx) => {
      const keys = tx.objectStore('keys');
      const k = (await request(keys.get(keyId))) as StoredKey | undefined;
      if (!k?.epochs.includes(keep)) return;
      for (const e of k.epochs) if (e !== keep) tx.objectStore('shares').delete(`${keyId}/${e}`);
      keys.put({ ...k, epoch: keep, epochs: [keep] } satisfies StoredKey, keyId);
    });
  }

  async consume(keyId: string, ids: readonly string[]): Promise<boolean> {
    return this.#tx('ledger', 'readwrite', async (tx) => {
      const ledger = tx.objectStore('ledger');
      let fresh = new Set(ids).size === ids.length;
      for (const id of ids) {
        const k = `${keyId}/${id}`;
        if ((await request(ledger.count(k))) > 0) fresh = false;
        ledger.put(1, k);
      }
      return fresh;
    });
  }

  // ---- pending-check markers ----

  pairBegin(pair: string): Promise<PairMarkerState> {
    // Under one lock, so no other instance writes a marker between the liveness query and the
    // transaction (which would read as a dead owner's and ban a healthy pair).
    return exclusively('tessera-wallet:markers', async () => {
      const live = await liveOwners();
      return this.#tx('markers', 'readwrite', async (tx) => {
        const markers = tx.objectStore('markers');
        const m = (await request(markers.get(pair))) as Marker | undefined;
        if (m?.state === 'banned') return 'banned';
        if (m && live.has(m.owner)) return 'busy';
        if (m) {
          markers.put({ state: 'banned', owner: m.owner } satisfies Marker, pair);
          return 'banned';
        }
        markers.put({ state: 'pending', owner: this.#owner } satisfies Marker, pair);
        return 'ok';
      });
    });
  }

  async pairEnd(pair: string): Promise<void> {
    await this.#tx('markers', 'readwrite', async (tx) => {
      const markers = tx.objectStore('markers');
      const m = (await request(markers.get(pair))) as Marker | undefined;
      if (m?.state === 'pending' && m.owner === this.#owner) markers.delete(pair);
    });
  }

  async pairBan(pair: string): Promise<void> {
    await this.#tx('markers', 'readwrite', (tx) => {
      tx.objectStore('markers').put({ state: 'banned', owner: this.#owner } satisfies Marker, pair);
    });
  }

  pairBanned(pair: string): Promise<boolean> {
    return exclusively('tessera-wallet:markers', async () => {
      const live = await liveOwners();
      return this.#tx('markers', 'readonly', async (tx) => {
        const m = (await request(tx.objectStore('markers').get(pair))) as Marker | undefined;
        return m !== undefined && (m.state === 'banned' || !live.has(m.owner));
      });
    });
  }

  // ---- the wallet's own settings (server address, access token) ----

  setting(name: string): Promise<string | undefined> {
    return this.#tx('settings', 'readonly', (tx) => request(tx.objectStore('settings').get(name)));
  }

  async setSetting(name: string, value: string | null): Promise<void> {
    await this.#tx('settings', 'readwrite', (tx) => {
      if (value === null) tx.objectStore('settings').delete(name);
      else tx.objectStore('settings').put(value, name);
    });
  }
}
