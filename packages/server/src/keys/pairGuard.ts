/**
 * The server's pair guard (docs/protocols/ecdsa.md, "Pending checks") on the store: a durable
 * marker is written before a step that runs a guarded check and settled after it (ended, or turned
 * into a ban). A marker left by a crash reads as a ban, so a check whose outcome was lost counts as
 * failed.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { PairGuard, PairGuardState } from '@tessera/core';
import type { Logger } from 'pino';
import { type Store, StoreUnavailable } from '../store/store.ts';

/** The longest a signing step may hold its pair marker before the marker counts as a crash's. */
export const PAIR_MARKER_LEASE_MS = 120_000;

/** A marker taken for one step: what it found, the core's guard over it, and its settling. */
export interface StepMarker {
  state: PairGuardState;
  guard: PairGuard;
  /** Ends the marker, or makes it a ban if a check failed; retried while the store is away. */
  settle(): Promise<void>;
}

export class StorePairGuards {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(d: { store: Store; log: Logger; now: () => number }) {
    this.#store = d.store;
    this.#log = d.log;
    this.#now = d.now;
  }

  /**
   * Writes the marker of `pair` durably before the step: the core's checks then see the stored
   * state synchronously.
   */
  async begin(pair: string): Promise<StepMarker> {
    const owner = bytesToHex(new Uint8Array(randomBytes(16)));
    let state: PairGuardState;
    try {
      state = await this.#store.pairBegin(pair, this.#now(), owner);
    } catch (e) {
      // The insert may have committed without our hearing: end the marker once the store is
      // back, or it would read as a crash's and ban the pair.
      this.#settleLater(() => this.#store.pairEnd(pair, owner));
      throw e;
    }
    let banned = false;
    const guard: PairGuard = {
      begin: () => state,
      end: () => {},
      ban: () => {
        banned = true;
      },
    };
    return {
      state,
      guard,
      settle: async () => {
        if (state !== 'ok') return;
        const write = () => (banned ? this.#store.pairBan(pair) : this.#store.pairEnd(pair, owner));
        try {
          await write();
        } catch (e) {
          if (!(e instanceof StoreUnavailable)) throw e;
          this.#settleLater(write);
        }
      },
    };
  }

  /**
   * Turns the markers of crashed steps into bans (the pending-check rule). Alone on its store, a
   * process's start-up sees only markers of its own crashed past; on a shared store, only
   * markers older than the lease can be a dead instance's.
   */
  async recover(): Promise<number> {
    const n = await this.#store.recoverPairMarkers(
      this.#store.shared ? PAIR_MARKER_LEASE_MS : null
    );
    if (n > 0)
      this.#log.warn(
        { pairs: n },
        'pair markers left by a crash are now bans (the pending-check rule)'
      );
    return n;
  }

  /**
   * Retries a marker write while the store is unreachable, for less than the marker lease: a
   * marker still pending after the lease becomes a ban, the safe side.
   */
  #settleLater(write: () => Promise<void>): void {
    const deadline = this.#now() + PAIR_MARKER_LEASE_MS / 2;
    const attempt = (delay: number) =>
      setTimeout(() => {
        write().catch((e: Error) => {
          if (this.#now() < deadline) attempt(Math.min(delay * 2, 5_000));
          else this.#log.error({ err: e.message }, 'could not settle a pair marker');
        });
      }, delay).unref();
    attempt(250);
  }
}
