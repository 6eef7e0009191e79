/** Helpers shared by the server bench's sections (`run.ts`, `hostile.ts`). @module */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const fixture = join(import.meta.dirname, '..', 'test', 'fixtures', 'server-process.ts');

export const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
export const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s.length
    ? (s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number)
    : Number.NaN;
};
export const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');

/** utime+stime (clock ticks) and RSS (KiB) of a process, from /proc. */
export function procStats(pid: number): { ticks: number; rssKiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { ticks, rssKiB: Number(rss?.[1] ?? 0) };
}
export const TICKS_PER_SECOND = 100;

/**
 * The server of `test/fixtures/server-process.ts` in its own process (dev mode), on a free port
 * of 127.0.0.1; `env` adds to the fixture's variables (`CONFIG`, `WORKERS`…).
 */
export async function startServer(
  data: string,
  env: Record<string, string> = {}
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, DATA: data, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
}

/** Stops a server of `startServer` and waits for its exit. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Adds `value` under `key` to the BENCH_JSON file. In a whole `npm run bench` (no BENCH_ONLY) the
 * core bench has just written that file, and the key joins its sections; otherwise the file is
 * written anew.
 */
export function addToBenchJson(key: string, value: unknown): void {
  const path = process.env.BENCH_JSON;
  if (!path) return;
  const merge = process.env.BENCH_ONLY === undefined && existsSync(path);
  const out = merge
    ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)
    : {
        meta: {
          date: new Date().toISOString(),
          node: process.version,
          platform: `${process.platform} ${process.arch}`,
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model.trim() ?? null,
        },
      };
  out[key] = value;
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nWrote ${key} to ${path}`);
}
