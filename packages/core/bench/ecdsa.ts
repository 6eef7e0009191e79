/**
 * ECDSA (DKLs23) figures for `npm run bench`: key generation, signing split into presign
 * (rounds 1–2) and online (digest bound, round 3) phases, CPU time, bytes per party per round,
 * and key-share size, beside figures measured with a reference implementation.
 *
 * Key generation is slow in pure JS here, so it gets BENCH_ECDSA_DKG_RUNS runs (default 3; 0
 * skips the DKG timings).
 * @module
 */
import {
  type EcdsaSignature,
  type EcdsaSignSession,
  type Envelope,
  ecdsaSign,
  type KeyShare,
  type NonceLedger,
  type PartyId,
  systemRng,
} from '@tessera/core';
import { memoryLedgerForTests, memoryPairGuardForTests, simulate } from '@tessera/core/testing';

/** Reference (Rust → WASM, same protocol family) on this machine class, measured when DKLs23 was added. */
const REF = {
  dkg22: 855,
  dkg23: 2520,
  sign: 60,
  presign: 51,
  online: 1.3,
  kibPerSig: 110,
  shareKib: 124,
};

const runs = (name: string, dflt: number, min = 1): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}`);
  return v;
};

interface Stat {
  label: string;
  runs: number;
  median: number;
  p90: number;
  cpu: number;
  ref: number;
}

function stat(label: string, wall: number[], cpu: number[], ref: number): Stat {
  const s = [...wall].sort((a, b) => a - b);
  const c = [...cpu].sort((a, b) => a - b);
  const med = (x: number[]) =>
    x.length % 2
      ? (x[x.length >> 1] as number)
      : ((x[x.length / 2 - 1] as number) + (x[x.length / 2] as number)) / 2;
  return {
    label,
    runs: s.length,
    median: med(s),
    p90: s[Math.max(0, Math.ceil(0.9 * s.length) - 1)] as number,
    cpu: med(c),
    ref,
  };
}

async function timeIt(
  n: number,
  warmup: number,
  fn: () => Promise<unknown> | unknown
): Promise<{ wall: number[]; cpu: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall, cpu };
}

/** Bytes sent by each party, per round. */
type Sent = Map<PartyId, Map<number, number>>;

function count(sent: Sent, from: PartyId, env: Envelope, parties: number): void {
  const m = sent.get(from) ?? new Map<number, number>();
  sent.set(from, m);
  // A broadcast body must reach every other party.
  const n = env.to === 0 ? parties - 1 : 1;
  m.set(env.round, (m.get(env.round) ?? 0) + env.body.length * n);
}

/** Presign: rounds 1–2 for every signer, in waves, until every session waits for its digest. */
function presign(
  shares: KeyShare[],
  ledger: NonceLedger,
  sent?: Sent
): Map<PartyId, EcdsaSignSession> {
  const pairGuard = memoryPairGuardForTests();
  const rid = systemRng(32);
  const signers = shares.map((s) => s.partyId);
  const byId = new Map(shares.map((s) => [s.partyId, s]));
  const sessions = new Map<PartyId, EcdsaSignSession>();
  let queue: { from: PartyId; env: Envelope }[] = [];
  for (const share of shares) {
    const step = ecdsaSign.start({ share, signers, rid }, { ledger });
    sessions.set(share.partyId, step.session);
    for (const env of step.out) queue.push({ from: share.partyId, env });
  }
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { from, env } of queue) {
      if (sent) count(sent, from, env, shares.length);
      for (const to of env.to === 0 ? signers.filter((p) => p !== from) : [env.to]) {
        const step = ecdsaSign.receive(sessions.get(to) as EcdsaSignSession, env, {
          share: byId.get(to) as KeyShare,
          sender: from,
          ledger,
          pairGuard,
        });
        sessions.set(to, step.session);
        for (const out of step.out) next.push({ from: to, env: out });
      }
    }
    queue = next;
  }
  return sessions;
}

/** Online: bind the digest at every signer and exchange the round-3 broadcasts. */
function online(
  shares: KeyShare[],
  sessions: Map<PartyId, EcdsaSignSession>,
  digest: Uint8Array,
  ledger: NonceLedger,
  sent?: Sent
): EcdsaSignature {
  const byId = new Map(shares.map((s) => [s.partyId, s]));
  const outs: { from: PartyId; env: Envelope }[] = [];
  for (const [id, session] of sessions) {
    const step = ecdsaSign.complete(session, digest, { share: byId.get(id) as KeyShare, ledger });
    sessions.set(id, step.session);
    for (const env of step.out) outs.push({ from: id, env });
  }
  let sig: EcdsaSignature | undefined;
  const pairGuard = memoryPairGuardForTests();
  for (const { from, env } of outs) {
    if (sent) count(sent, from, env, shares.length);
    for (const to of sessions.keys()) {
      if (to === from) continue;
      const step = ecdsaSign.receive(sessions.get(to) as EcdsaSignSession, env, {
        share: byId.get(to) as KeyShare,
        sender: from,
        ledger,
        pairGuard,
      });
      sessions.set(to, step.session);
      sig ??= step.result;
    }
  }
  if (!sig) throw new Error('online phase produced no signature');
  return sig;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 0);

/** Runs the ECDSA benchmark and prints its tables. */
export async function runEcdsaBench(): Promise<Record<string, unknown>> {
  const stats: Stat[] = [];
  const dkgRuns = runs('BENCH_ECDSA_DKG_RUNS', 3, 0); // 0: skip the DKG timings
  const signRuns = runs('BENCH_RUNS', 20);
  for (const [t, n, ref] of [
    [2, 2, REF.dkg22],
    [2, 3, REF.dkg23],
  ] as const) {
    if (dkgRuns === 0) break;
    const { wall, cpu } = await timeIt(dkgRuns, 0, () =>
      simulate.keygen('ecdsa', { threshold: t, parties: n })
    );
    stats.push(stat(`ECDSA DKG ${t}-of-${n}`, wall, cpu, ref));
  }
  const k22 = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
  const k23 = await simulate.keygen('ecdsa', { threshold: 2, parties: 3 });
  const digest = systemRng(32);
  const bytes: Record<string, Record<string, number>> = {};
  for (const [name, shares] of [
    ['2-of-2', k22],
    ['2 of 2-of-3 (parties 1, 3)', [k23[0], k23[2]] as KeyShare[]],
  ] as const) {
    const ledger = memoryLedgerForTests();
    const pre: number[] = [];
    const preCpu: number[] = [];
    const on: number[] = [];
    const onCpu: number[] = [];
    const tot: number[] = [];
    for (let i = 0; i < signRuns + 2; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const sessions = presign(shares as KeyShare[], ledger);
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      online(shares as KeyShare[], sessions, digest, ledger);
      const t2 = performance.now();
      const c2 = process.cpuUsage(c1);
      if (i < 2) continue; // warm-up
      const pc = process.cpuUsage(c0);
      pre.push(t1 - t0);
      preCpu.push((pc.user + pc.system - c2.user - c2.system) / 1000);
      on.push(t2 - t1);
      onCpu.push((c2.user + c2.system) / 1000);
      tot.push(t2 - t0);
    }
    stats.push(stat(`ECDSA presign ${name}`, pre, preCpu, REF.presign));
    stats.push(stat(`ECDSA online  ${name}`, on, onCpu, REF.online));
    stats.push(
      stat(
        `ECDSA sign    ${name} total`,
        tot,
        pre.map((p, k) => p + (on[k] as number)),
        REF.sign
      )
    );
    const sent: Sent = new Map();
    online(shares as KeyShare[], presign(shares as KeyShare[], ledger, sent), digest, ledger, sent);
    bytes[name] = Object.fromEntries(
      [...sent].map(([p, m]) => [`party ${p}`, [...m.values()].reduce((a, b) => a + b, 0)])
    );
    for (const [p, m] of sent) {
      bytes[name][`party ${p} r1`] = m.get(1) ?? 0;
      bytes[name][`party ${p} r2`] = m.get(2) ?? 0;
      bytes[name][`party ${p} r3`] = m.get(3) ?? 0;
    }
  }
  const shareSize = {
    '2-of-2': (k22[0] as KeyShare).toBytes().length,
    '2-of-3': (k23[0] as KeyShare).toBytes().length,
  };

  console.log(
    '\nThreshold ECDSA (DKLs23), all parties in this process; reference = Rust→WASM implementation\n'
  );
  console.log(`${'case'.padEnd(42)} runs  median ms  p90 ms   CPU ms  reference   ours/ref`);
  console.log(`${'-'.repeat(42)} ----  ---------  ------  -------  ----------  --------`);
  for (const s of stats) {
    console.log(
      `${s.label.padEnd(42)} ${String(s.runs).padStart(4)}  ${fmt(s.median).padStart(9)}  ${fmt(s.p90).padStart(6)}  ${fmt(s.cpu).padStart(7)}  ${`≈ ${s.ref} ms`.padEnd(10)}  ${(s.median / s.ref).toFixed(1).padStart(7)}×`
    );
  }
  console.log(
    '\nBytes sent per party per signature (bodies; a broadcast counted once per recipient); reference ≈ 110 KiB'
  );
  for (const [name, b] of Object.entries(bytes)) {
    for (const p of Object.keys(b).filter((k) => /^party \d+$/.test(k))) {
      console.log(
        `  ${name.padEnd(28)} ${p}: ${kib(b[p] as number).padStart(10)}  (round 1 ${kib(b[`${p} r1`] as number)}, round 2 ${kib(b[`${p} r2`] as number)}, round 3 ${b[`${p} r3`]} B)`
      );
    }
  }
  console.log(
    `\nKey share size (toBytes): 2-of-2 ${kib(shareSize['2-of-2'])}, 2-of-3 ${kib(shareSize['2-of-3'])}; reference 124 KiB (2-of-2)`
  );
  return { stats, bytes, shareSize };
}
