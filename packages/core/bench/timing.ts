/**
 * Timing-leak section of `npm run bench`, in the style of dudect (Reparaz, Balasch, Verbauwhede,
 * "Dude, is my code constant time?", DATE 2017): a routine is called many times with its secret
 * input taken from one of two classes, in random order; Welch's t statistic compares the running
 * times of the two classes. |t| above 4.5 says the time depends on the secret; below says only
 * that this many samples could not tell the classes apart. A benchmark, not a test: the figures
 * depend on the machine, its load and V8.
 *
 * Secrets: Bob's RVOLE choice bits β (rvoleBobStart, rvoleBobFinish) and the OT-extension
 * sender's long-term Δ' (deltaPrime, oteSenderProcess, rvoleAliceRespond). A positive control,
 * which must leak, shows the method sees V8's fast path for a BigInt product by 0n.
 *
 * BENCH_TIMING_SAMPLES (default 1000; 0 skips) sets the samples per class: that many for the
 * millisecond routines, three times as many for rvoleBobStart, whose leak is the smallest (about
 * 0.5 % of the call), a quarter for rvoleAliceRespond, four times as slow, and CHEAP_FACTOR
 * times as many for the two sub-microsecond cases. About a minute in all on 2 cores.
 * @module
 */
import { systemRng } from '@tessera/core';
import { secp256k1Group as G } from '../src/group.ts';
import {
  type RvoleBobState,
  rvoleAliceRespond,
  rvoleBobFinish,
  rvoleBobStart,
} from '../src/ot/rvole.ts';
import {
  OTE_BLOCKS,
  type OteReceiverSetup,
  type OteSenderSetup,
  SEEDS_BYTES,
  seedOffset,
} from '../src/ot/setup.ts';
import { deltaPrime, OTE_XI, oteReceiverStart, oteSenderProcess } from '../src/ot/softspoken.ts';
import type { Rng } from '../src/rng.ts';
import { percentile, progress, type Row, table } from './shared.ts';

/** dudect's threshold: above it, the classes differ "with high confidence". */
const T_THRESHOLD = 4.5;
/**
 * Enough for a 20 ns difference (the control); at 100, a branch-free deltaPrime still showed
 * |t| above 4.5 from differences of 1–2 ns in 870, which tell nothing about its bits.
 */
const CHEAP_FACTOR = 10;
/**
 * Like dudect, drop the samples above a percentile of both classes pooled (interrupts, GC and
 * other processes only ever add time), at several levels, and keep the largest |t|.
 */
const CROPS = [100, 99, 95, 90, 75, 50, 25, 10] as const;
/** Distinct inputs per class, made before timing; the calls cycle through them. */
const POOL = 16;

/** Class A (0) or class B (1) of the secret input. */
export type Cls = 0 | 1;

export interface LeakCase {
  label: string;
  classes: [string, string];
  samplesPerClass: number;
  /** The call to time for the k-th sample of class `cls`; making its inputs is not timed. */
  prepare: (cls: Cls, k: number) => () => unknown;
}

export interface LeakRow {
  label: string;
  classes: [string, string];
  samplesPerClass: number;
  /** The largest |t| over the crops, the crop that gave it and the class means within it. */
  t: number;
  cropPercentile: number;
  meanNs: [number, number];
  threshold: number;
  leaks: boolean;
}

export interface LeakResult {
  samplesPerClass: number;
  cheapFactor: number;
  crops: readonly number[];
  seconds: number;
  rows: LeakRow[];
}

/** Where results go, so that V8 cannot drop the work being timed as unused. */
const sink: unknown[] = [];

interface Moments {
  n: number;
  sum: number;
  sq: number;
}
const mean = (m: Moments): number => m.sum / m.n;
const variance = (m: Moments): number => (m.sq - m.n * mean(m) ** 2) / (m.n - 1);

/** Welch's t between the classes, over the samples at most `limit` ns. */
function welch(times: Float64Array, cls: Uint8Array, limit: number): { t: number; mean: number[] } {
  const m: [Moments, Moments] = [
    { n: 0, sum: 0, sq: 0 },
    { n: 0, sum: 0, sq: 0 },
  ];
  for (let i = 0; i < times.length; i++) {
    const x = times[i] as number;
    if (x > limit) continue;
    const c = m[cls[i] as Cls];
    c.n++;
    c.sum += x;
    c.sq += x * x;
  }
  const [a, b] = m;
  if (a.n < 2 || b.n < 2) return { t: 0, mean: [mean(a), mean(b)] }; // crop too tight
  const t = Math.abs(mean(a) - mean(b)) / Math.sqrt(variance(a) / a.n + variance(b) / b.n);
  return { t, mean: [mean(a), mean(b)] };
}

/** Times one case: both classes interleaved in random order after warm-up. */
export function measureLeak(c: LeakCase): LeakRow {
  const n = c.samplesPerClass;
  // Both classes are warmed up: neither may meet a colder JIT or cache than the other.
  for (let k = 0; k < Math.max(10, n / 20); k++) {
    sink[0] = c.prepare(0, k)();
    sink[0] = c.prepare(1, k)();
  }
  // Balanced and shuffled: drift (CPU frequency, other processes) falls on both classes alike.
  const order = new Uint8Array(2 * n).map((_, i) => i & 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const times = new Float64Array(order.length);
  const seen: [number, number] = [0, 0];
  for (let i = 0; i < order.length; i++) {
    if (i % 1000 === 0) progress(`${c.label}: sample ${i}/${order.length}`);
    const cls = order[i] as Cls;
    const call = c.prepare(cls, seen[cls]++);
    const t0 = process.hrtime.bigint();
    sink[0] = call();
    times[i] = Number(process.hrtime.bigint() - t0);
  }
  progress('');
  const sorted = Array.from(times).sort((a, b) => a - b);
  let worst = { t: -1, mean: [0, 0], crop: 100 };
  for (const crop of CROPS) {
    const r = welch(times, order, percentile(sorted, crop));
    if (r.t > worst.t) worst = { ...r, crop };
  }
  return {
    label: c.label,
    classes: c.classes,
    samplesPerClass: n,
    t: worst.t,
    cropPercentile: worst.crop,
    meanNs: [worst.mean[0] as number, worst.mean[1] as number],
    threshold: T_THRESHOLD,
    leaks: worst.t > T_THRESHOLD,
  };
}

/**
 * The sender's half of a correlated setup as the all-but-one OT leaves it: every leaf seed of
 * the receiver but the one at Δ_ν. The receiver's seeds do not depend on Δ, so one receiver, and
 * every M1 it sends, serves both Δ' classes, and the sender's consistency check passes: both
 * classes time the success path.
 */
function senderFor(receiver: OteReceiverSetup, delta: Uint8Array): OteSenderSetup {
  const seeds = receiver.seeds.slice();
  for (let nu = 0; nu < OTE_BLOCKS; nu++) {
    const off = seedOffset(nu, delta[nu] as number);
    seeds.fill(0, off, off + 32);
  }
  return { setupId: receiver.setupId, delta, seeds };
}

/**
 * The leaks depend on how many secret bits are set, so each class is an extreme: one bit set
 * against all set. Not zero bits: β = 0 gives χ = 0, which rvoleBobStart rejects and draws again;
 * Δ' = 0 makes Alice's two pads equal, and `q0 − q1 = 0n` then takes V8's fast paths in her
 * BigInt arithmetic whatever the code does with Δ'. dudect's "fixed against random" would halve
 * the β signal (about 5 µs in 3 ms for rvoleBobStart), too little for a minute on a busy machine.
 */
const CLASSES: [string, string] = ['one bit set', 'all bits set'];
function betaOf(cls: Cls): Uint8Array {
  if (cls === 1) return new Uint8Array(OTE_XI / 8).fill(0xff);
  const beta = new Uint8Array(OTE_XI / 8);
  beta[0] = 1;
  return beta;
}
/** Δ'_r is bit r&3 of Δ_{r>>2}: Δ = (1, 0, 0, …) sets only Δ'_0, Δ_ν = 15 sets every bit. */
function deltaOf(cls: Cls): Uint8Array {
  if (cls === 1) return new Uint8Array(OTE_BLOCKS).fill(15);
  const delta = new Uint8Array(OTE_BLOCKS);
  delta[0] = 1;
  return delta;
}

const randomDelta = (): Uint8Array => systemRng(OTE_BLOCKS).map((x) => x & 15);

/**
 * The classes first asked for, where they are not degenerate: β all zero against random (Bob's rows
 * do not depend on β, so a state with β = 0 is built from the OT extension directly, skipping
 * rvoleBobStart's redraw of χ = 0), and Δ' all zero against all one for the routines that never
 * compare Alice's two pads (Δ' = 0 makes them equal, which never happens: 2^-256).
 */
const ISSUE_BETA: [string, string] = ['β all zero', 'β random'];
const ISSUE_DELTA: [string, string] = ["Δ' all zero", "Δ' all one"];
const issueDelta = (cls: Cls): Uint8Array => new Uint8Array(OTE_BLOCKS).fill(cls === 0 ? 0 : 15);

interface BobFinishInput {
  state: RvoleBobState;
  m2: Uint8Array;
}

/** rvoleBobStart draws β first: this rng returns the given β, then random bytes. */
function bobRng(beta: Uint8Array): Rng {
  let first = true;
  return (n) => {
    if (!first) return systemRng(n);
    first = false;
    if (n !== beta.length)
      throw new Error(`timing bench: β (${beta.length} bytes) not drawn first`);
    return beta;
  };
}

function cases(n: number): LeakCase[] {
  const sidS = systemRng(32);
  const receiver: OteReceiverSetup = { setupId: systemRng(32), seeds: systemRng(SEEDS_BYTES) };
  const alpha: [bigint, bigint] = [G.randomScalar(systemRng), G.randomScalar(systemRng)];
  const senders = [senderFor(receiver, deltaOf(0)), senderFor(receiver, deltaOf(1))] as const;
  const m1s = Array.from({ length: POOL }, () => rvoleBobStart(receiver, sidS, 1, 2, systemRng).m1);
  // rvoleBobFinish needs Alice's honest M2 for each Bob state; her Δ is random.
  const alice = senderFor(receiver, randomDelta());
  const pool = (cls: Cls): BobFinishInput[] =>
    Array.from({ length: POOL }, () => {
      const { m1, state } = rvoleBobStart(receiver, sidS, 1, 2, bobRng(betaOf(cls)));
      const { m2 } = rvoleAliceRespond(alice, sidS, 1, 2, m1, alpha, systemRng);
      return { state, m2 };
    });
  const finishPool = [pool(0), pool(1)] as const;
  // β = 0 (state made by the OT extension directly: χ would be 0) or random, with Alice's M2.
  const issuePool = (cls: Cls): BobFinishInput[] =>
    Array.from({ length: POOL }, () => {
      const beta = cls === 0 ? new Uint8Array(OTE_XI / 8) : systemRng(OTE_XI / 8);
      const { m1, state: ote } = oteReceiverStart(receiver, sidS, 1, 2, beta, systemRng);
      const { m2 } = rvoleAliceRespond(alice, sidS, 1, 2, m1, alpha, systemRng);
      return { state: { beta, chi: 0n, ote }, m2 };
    });
  const issueFinishPool = [issuePool(0), issuePool(1)] as const;
  const issueSenders = [
    senderFor(receiver, issueDelta(0)),
    senderFor(receiver, issueDelta(1)),
  ] as const;
  // deltaPrime takes ~0.5 µs, so where its one input sits in memory can show as a 1–2 ns
  // difference between the classes. Copies made alternately, A, B, A, B…, spread both classes
  // over the same stretch of the heap.
  const deltaCopies = (pair: readonly [OteSenderSetup, OteSenderSetup]) => {
    const c: [Uint8Array[], Uint8Array[]] = [[], []];
    for (let k = 0; k < POOL; k++)
      for (const cls of [0, 1] as const) c[cls].push(pair[cls].delta.slice());
    return c;
  };
  const senderDeltas = deltaCopies(senders);
  const issueDeltas = deltaCopies(issueSenders);
  const finishCall = (input: BobFinishInput) => {
    // A fresh copy each call, in case the routine wipes the state it consumes.
    const { state: s, m2 } = input;
    const state: RvoleBobState = {
      beta: s.beta.slice(),
      chi: s.chi,
      ote: { sidX: s.ote.sidX.slice(), V: s.ote.V.slice() },
    };
    return () => rvoleBobFinish(receiver.setupId, state, m2);
  };
  const scalars = Array.from({ length: POOL }, () => G.randomScalar(systemRng));
  const cheap = n * CHEAP_FACTOR;
  return [
    {
      label: 'control, must leak: b·x, x of 256 bits',
      classes: ['b = 0n', 'b = 1n'],
      samplesPerClass: cheap,
      prepare: (cls, k) => {
        const b = BigInt(cls);
        const x = scalars[k % POOL] as bigint;
        return () => b * x;
      },
    },
    {
      label: 'rvoleBobStart (χ = Σ β_i·g_i), β',
      classes: CLASSES,
      samplesPerClass: 3 * n,
      prepare: (cls) => {
        const rng = bobRng(betaOf(cls));
        return () => rvoleBobStart(receiver, sidS, 1, 2, rng);
      },
    },
    {
      label: 'rvoleBobFinish (d̂ rows), β',
      classes: CLASSES,
      samplesPerClass: n,
      prepare: (cls, k) => finishCall(finishPool[cls][k % POOL] as BobFinishInput),
    },
    {
      label: 'rvoleBobFinish (d̂ rows), β',
      classes: ISSUE_BETA,
      samplesPerClass: n,
      prepare: (cls, k) => finishCall(issueFinishPool[cls][k % POOL] as BobFinishInput),
    },
    {
      label: "deltaPrime, Δ'",
      classes: CLASSES,
      samplesPerClass: cheap,
      prepare: (cls, k) => {
        const delta = senderDeltas[cls][k % POOL] as Uint8Array;
        return () => deltaPrime(delta);
      },
    },
    {
      label: "deltaPrime, Δ'",
      classes: ISSUE_DELTA,
      samplesPerClass: cheap,
      prepare: (cls, k) => {
        const delta = issueDeltas[cls][k % POOL] as Uint8Array;
        return () => deltaPrime(delta);
      },
    },
    {
      label: "oteSenderProcess, Δ'",
      classes: ISSUE_DELTA,
      samplesPerClass: n,
      prepare: (cls, k) => {
        const m1 = m1s[k % POOL] as Uint8Array;
        return () => oteSenderProcess(issueSenders[cls], sidS, 1, 2, m1);
      },
    },
    {
      label: "oteSenderProcess, Δ'",
      classes: CLASSES,
      samplesPerClass: n,
      prepare: (cls, k) => {
        const m1 = m1s[k % POOL] as Uint8Array;
        return () => oteSenderProcess(senders[cls], sidS, 1, 2, m1);
      },
    },
    {
      label: "rvoleAliceRespond, Δ'",
      classes: CLASSES,
      samplesPerClass: Math.max(2, Math.round(n / 4)),
      prepare: (cls, k) => {
        const m1 = m1s[k % POOL] as Uint8Array;
        return () => rvoleAliceRespond(senders[cls], sidS, 1, 2, m1, alpha, systemRng);
      },
    },
  ];
}

/** Runs the timing-leak section and prints its table; null when BENCH_TIMING_SAMPLES is 0. */
export function runTimingLeakBench(): LeakResult | null {
  const v = process.env.BENCH_TIMING_SAMPLES ?? '1000';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`BENCH_TIMING_SAMPLES must be a non-negative integer: ${v}`);
  if (n === 0) return null;
  const t0 = performance.now();
  const rows = cases(n).map(measureLeak);
  const seconds = (performance.now() - t0) / 1000;

  printLeakTable(rows, seconds);
  return { samplesPerClass: n, cheapFactor: CHEAP_FACTOR, crops: CROPS, seconds, rows };
}

/** Prints the rows of a leak bench with the method's explanation below them. */
export function printLeakTable(rows: LeakRow[], seconds: number, title = 'Timing leaks'): void {
  const ns = (x: number) => Math.round(x).toLocaleString('en-US');
  const body: Row[] = rows.map((r) => [
    r.label,
    `${r.classes[0]} | ${r.classes[1]}`,
    String(r.samplesPerClass),
    ns(r.meanNs[0]),
    ns(r.meanNs[1]),
    r.t.toFixed(1),
    `p${r.cropPercentile}`,
    String(r.threshold),
    r.leaks ? '✘ above' : '✔ below',
  ]);
  const head = ['routine, secret', 'class A | class B', 'samples/class', 'mean ns A', 'mean ns B'];
  console.log(`\n${title} (dudect-style Welch t-test, ${seconds.toFixed(0)} s)\n`);
  console.log(
    table([...head, '|t|', 'crop', 'threshold', 'verdict'], body, [
      false,
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
    ])
  );
  const crops = CROPS.map((p) => `p${p}`).join(', ');
  console.log(
    '\nEach call timed alone (process.hrtime.bigint), the classes interleaved in random order\n' +
      `after warm-up. |t| is the largest over crops at ${crops} of both\n` +
      'classes pooled ("crop"; p100 keeps every sample); the means are within that crop. ✘: the\n' +
      'time depends on the secret (the control must show ✘); ✔: not seen with this many samples.'
  );
}
