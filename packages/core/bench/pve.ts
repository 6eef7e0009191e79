/**
 * Verifiable backups for `npm run bench` (BENCH_ONLY=pve): encrypt, verify and decrypt of one
 * share and of a batch of 10, and the ciphertext size, for each backup-key curve, beside cb-mpc's
 * published native figures for its ECIES (P-256) variant (library v1.8.4, 4-CPU runner: encrypt
 * 23.6 ms, verify 12.9 ms, decrypt 13.0 ms; about 20 KB by its serialization). cb-mpc publishes
 * no batch-of-10 figure: its batch of 16 (encrypt 60.7 ms, verify 49.5 ms) is shown instead.
 * @module
 */
import {
  type KeyShare,
  type PveKem,
  pveDecrypt,
  pveEncrypt,
  pveKeygen,
  pveLabelOf,
  pveVerify,
} from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import { median, percentile, progress, table } from './shared.ts';

const REF = {
  single: { encrypt: 23.6, verify: 12.9, decrypt: 13.0, bytes: 20_000 },
  batch16: { encrypt: 60.7, verify: 49.5 },
} as const;

export interface PveRow {
  case: string;
  runs: number;
  medianMs: number;
  p90Ms: number;
  bytes: number | null;
  reference: string;
}

function time(n: number, fn: () => unknown): { medianMs: number; p90Ms: number } {
  fn(); // warm-up (and the backup key's tables)
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { medianMs: median(t), p90Ms: percentile(t, 90) };
}

/** Runs the PVE benchmark and prints its table. */
export async function runPveBench(runs: number): Promise<PveRow[]> {
  const n = Math.max(3, Math.min(runs, 20));
  progress('pve: key generation for the shares');
  const keys: KeyShare[] = [];
  for (let k = 0; k < 10; k++) {
    const scheme = k % 3 === 0 ? 'ecdsa' : k % 3 === 1 ? 'ed25519' : 'bip340';
    // Ed25519/BIP-340 key generation is fast; for ECDSA reuse one key (its share is what counts).
    const shares =
      scheme === 'ecdsa' && keys[0]
        ? [keys[0]]
        : await simulate.keygen(scheme, { threshold: 2, parties: 2 });
    keys.push(shares[0] as KeyShare);
  }
  const rows: PveRow[] = [];
  for (const kem of ['x25519', 'p256'] as const satisfies PveKem[]) {
    const kp = pveKeygen(kem);
    for (const batch of [1, 10]) {
      const shares = batch === 1 ? [keys[0] as KeyShare] : keys;
      const label = pveLabelOf(shares);
      const X = shares.map((s) => s.verificationShare(s.partyId));
      progress(`pve: ${kem}, ${batch} share(s)`);
      let ct = pveEncrypt(shares, kp, label);
      const enc = time(n, () => {
        ct = pveEncrypt(shares, kp, label);
      });
      const ver = time(n, () => pveVerify(ct, X, kp, label));
      const dec = time(n, () => pveDecrypt(ct, kp, label, X));
      const what = batch === 1 ? '1 share' : '10 shares';
      const ref = batch === 1 ? REF.single : REF.batch16;
      rows.push(
        {
          case: `encrypt, ${what}, ${kem}`,
          runs: n,
          ...enc,
          bytes: ct.length,
          reference: `${ref.encrypt} ms${batch === 1 ? '' : ' (16)'}`,
        },
        {
          case: `verify, ${what}, ${kem}`,
          runs: n,
          ...ver,
          bytes: null,
          reference: `${ref.verify} ms${batch === 1 ? '' : ' (16)'}`,
        },
        {
          case: `decrypt, ${what}, ${kem}`,
          runs: n,
          ...dec,
          bytes: null,
          reference: batch === 1 ? `${REF.single.decrypt} ms` : '—',
        }
      );
    }
  }
  const f = (x: number) => x.toFixed(1);
  console.log('\nVerifiable backups (PVE, κ = 128), one thread\n');
  console.log(
    table(
      ['case', 'runs', 'median ms', 'p90 ms', 'bytes', 'cb-mpc ECIES P-256 (native)'],
      rows.map((r) => [
        r.case,
        String(r.runs),
        f(r.medianMs),
        f(r.p90Ms),
        r.bytes === null ? '' : r.bytes.toLocaleString('en-US'),
        r.reference,
      ]),
      [false, true, true, true, true, true]
    )
  );
  console.log(
    `\ncb-mpc's ciphertext is about ${REF.single.bytes.toLocaleString('en-US')} bytes for one share (estimated from its serialization; not published).`
  );
  return rows;
}
