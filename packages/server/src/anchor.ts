/**
 * The epoch anchor (security-tests SRV-S-03): the highest share generation confirmed for each
 * key, kept outside the database.
 *
 * A refresh retires the old shares, so a stolen old client share is worthless. An attacker who
 * can restore the database to before the refresh (a backup, a snapshot) would bring the old
 * server share back, and the stolen one would sign again. The anchor outlives such a restore: a
 * share older than the anchored generation is refused with `EPOCH_ROLLBACK`.
 *
 * The anchor is written only after the database made an epoch current, and never ahead of it:
 * a crash between the two leaves the anchor behind, and the next load of the current epoch
 * catches it up. It is an append-only file of JSON lines, fsync'd on every record.
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
}

/** An anchor in an append-only file of `{"keyId","generation"}` lines. */
export class FileEpochAnchor implements EpochAnchor {
  readonly #path: string;
  readonly #confirmed = new Map<string, number>();

  constructor(path: string) {
    this.#path = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (!existsSync(path)) return;
    const text = readFileSync(path, 'utf8');
    for (const line of text.split('\n')) {
      // A line torn by a crash is skipped; the next load of its key's current epoch re-records it.
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      const { keyId, generation } = (entry ?? {}) as { keyId?: unknown; generation?: unknown };
      if (typeof keyId === 'string' && Number.isSafeInteger(generation))
        this.#raise(keyId, generation as number);
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
    this.#raise(keyId, generation);
  }

  #raise(keyId: string, generation: number): void {
    if (generation > this.confirmed(keyId)) this.#confirmed.set(keyId, generation);
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
  confirmed(keyId: string): number {
    return this.#confirmed.get(keyId) ?? 0;
  }
  record(keyId: string, generation: number): void {
    if (generation > this.confirmed(keyId)) this.#confirmed.set(keyId, generation);
  }
}
