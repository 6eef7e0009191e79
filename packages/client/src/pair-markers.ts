/**
 * Pending-check markers and bans of ECDSA pairs in a directory (docs/protocols/ecdsa.md,
 * "Pending checks"), named `<h>.pending` and `<h>.banned` by a hash `h` of the pair. The file
 * share store keeps them under its home; the gateway, whose requests keep nothing else, in its
 * data directory, shared by every instance on it.
 *
 * A pending marker is written (and flushed) before a check that leaks secret bits when it fails,
 * and removed once it passed. A marker whose writer is gone (its process died, or it is older
 * than the lease) counts as a ban: the check may have failed and been seen.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { fsyncDir, fsyncFile, pidAlive } from './durable.ts';
import type { PairMarkerState } from './store.ts';

/**
 * A guarded check takes well under a second, and a gateway request at most minutes: a marker
 * this old whose process cannot be seen (another host) is a crash's, hence a ban.
 */
const MARKER_LEASE_MS = 10 * 60_000;

interface Marker {
  pid: number;
  host: string;
  at: number;
  /** Which holder wrote it: a process may open several stores on one directory. */
  token: string;
}

/**
 * The markers this process holds, by path, with their tokens: shared by every instance of the
 * process, so a second one on the same directory sees a marker of the first as held.
 */
const HELD = new Map<string, string>();

export class PairMarkerDir {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  #path(pair: string, kind: 'pending' | 'banned'): string {
    return join(this.dir, `${bytesToHex(sha256(utf8ToBytes(pair))).slice(0, 40)}.${kind}`);
  }

  async begin(pair: string): Promise<PairMarkerState> {
    if (existsSync(this.#path(pair, 'banned'))) return 'banned';
    const path = this.#path(pair, 'pending');
    const token = bytesToHex(randomBytes(16));
    const marker: Marker = { pid: process.pid, host: hostname(), at: Date.now(), token };
    // A marker that ends while we look at it is looked at again (a few times, then: busy).
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(path, JSON.stringify(marker), { flag: 'wx', mode: 0o600 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const state = markerState(path);
        if (state === 'gone') continue;
        if (state === 'held') return 'busy';
        // A marker nobody holds: its process died during the check, which may have failed.
        await this.ban(pair);
        return 'banned';
      }
      HELD.set(path, token);
      fsyncFile(path);
      fsyncDir(this.dir);
      return 'ok';
    }
    return 'busy';
  }

  async end(pair: string): Promise<void> {
    const path = this.#path(pair, 'pending');
    if (!HELD.delete(path)) return;
    rmSync(path, { force: true });
    fsyncDir(this.dir);
  }

  async ban(pair: string): Promise<void> {
    const banned = this.#path(pair, 'banned');
    if (!existsSync(banned)) {
      writeFileSync(banned, JSON.stringify({ at: Date.now() }), { mode: 0o600 });
      fsyncFile(banned);
    }
    // The ban is on disk before the marker goes: a crash in between still reads as a ban.
    const pending = this.#path(pair, 'pending');
    rmSync(pending, { force: true });
    fsyncDir(this.dir);
    HELD.delete(pending);
  }

  async banned(pair: string): Promise<boolean> {
    if (existsSync(this.#path(pair, 'banned'))) return true;
    if (markerState(this.#path(pair, 'pending')) !== 'dead') return false;
    await this.ban(pair);
    return true;
  }
}

/**
 * What a pending marker on disk stands for. `held`: its check may still be running (this process
 * holds it; or its process is alive on this host; or, on another host or under our own pid,
 * which a restarted container reuses, it is younger than the lease). `dead`: its process is
 * gone, so the check may have failed and been seen: a ban. `gone`: it just ended.
 */
function markerState(path: string): 'held' | 'dead' | 'gone' {
  if (HELD.has(path)) return 'held';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  let m: Partial<Marker> = {};
  try {
    m = JSON.parse(text) as Marker;
  } catch {
    // Torn by a crash while being written: its age alone can tell.
  }
  let age: number;
  try {
    age = Date.now() - (typeof m.at === 'number' ? m.at : statSync(path).mtimeMs);
  } catch {
    return 'gone';
  }
  if (age >= MARKER_LEASE_MS) return 'dead';
  if (typeof m.pid !== 'number' || m.host !== hostname() || m.pid === process.pid) return 'held';
  return pidAlive(m.pid) ? 'held' : 'dead';
}
