/**
 * A small typed event emitter (`on`, `off`, `emit`) that runs in browsers and Node alike, in
 * place of `node:events`.
 * @module
 */
export class Emitter<Events extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof Events, Set<(e: never) => void>>();

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): this {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn as (e: never) => void);
    return this;
  }

  off<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): this {
    this.#listeners.get(event)?.delete(fn as (e: never) => void);
    return this;
  }

  /** Calls each listener in turn; one that throws does not stop the others or the emitter. */
  protected emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (fn as (e: Events[K]) => void)(e);
      } catch {}
    }
  }
}
