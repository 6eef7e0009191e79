/**
 * Durable-write helpers for Node stores: flushing a file and its directory, and whether a
 * process that wrote a marker is still alive. Bans and used nonces must survive a crash that
 * follows their write, so every store write ends in these.
 * @module
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fsyncDir(path: string): void {
  try {
    fsyncFile(path);
  } catch (e) {
    // Some platforms cannot open a directory for fsync (Windows); the rename is still atomic.
    if (
      (e as NodeJS.ErrnoException).code !== 'EISDIR' &&
      (e as NodeJS.ErrnoException).code !== 'EPERM'
    )
      throw e;
  }
}

/** Whether `pid` runs on this host (one we may not signal still runs). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
