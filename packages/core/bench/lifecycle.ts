/**
 * Key-lifecycle figures for `npm run bench`: refresh, lost-share recovery, HD derivation per
 * level, and backup export/import. There are no reference figures, so the table shows ours
 * only. ECDSA refresh rebuilds every pairwise OT setup (as costly as a key
 * generation), so it gets BENCH_LIFECYCLE_ECDSA_RUNS runs (default 1; 0 skips it).
 * @module
 */
import { deriveChild, exportShare, importShare, type KeyShare, type Scheme } from '@tessera/core';
import { simulate } from '@tessera/core/testing';

interface Row {
  label: string;
  runs: number;
  median: number;
  p90: number;
}

async function time(label: string, n: number, fn: () => Promise<unknown> | unknown): Promise<Row> {
  await fn(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const mid = t.length >> 1;
  const median =
    t.length % 2 ? (t[mid] as number) : ((t[mid - 1] as number) + (t[mid] as number)) / 2;
  return { label, runs: n, median, p90: t[Math.max(0, Math.ceil(0.9 * n) - 1)] as number };
}

const intEnv = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
};

/** Runs the lifecycle benchmark and prints its table. */
export async function runLifecycleBench(): Promise<Row[]> {
  const runs = Math.max(1, Math.min(intEnv('BENCH_RUNS', 20), 10));
  const ecdsaRuns = intEnv('BENCH_LIFECYCLE_ECDSA_RUNS', 1);
  const rows: Row[] = [];
  for (const scheme of ['ed25519', 'bip340'] as const satisfies Scheme[]) {
    for (const [t, n] of [
      [2, 2],
      [2, 3],
    ] as const) {
      const shares = await simulate.keygen(scheme, { threshold: t, parties: n });
      rows.push(await time(`refresh ${scheme} ${t}-of-${n}`, runs, () => simulate.refresh(shares)));
    }
    const shares = await simulate.keygen(scheme, { threshold: 2, parties: 3 });
    rows.push(
      await time(`recover ${scheme} 2-of-3 (1, 3 → 2)`, runs, () =>
        simulate.reshare([shares[0], shares[2]] as KeyShare[], { threshold: 2, parties: [1, 2, 3] })
      )
    );
  }
  if (ecdsaRuns > 0) {
    const ec = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
    rows.push(await time('refresh ecdsa 2-of-2', ecdsaRuns, () => simulate.refresh(ec)));
  }
  for (const [label, scheme] of [
    ['secp256k1, BIP-32', 'bip340'],
    ['ed25519, Tessera scheme', 'ed25519'],
  ] as const) {
    const share = (await simulate.keygen(scheme, { threshold: 2, parties: 2 }))[0] as KeyShare;
    rows.push(
      await time(`derive one level (${label})`, runs * 10, () => deriveChild(share, 'm/7'))
    );
  }
  const share = (await simulate.keygen('ed25519', { threshold: 2, parties: 2 }))[0] as KeyShare;
  const blob = await exportShare(share, 'bench passphrase');
  rows.push(
    await time('backup export (Argon2id 64 MiB, t=3)', runs, () =>
      exportShare(share, 'bench passphrase')
    )
  );
  rows.push(await time('backup import', runs, () => importShare(blob, 'bench passphrase')));

  console.log('\nKey lifecycle, all parties in this process (no reference figures given)\n');
  console.log(`${'case'.padEnd(42)} runs  median ms   p90 ms`);
  console.log(`${'-'.repeat(42)} ----  ---------  -------`);
  const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(42)} ${String(r.runs).padStart(4)}  ${fmt(r.median).padStart(9)}  ${fmt(r.p90).padStart(7)}`
    );
  }
  return rows;
}
