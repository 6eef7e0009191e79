/**
 * Statistics, progress and table printing shared by the bench's sections.
 * @module
 */

/** Median (mean of the middle two for an even count) of sorted samples. */
export function median(sorted: number[]): number {
  const mid = sorted.length >> 1;
  const hi = sorted[mid] as number;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] as number) + hi) / 2;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/** A progress line on stderr, overwritten in place; only on a terminal. */
export function progress(msg: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${msg}`);
}

export type Row = string[] | { title: string };

/** Renders rows as an aligned table; `right[i]` right-aligns column i. */
export function table(head: string[], rows: Row[], right: boolean[]): string {
  const cells = [head, ...rows.filter((r): r is string[] => Array.isArray(r))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const body = rows.map((r) => (Array.isArray(r) ? line(r) : r.title));
  return [line(head), rule, ...body].join('\n');
}
