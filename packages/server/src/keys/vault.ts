/**
 * The key vault: the one way to the server's shares. It loads and opens a sealed share, keeps
 * the decoded-share cache, checks every loaded share against the epoch anchor kept outside the
 * store (rollback; docs/security.md A-47), and owns pair locks (bans anchored outside the store;
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { bytesToHex } from '@noble/hashes/utils.js';
import { BoundedCache, KeyShare } from '@tessera/core';
import type { Logger } from 'pino';
import type { EpochAnchor } from '../anchor.ts';
import type { ShareInput } from '../compute.ts';
import type { Sealer } from '../custody.ts';
import { ApiError, notFound } from '../errors.ts';
import type { AuditEvent, KeyEffect, KeyRecord, Store } from '../store/store.ts';
import { CLIENT_PARTY } from './parties.ts';

const SHARE_CACHE_SIZE = 256;

const hex = bytesToHex;
/** SHA-256 in hex through OpenSSL: a sealed share is tens of KiB. */
const nodeSha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A share as a step or start uses it: decoded, and as a compute job carries it. */
export interface LoadedShare {
  share: KeyShare;
  input: ShareInput;
}

export interface VaultDeps {
  store: Store;
  sealer: Sealer;
  anchor: EpochAnchor;
  log: Logger;
}

export class KeyVault {
  readonly #store: Store;
  readonly #sealer: Sealer;
  readonly #anchor: EpochAnchor;
  readonly #log: Logger;
  /**
   * Decoded shares by key id and epoch, with the digest of the sealed blob they came from:
   * decoding and validating a share costs more than a signing round's bookkeeping. Bounded; an
   * entry whose blob changed is not used.
   */
  readonly #shares = new BoundedCache<string, { blob: string; share: KeyShare; bytes: Uint8Array }>(
    SHARE_CACHE_SIZE,
    { onEvict: (_, dropped) => dropped.bytes.fill(0) }
  );

  constructor(d: VaultDeps) {
    this.#store = d.store;
    this.#sealer = d.sealer;
    this.#anchor = d.anchor;
    this.#log = d.log;
  }

  /** The key, if it belongs to `subject`; 404 otherwise, the same for a missing one. */
  async ownedKey(subject: string, keyId: string): Promise<KeyRecord> {
    // Another subject's key is indistinguishable from a missing one, in the answer and in the
    // time it takes (no existence oracle).
    const key = await this.#store.getKey(keyId, subject);
    if (!key || key.subject !== subject) throw notFound('key');
    return key;
  }

  /** The share of `epoch`, decoded (EPOCH_STALE when there is none, KEY_CORRUPTED, rollback). */
  async share(key: KeyRecord, epoch: string): Promise<KeyShare> {
    return (await this.load(key, epoch)).share;
  }

  /**
   * The share of `epoch`, decoded, and its encoding as a compute job carries it (named by the
   * sealed blob's digest, under which workers keep it decoded).
   */
  async load(key: KeyRecord, epoch: string): Promise<LoadedShare> {
    const blob = await this.#store.getShare(key.keyId, epoch);
    if (!blob) throw new ApiError('EPOCH_STALE', `no share of epoch ${epoch} for key ${key.keyId}`);
    const cacheKey = `${key.keyId}:${epoch}`;
    const digest = nodeSha256(blob);
    const cached = this.#shares.get(cacheKey);
    if (cached?.blob === digest) {
      this.#checkAnchor(key, epoch, cached.share);
      return { share: cached.share, input: { digest, bytes: cached.bytes } };
    }
    const bytes = this.#sealer.openShare(key.keyId, key.serverParty, epoch, blob);
    let share: KeyShare;
    try {
      share = KeyShare.fromBytes(bytes);
    } catch {
      bytes.fill(0);
      throw new ApiError('KEY_CORRUPTED', `the stored share of key ${key.keyId} does not decode`);
    }
    if (
      share.keyIdHex !== key.keyId ||
      hex(share.epoch) !== epoch ||
      share.partyId !== key.serverParty
    )
      throw new ApiError(
        'KEY_CORRUPTED',
        `the stored share of key ${key.keyId} is not the one its record names`
      );
    try {
      this.#checkAnchor(key, epoch, share);
    } catch (e) {
      bytes.fill(0);
      throw e;
    }
    // Plaintext share bytes live as long as the decoded share they came with, and no longer.
    if (cached) cached.bytes.fill(0);
    this.#shares.set(cacheKey, { blob: digest, share, bytes });
    return { share, input: { digest, bytes } };
  }

  /**
   * The server's share of `keyId` at `epoch` (its encoding), sealed for the store under its
   * party id (the server is party 2, or 3 as node 2 of a 2-of-3 key).
   */
  seal(keyId: string, party: number, epoch: string, share: Uint8Array): Uint8Array {
    return this.#sealer.sealShare(keyId, party, epoch, share);
  }

  /** A share whose bans changed (its encoding), sealed for the store. */
  bansEffect(keyId: string, party: number, epoch: string, share: Uint8Array): KeyEffect {
    return { kind: 'share', keyId, epoch, share: this.seal(keyId, party, epoch, share) };
  }

  /**
   * a share older than the generation anchored outside the store means the store was
   * rolled back to before a refresh; it never signs again. Loading the current epoch catches the
   * anchor up when a crash came between the store's confirmation and the anchor's record.
   */
  #checkAnchor(key: KeyRecord, epoch: string, share: KeyShare): void {
    const anchored = this.#anchor.confirmed(key.keyId);
    if (share.generation < anchored) {
      this.#log.error(
        { keyId: key.keyId, epoch, generation: share.generation, anchored },
        'epoch rollback: the store holds a share older than a confirmed refresh'
      );
      throw new ApiError(
        'EPOCH_ROLLBACK',
        `key ${key.keyId}: the stored share is of generation ${share.generation}, but generation ${anchored} was confirmed; the store was rolled back`
      );
    }
    if (epoch !== key.epoch || share.generation <= anchored) return;
    try {
      this.#anchor.record(key.keyId, share.generation);
    } catch (e) {
      // Signing goes on; the anchor catches up at a later load.
      this.#log.warn({ keyId: key.keyId, err: (e as Error).message }, 'epoch anchor not written');
    }
  }

  /**
   * a cheat detected on this key's pair is anchored outside the store before
   * the step commits, so a store restored from before the ban still refuses to sign. If the
   * anchor cannot be written the ban still goes to the store.
   */
  lock(keyId: string, share: KeyShare): void {
    try {
      this.#anchor.lock(keyId, share.generation);
    } catch (e) {
      this.#log.error(
        { keyId, err: (e as Error).message },
        'could not anchor a pair ban; the store still records it'
      );
    }
  }

  /** KEY_LOCKED when the pair of this share is banned, by the share or by the anchor. */
  refuseLocked(key: KeyRecord, share: KeyShare): void {
    // A ban the stored share holds but the anchor does not (recorded before the anchor existed,
    // or by another instance) is anchored now; the core refuses the pair either way.
    if (share.isBanned(CLIENT_PARTY) && this.#anchor.lockedThrough(key.keyId) < share.generation)
      this.lock(key.keyId, share);
    const through = this.#anchor.lockedThrough(key.keyId);
    if (share.generation > through) return;
    if (!share.isBanned(CLIENT_PARTY))
      this.#log.error(
        { keyId: key.keyId, generation: share.generation },
        'the store lost a pair ban that the epoch anchor holds (restored from before the ban?)'
      );
    throw new ApiError(
      'KEY_LOCKED',
      `key ${key.keyId} is locked after a detected cheat; a reshare is needed`
    );
  }

  /**
   * The client holds its share of the pending epoch: make it current (older shares are deleted)
   * and anchor it. EPOCH_STALE unless `epoch` is the key's pending epoch.
   */
  async confirmEpoch(
    subject: string,
    keyId: string,
    epoch: string,
    at: number
  ): Promise<KeyRecord> {
    const key = await this.ownedKey(subject, keyId);
    if (!(await this.confirmPending(key, epoch)))
      throw new ApiError('EPOCH_STALE', `epoch ${epoch} is not the pending epoch of key ${keyId}`);
    const event: AuditEvent = {
      at,
      subject,
      keyId,
      sessionId: null,
      action: 'refresh.confirm',
      outcome: 'ok',
      details: { epoch },
    };
    await this.#store.audit(event);
    return (await this.#store.getKey(keyId)) ?? key;
  }

  /** Makes `epoch` current if it is still the key's pending epoch, and anchors it if so. */
  async confirmPending(key: KeyRecord, epoch: string): Promise<boolean> {
    if (!(await this.#store.confirmEpoch(key.keyId, epoch))) return false;
    await this.anchorConfirmed(key, epoch);
    return true;
  }

  /**
   * After the store made `epoch` current: anchor its generation. The confirmation stands if this
   * fails; the next load of the epoch records it.
   */
  async anchorConfirmed(key: KeyRecord, epoch: string): Promise<void> {
    try {
      await this.share({ ...key, epoch, pendingEpoch: null }, epoch);
    } catch (e) {
      this.#log.warn(
        { keyId: key.keyId, epoch, err: (e as Error).message },
        'could not anchor a confirmed epoch yet'
      );
    }
  }
}
