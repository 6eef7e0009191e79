/**
 * The durable side of one protocol run of the client (docs/protocols/common.md, "Single use and
 * erasure"; docs/protocols/ecdsa.md, "Pending checks"), between the core's
 * synchronous calls and the store's asynchronous, durable writes:
 *
 * - Single use: the core records the ids it uses (request and session ids, presignatures, nonce
 *   pairs) in a `StagedLedger` during a call; `settle()` records them in the store's ledger and
 *   refuses (`NONCE_REUSED`) if any was used before. The caller sends what the call produced
 *   only after `settle()` resolved.
 * - Pending-check markers: before a batch of server messages that includes an ECDSA round
 *   whose check can leak secret bits when it fails (`ecdsaSign.guardedRounds`), `begin()` writes
 *   the pair's marker durably; the core consults it synchronously; `settle()` clears it after the
 *   check passed, or bans the pair and writes the banned share, before any error reaches the
 *   caller.
 * @module
 */
import {
  type Envelope,
  ecdsaSign,
  type KeyShare,
  noGuardedCheck,
  type PairGuard,
  pairGuardKey,
  StagedLedger,
  TesseraError,
} from '@tessera/core';
import { ClientError } from './errors.ts';
import type { PairMarkerState, ShareStore } from './store.ts';

/** The ECDSA pair with the server, for runs that sign with an ecdsa share. */
export interface GuardedPair {
  share: KeyShare;
  peer: number;
  /** Writes the share (with the bans now recorded on it) back to the store. */
  persist(): Promise<void>;
}

export class RunGuard {
  readonly ledger = new StagedLedger();
  #marker: PairMarkerState | null = null;
  #banned = false;
  readonly #bansBefore: string;

  constructor(
    private readonly store: ShareStore,
    private readonly keyId: string | null,
    private readonly pair: GuardedPair | null = null
  ) {
    this.#bansBefore = pair?.share.bannedPeers.join(',') ?? '';
  }

  /** Before feeding `envs` to the core: the pair's marker, if one of them is of a guarded round. */
  async begin(envs: readonly Envelope[]): Promise<void> {
    if (!this.pair || !envs.some((e) => ecdsaSign.guardedRounds.includes(e.round))) return;
    this.#marker = await this.store.pairBegin(pairGuardKey(this.pair.share, this.pair.peer));
  }

  /** What the core's guarded checks consult during this batch. */
  get pairGuard(): PairGuard {
    const state = this.#marker;
    if (state === null) return noGuardedCheck;
    return {
      begin: () => state,
      end: () => {},
      ban: () => {
        this.#banned = true;
      },
    };
  }

  /**
   * After a core call (`failed`: it threw): records the ids it used, settles the marker and, after
   * a ban, writes the banned share. Resolves only once all of it is durable.
   */
  async settle(failed: boolean): Promise<void> {
    const ids = this.ledger.take();
    const marker = this.#marker;
    this.#marker = null;
    let error: unknown = null;
    try {
      if (this.pair && marker === 'ok') {
        const key = pairGuardKey(this.pair.share, this.pair.peer);
        if (this.#banned) await this.store.pairBan(key);
        else await this.store.pairEnd(key);
      }
      if (this.pair && this.pair.share.bannedPeers.join(',') !== this.#bansBefore)
        await this.pair.persist();
    } catch (e) {
      error = e;
    }
    // Recorded even when the call failed: an id the core used never counts as fresh again.
    const fresh =
      ids.length === 0 || this.keyId === null || (await this.store.consume(this.keyId, ids));
    if (error !== null) throw error;
    if (!fresh && !failed)
      throw new ClientError(
        'NONCE_REUSED',
        'a single-use id of this session (request id, session id or nonce) was used before: nothing was sent'
      );
  }
}

/**
 * Runs a core call under the run's guard: its single-use ids and pair marker are settled
 * (durably) before its output is used, and before its error reaches the caller.
 */
export async function guarded<T>(guard: RunGuard, call: () => T): Promise<T> {
  let out: T;
  try {
    out = call();
  } catch (e) {
    // The call's own error is the one to report. Should settling fail too, the pair's marker
    // stays on disk and reads as a ban later: the safe side.
    await guard.settle(true).catch(() => undefined);
    const refused = e instanceof TesseraError && e.code === 'INVALID_INPUT' ? e : null;
    if (refused?.check === 'PairBanned')
      throw new ClientError('KEY_LOCKED', refused.message, { cause: e });
    if (refused?.check === 'PairBusy')
      throw new ClientError(
        'STORE_BUSY',
        'another process of this client is checking the same pair with the server; sign again shortly',
        { cause: e }
      );
    throw e;
  }
  await guard.settle(false);
  return out;
}
