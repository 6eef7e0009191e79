/**
 * A map that keeps at most `capacity` entries and drops the least recently used one to make room.
 * Every cache in Tessera is one of these, so that none of them grows with what a caller sends.
 * @module
 */

/** Options of `BoundedCache`. */
export interface BoundedCacheOptions<K, V> {
  /**
   * Called with an entry dropped to make room (not with one replaced or deleted by the caller):
   * where a cached value holds secrets, this is where they are erased.
   */
  onEvict?: (key: K, value: V) => void;
}

/** A least-recently-used cache of bounded size. */
export class BoundedCache<K, V> {
  readonly capacity: number;
  readonly #map = new Map<K, V>();
  readonly #onEvict: ((key: K, value: V) => void) | undefined;

  constructor(capacity: number, opts: BoundedCacheOptions<K, V> = {}) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('BoundedCache: the capacity must be a positive integer');
    this.capacity = capacity;
    this.#onEvict = opts.onEvict;
  }

  /** The number of entries. */
  get size(): number {
    return this.#map.size;
  }

  /** The value under `key`, which becomes the most recently used; undefined if absent. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, v);
    return v;
  }

  /** Stores `value` under `key` as the most recently used, dropping the oldest entry if full. */
  set(key: K, value: V): void {
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.capacity) {
      const [oldKey, oldValue] = this.#map.entries().next().value as [K, V];
      this.#map.delete(oldKey);
      this.#onEvict?.(oldKey, oldValue);
    }
    this.#map.set(key, value);
  }

  /** The value under `key`, made by `make` and stored if absent. */
  getOrCreate(key: K, make: (key: K) => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const v = make(key);
    this.set(key, v);
    return v;
  }

  /** Removes `key`; true if it was there. */
  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Removes every entry (without calling `onEvict`). */
  clear(): void {
    this.#map.clear();
  }
}
