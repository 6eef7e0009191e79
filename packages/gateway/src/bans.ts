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
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { PairMarkerState, ShareStore, StoredKey } from '@tessera/client';

/** A check runs within one request: a marker older than the longest request is a dead one. */
const MARKER_LEASE_MS = 10 * 60_000;

interface Marker {
  pid: number;
  host: string;
  at: number;
  token: string;
}

/** The ban directory of a data directory; every instance sharing it shares the bans. */
export class BanBook {
  readonly dir: string;
  /** Markers this process holds, by path, with their tokens. */
  readonly #held = new Map<string, string>();

  constructor(data: string) {
    this.dir = join(data, 'bans');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  #path(pair: string, kind: 'pending' | 'banned'): string {
    return join(this.dir, `${bytesToHex(sha256(utf8ToBytes(pair))).slice(0, 40)}.${kind}`);
  }

  async begin(pair: string): Promise<PairMarkerState> {
    if (existsSync(this.#path(pair, 'banned'))) return 'banned';
    const path = this.#path(pair, 'pending');
    const marker: Marker = {
      pid: process.pid,
      host: hostname(),
      at: Date.now(),
      token: randomBytes(16).toString('hex'),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, JSON.stringify(marker), { flag: 'wx', mode: 0o600 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const state = this.#state(path);
        if (state === 'gone') continue;
        if (state === 'held') return 'busy';
        await this.ban(pair);
        return 'banned';
      }
      this.#held.set(path, marker.token);
      fsyncPath(path);
      fsyncPath(this.dir);
      return 'ok';
    }
    return 'busy';
  }

  async end(pair: string): Promise<void> {
    const path = this.#path(pair, 'pending');
    if (!this.#held.delete(path)) return;
    rmSync(path, { force: true });
    fsyncPath(this.dir);
  }

  async ban(pair: string): Promise<void> {
    const banned = this.#path(pair, 'banned');
    if (!existsSync(banned)) {
      writeFileSync(banned, JSON.stringify({ at: Date.now() }), { mode: 0o600 });
      fsyncPath(banned);
    }
    // The ban is on disk before the marker goes: a crash in between still reads as a ban.
    const pending = this.#path(pair, 'pending');
    rmSync(pending, { force: true });
    fsyncPath(this.dir);
    this.#held.delete(pending);
  }

  async banned(pair: string): Promise<boolean> {
    if (existsSync(this.#path(pair, 'banned'))) return true;
    if (this.#state(this.#path(pair, 'pending')) !== 'dead') return false;
    await this.ban(pair);
    return true;
  }

  /** `held`: its check may still run; `dead`: its writer is gone (a ban); `gone`: it just ended. */
  #state(path: string): 'held' | 'dead' | 'gone' {
    if (this.#held.has(path)) return 'held';
    let m: Partial<Marker> = {};
    let age: number;
    try {
      const text = readFileSync(path, 'utf8');
      try {
        m = JSON.parse(text) as Marker;
      } catch {
        // Torn by a crash while being written: its age alone can tell.
      }
      age = Date.now() - (typeof m.at === 'number' ? m.at : statSync(path).mtimeMs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw e;
    }
    if (age >= MARKER_LEASE_MS) return 'dead';
    // Another host (a second instance on shared storage), or our own pid reused by a restarted
    // container: only the lease can tell.
    if (typeof m.pid !== 'number' || m.host !== hostname() || m.pid === process.pid) return 'held';
    return pidAlive(m.pid) ? 'held' : 'dead';
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

function fsyncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    // Some platforms cannot open a directory for fsync (Windows).
    if (
      (e as NodeJS.ErrnoException).code === 'EISDIR' ||
      (e as NodeJS.ErrnoException).code === 'EPERM'
    )
      return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
