/**
 * The epoch anchor: what a database restore must not undo, kept outside the database.
 *
 * - The highest share generation confirmed for each key (docs/security.md A-47). A refresh
 *   retires the old shares, so a stolen old client share is worthless. An attacker who can
 *   restore the database to before the refresh (a backup, a snapshot) would bring the old server
 *   share back, and the stolen one would sign again. A share older than the anchored generation
 *   is refused with `EPOCH_ROLLBACK`.
 * - Locks after a detected cheat (docs/security.md A-15): the generation through which the key's
 *   ECDSA pair is banned. The ban also lives in the stored share; a restore from before it would
 *   lift it and give the cheater more selective-failure probes (docs/security.md A-10). A reshare
 *   makes a new generation, which the lock does not cover.
 *
 * A confirmed generation is written only after the database made the epoch current, never ahead
 * of it: a crash between the two leaves the anchor behind, and the next load of the current epoch
 * catches it up. A lock is written before the step that detected the cheat commits: ahead of the
 * database is the safe side for a ban. The file is append-only JSON lines, fsync'd per record.
 * @module
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export interface EpochAnchor {
  /** The highest generation confirmed for the key (0 when none was recorded). */
  confirmed(keyId: string): number;
  /** Records `generation` as confirmed for the key; durable when it returns. Lower is a no-op. */
  record(keyId: string, generation: number): void;
  /** The generation through which the key is locked after a cheat (-1: not locked). */
  lockedThrough(keyId: string): number;
  /** Locks the key's shares of `generation` and older; durable when it returns. */
  lock(keyId: string, generation: number): void;
}

/** An anchor in an append-only file of `{"keyId","generation"}` and `{"keyId","locked"}` lines. */
export class FileEpochAnchor implements EpochAnchor {
  readonly #path: string;
  readonly #confirmed = new Map<string, number>();
  readonly #locked = new Map<string, number>();
  /** True when the file did not exist and was created empty now. */
  readonly created: boolean;

  constructor(path: string) {
    this.#path = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.created = !existsSync(path);
    if (this.created) {
      // The file, and its entry in the directory, exist durably before anything relies on them.
      closeSync(openSync(path, 'a', 0o600));
      const dir = openSync(dirname(path), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
      return;
    }
    const text = readFileSync(path, 'utf8');
    for (const line of text.split('\n')) {
      // A line torn by a crash is skipped; the next load of its key's current epoch re-records it.
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      const { keyId, generation, locked } = (entry ?? {}) as Record<string, unknown>;
      if (typeof keyId !== 'string') continue;
      if (Number.isSafeInteger(generation)) raise(this.#confirmed, keyId, generation as number);
      if (Number.isSafeInteger(locked)) raise(this.#locked, keyId, locked as number);
    }
    // A torn last line must not swallow the next record.
    if (text.length > 0 && !text.endsWith('\n')) this.#append('\n');
  }

  confirmed(keyId: string): number {
    return this.#confirmed.get(keyId) ?? 0;
  }

  record(keyId: string, generation: number): void {
    if (generation <= this.confirmed(keyId)) return;
    this.#append(`${JSON.stringify({ keyId, generation })}\n`);
    raise(this.#confirmed, keyId, generation);
  }

  lockedThrough(keyId: string): number {
    return this.#locked.get(keyId) ?? -1;
  }

  lock(keyId: string, generation: number): void {
    if (generation <= this.lockedThrough(keyId)) return;
    this.#append(`${JSON.stringify({ keyId, locked: generation })}\n`);
    raise(this.#locked, keyId, generation);
  }

  #append(text: string): void {
    const fd = openSync(this.#path, 'a', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** An anchor that lives only as long as the process (tests that build an engine by hand). */
export class MemoryEpochAnchor implements EpochAnchor {
  readonly #confirmed = new Map<string, number>();
  readonly #locked = new Map<string, number>();
  confirmed(keyId: string): number {
    return this.#confirmed.get(keyId) ?? 0;
  }
  record(keyId: string, generation: number): void {
    raise(this.#confirmed, keyId, generation);
  }
  lockedThrough(keyId: string): number {
    return this.#locked.get(keyId) ?? -1;
  }
  lock(keyId: string, generation: number): void {
    raise(this.#locked, keyId, generation);
  }
}

function raise(map: Map<string, number>, keyId: string, value: number): void {
  if (value > (map.get(keyId) ?? -1)) map.set(keyId, value);
}
