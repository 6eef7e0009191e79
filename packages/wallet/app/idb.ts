/**
 * The wallet's IndexedDB database and what every record store of it shares: promises over
 * requests and transactions (a write resolves once committed, `durability: 'strict'`), sealing
 * under a non-extractable AES-GCM key, and origin-wide Web Locks.
 * @module
 */

const DB_NAME = 'tessera-wallet';
const DB_VERSION = 2;
const STORES = [
  'meta',
  'keys',
  'shares',
  'ledger',
  'markers',
  'settings',
  'device',
  'peers',
  'pairing',
] as const;

export type StoreName = (typeof STORES)[number];

/** A refusal of the wallet's storage the page can explain: `code` is stable. */
export class WalletStoreError extends Error {
  override name = 'WalletStoreError';
  constructor(
    readonly code: 'WALLET_LOCKED' | 'WRONG_PASSPHRASE' | 'STORAGE' | 'BAD_INPUT',
    message: string
  ) {
    super(message);
  }
}

export interface Sealed {
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

export const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

export const committed = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    // A failed request aborts the transaction: `onabort` carries its error (`onerror` fires
    // before the transaction's error is set).
    tx.onabort = () =>
      reject(tx.error ?? new WalletStoreError('STORAGE', 'a storage transaction was aborted'));
  });

export function openDb(): Promise<IDBDatabase> {
  const r = indexedDB.open(DB_NAME, DB_VERSION);
  r.onupgradeneeded = () => {
    const db = r.result;
    for (const name of STORES) if (!db.objectStoreNames.contains(name)) db.createObjectStore(name);
  };
  return request(r);
}

/**
 * Runs `fn` in one transaction and resolves once it committed; if `fn` throws, the transaction
 * is aborted and nothing of it is written. `fn` may await only requests of this transaction.
 */
export async function inTransaction<T>(
  db: IDBDatabase,
  stores: StoreName | StoreName[],
  mode: IDBTransactionMode,
  fn: (tx: IDBTransaction) => Promise<T> | T
): Promise<T> {
  const tx = db.transaction(stores, mode, { durability: 'strict' });
  const done = committed(tx);
  let result: T;
  try {
    result = await fn(tx);
  } catch (e) {
    try {
      tx.abort();
    } catch {}
    await done.catch(() => {});
    throw e;
  }
  await done;
  return result;
}

/** WebCrypto takes views of plain ArrayBuffers; ours are never shared buffers. */
const view = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

export async function seal(key: CryptoKey, plain: Uint8Array, data: Uint8Array): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: view(data) },
    key,
    view(plain)
  );
  return { iv, ciphertext: new Uint8Array(ct) };
}

export async function open(key: CryptoKey, sealed: Sealed, data: Uint8Array): Promise<Uint8Array> {
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: view(sealed.iv), additionalData: view(data) },
    key,
    view(sealed.ciphertext)
  );
  return new Uint8Array(plain);
}

/** Runs `fn` under an exclusive Web Lock shared by every tab and worker of this origin. */
export const exclusively = <T>(name: string, fn: () => Promise<T>): Promise<T> =>
  navigator.locks.request(name, { mode: 'exclusive' }, fn) as Promise<T>;

const OWNER_PREFIX = 'tessera-wallet:owner:';

/**
 * A fresh owner id whose Web Lock this worker holds until it ends: how another instance tells a
 * live owner's record (a pending marker, a pairing attempt) from a dead one's.
 */
export function liveOwner(): string {
  const owner = crypto.randomUUID();
  void navigator.locks.request(`${OWNER_PREFIX}${owner}`, () => new Promise(() => {}));
  return owner;
}

/** The owners whose lock is held now. */
export async function liveOwners(): Promise<Set<string>> {
  const held = (await navigator.locks.query()).held ?? [];
  return new Set(
    held.flatMap((l) =>
      l.name?.startsWith(OWNER_PREFIX) ? [l.name.slice(OWNER_PREFIX.length)] : []
    )
  );
}
