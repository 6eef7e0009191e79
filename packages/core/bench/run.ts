/**
 * `npm run bench`: wall-clock time and message sizes of @tessera/core's protocols.
 *
 * Times (median and p90 over BENCH_RUNS measured runs, default 20, after warm-up) of the DKG
 * (2-of-2, 2-of-3) and of 2-party FROST signing for `ed25519` and `bip340`, each run through
 * `simulate` (all parties in one process), printed beside fixed reference figures and beside
 * noble's own FROST (`ed25519_FROST`, `schnorr_FROST`) and a single `ed25519.sign`, measured now
 * on this machine. Then the bytes each party sends, per round, counted by driving the low-level
 * `start`/`receive` API in waves exactly like `simulate` does. With BENCH_JSON=<path> the figures
 * are also written there as JSON. Then ECDSA (ecdsa.ts), the key lifecycle (lifecycle.ts) and
 * timing leaks of the OT secrets (timing.ts).
 * @module
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { FROST } from '@noble/curves/abstract/frost.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr_FROST } from '@noble/curves/secp256k1.js';
import {
  dkg,
  type Envelope,
  frostSign,
  type KeyShare,
  type NonceLedger,
  type PartyId,
  type SessionStatus,
  type Step,
  systemRng,
} from '@tessera/core';
import { memoryLedgerForTests, simulate } from '@tessera/core/testing';
import { runEcdsaBench } from './ecdsa.ts';
import { runLifecycleBench } from './lifecycle.ts';
import { runPveBench } from './pve.ts';
import { median, percentile, progress, type Row, table } from './shared.ts';
import { runTimingLeakBench } from './timing.ts';

type FrostScheme = 'ed25519' | 'bip340';
const SCHEMES: readonly FrostScheme[] = ['ed25519', 'bip340'];

/** Reference figures (noble's own FROST on this machine class), in milliseconds. */
const REF = { dkg22: 45, dkg23: 110, sign2: 42, ed25519Sign: 0.5 } as const;

const WARMUP = 3;
const RUNS = parseRuns(process.env.BENCH_RUNS);
/** The single-signature case is ~1000× cheaper, so it gets more runs for a stable figure. */
const SINGLE_SIG_FACTOR = 10;
const MESSAGE = new TextEncoder().encode('tessera bench: a 2-party threshold signature');

function parseRuns(v: string | undefined): number {
  if (v === undefined || v === '') return 20;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_RUNS must be a positive integer: ${v}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Timing {
  id: string;
  label: string;
  runs: number;
  warmup: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  refMs: number;
  /** This case's median divided by the reference figure. */
  ratioToRef: number;
  /** For Tessera cases: the id of the noble case measured now that it is compared with. */
  nobleId?: string;
  nobleMedianMs?: number;
  ratioToNoble?: number;
}

async function measure(
  id: string,
  label: string,
  refMs: number,
  fn: () => unknown,
  opts: { runs?: number; warmup?: number } = {}
): Promise<Timing> {
  const runs = opts.runs ?? RUNS;
  const warmup = opts.warmup ?? WARMUP;
  progress(`${label}: warm-up`);
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 5 === 0) progress(`${label}: run ${i + 1}/${runs}`);
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  progress('');
  const sorted = [...samples].sort((a, b) => a - b);
  const med = median(sorted);
  return {
    id,
    label,
    runs,
    warmup,
    medianMs: med,
    p90Ms: percentile(sorted, 90),
    minMs: sorted[0] as number,
    maxMs: sorted[sorted.length - 1] as number,
    meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
    refMs,
    ratioToRef: med / refMs,
  };
}

// noble's FROST, run in-process (every party's rounds called directly, no transport).

type NobleKey = ReturnType<FROST['DKG']['round3']>;

function nobleDkg(frost: FROST, t: number, n: number): NobleKey[] {
  const ids = Array.from({ length: n }, (_, k) => frost.Identifier.fromNumber(k + 1));
  const signers = { min: t, max: n };
  const r1 = ids.map((id) => frost.DKG.round1(id, signers));
  const othersOf = (k: number) => r1.filter((_, j) => j !== k).map((p) => p.public);
  const r2 = r1.map((p, k) => frost.DKG.round2(p.secret, othersOf(k)));
  return r1.map((p, k) => {
    const me = ids[k] as string;
    const received = r2
      .filter((_, j) => j !== k)
      .map((out) => {
        const pkg = out[me];
        if (!pkg) throw new Error(`noble DKG: no round-2 package for ${me}`);
        return pkg;
      });
    return frost.DKG.round3(p.secret, othersOf(k), received);
  });
}

function nobleSign(frost: FROST, keys: NobleKey[], msg: Uint8Array): Uint8Array {
  const first = keys[0];
  if (!first) throw new Error('noble sign: no keys');
  const gen = keys.map((k) => frost.commit(k.secret));
  const commitments = gen.map((g) => g.commitments);
  const shares: Record<string, Uint8Array> = {};
  keys.forEach((k, i) => {
    const nonces = (gen[i] as (typeof gen)[number]).nonces;
    shares[k.secret.identifier] = frost.signShare(k.secret, k.public, nonces, commitments, msg);
  });
  return frost.aggregate(first.public, commitments, msg, shares);
}

const NOBLE: Record<FrostScheme, { name: string; frost: FROST }> = {
  ed25519: { name: 'ed25519_FROST', frost: ed25519_FROST },
  bip340: { name: 'schnorr_FROST', frost: schnorr_FROST },
};

function pick<T>(xs: T[], ...idx: number[]): T[] {
  return idx.map((i) => {
    const x = xs[i];
    if (x === undefined) throw new Error(`no element ${i}`);
    return x;
  });
}

async function runTimings(): Promise<Timing[]> {
  const out: Timing[] = [];
  const add = (t: Timing): void => {
    out.push(t);
  };

  // noble first, so the Tessera rows can be set beside the figures measured now.
  for (const scheme of SCHEMES) {
    const { name, frost } = NOBLE[scheme];
    add(
      await measure(`noble.dkg.2of2.${scheme}`, `noble ${name} DKG 2-of-2`, REF.dkg22, () =>
        nobleDkg(frost, 2, 2)
      )
    );
    add(
      await measure(`noble.dkg.2of3.${scheme}`, `noble ${name} DKG 2-of-3`, REF.dkg23, () =>
        nobleDkg(frost, 2, 3)
      )
    );
    const k22 = nobleDkg(frost, 2, 2);
    const k23 = pick(nobleDkg(frost, 2, 3), 0, 2);
    add(
      await measure(`noble.sign.2of2.${scheme}`, `noble ${name} sign 2-of-2`, REF.sign2, () =>
        nobleSign(frost, k22, MESSAGE)
      )
    );
    add(
      await measure(`noble.sign.2of3.${scheme}`, `noble ${name} sign 2 of 2-of-3`, REF.sign2, () =>
        nobleSign(frost, k23, MESSAGE)
      )
    );
  }
  const sk = ed25519.utils.randomSecretKey();
  add(
    await measure(
      'noble.ed25519.sign',
      'single Ed25519 signature (noble ed25519.sign)',
      REF.ed25519Sign,
      () => ed25519.sign(MESSAGE, sk),
      { runs: RUNS * SINGLE_SIG_FACTOR, warmup: WARMUP * SINGLE_SIG_FACTOR }
    )
  );

  const noble = new Map(out.map((t) => [t.id, t]));
  const tessera = async (id: string, label: string, ref: number, fn: () => unknown) => {
    const t = await measure(`tessera.${id}`, label, ref, fn);
    const n = noble.get(`noble.${id}`);
    if (n) {
      t.nobleId = n.id;
      t.nobleMedianMs = n.medianMs;
      t.ratioToNoble = t.medianMs / n.medianMs;
    }
    add(t);
  };
  for (const scheme of SCHEMES) {
    await tessera(`dkg.2of2.${scheme}`, `Tessera DKG 2-of-2 ${scheme}`, REF.dkg22, () =>
      simulate.keygen(scheme, { threshold: 2, parties: 2 })
    );
    await tessera(`dkg.2of3.${scheme}`, `Tessera DKG 2-of-3 ${scheme}`, REF.dkg23, () =>
      simulate.keygen(scheme, { threshold: 2, parties: 3 })
    );
    const s22 = await simulate.keygen(scheme, { threshold: 2, parties: 2 });
    const s23 = pick(await simulate.keygen(scheme, { threshold: 2, parties: 3 }), 0, 2);
    await tessera(`sign.2of2.${scheme}`, `Tessera FROST sign 2-of-2 ${scheme}`, REF.sign2, () =>
      simulate.sign(scheme, s22, MESSAGE)
    );
    await tessera(
      `sign.2of3.${scheme}`,
      `Tessera FROST sign 2 of 2-of-3 ${scheme}`,
      REF.sign2,
      () => simulate.sign(scheme, s23, MESSAGE)
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bytes on the wire

interface RoundBytes {
  round: number;
  /** Every body this party emitted in this round, each counted once. */
  raw: number;
  /** Broadcast bodies counted once per recipient, plus p2p bodies. */
  delivered: number;
  broadcastCount: number;
  broadcastBytes: number;
  p2pCount: number;
  p2pBytes: number;
}

interface PartyBytes {
  party: PartyId;
  rounds: RoundBytes[];
  totalRaw: number;
  totalDelivered: number;
}

interface ProtocolBytes {
  id: string;
  label: string;
  protocol: 'dkg' | 'frost.sign';
  scheme: FrostScheme;
  threshold: number;
  parties: number;
  signers: PartyId[];
  rounds: number;
  perParty: PartyBytes[];
}

/**
 * Runs started parties to completion the way `simulate`'s `runParties` does (waves; a broadcast
 * goes to every other started party; the transport authenticates senders; one nonce ledger) and
 * counts the body bytes each party sends.
 */
function drive<S extends { status: SessionStatus }, R>(
  starts: { id: PartyId; step: Step<S, never> }[],
  receive: (s: S, e: Envelope, o: { sender: PartyId; ledger: NonceLedger }) => Step<S, R>,
  ledger: NonceLedger = memoryLedgerForTests()
): { results: Map<PartyId, R>; sent: Map<PartyId, Map<number, RoundBytes>> } {
  const sessions = new Map<PartyId, S>();
  for (const { id, step } of starts) sessions.set(id, step.session);
  const results = new Map<PartyId, R>();
  const sent = new Map<PartyId, Map<number, RoundBytes>>();
  for (const id of sessions.keys()) sent.set(id, new Map());
  let queue: { origin: PartyId; env: Envelope }[] = [];

  const emit = (into: typeof queue, origin: PartyId, env: Envelope): void => {
    const byRound = sent.get(origin) as Map<number, RoundBytes>;
    let r = byRound.get(env.round);
    if (!r) {
      r = emptyRound(env.round);
      byRound.set(env.round, r);
    }
    const len = env.body.length;
    r.raw += len;
    if (env.to === 0) {
      r.broadcastCount++;
      r.broadcastBytes += len;
      r.delivered += len * (sessions.size - 1);
    } else {
      r.p2pCount++;
      r.p2pBytes += len;
      r.delivered += len;
    }
    into.push({ origin, env });
  };

  for (const { id, step } of starts) for (const env of step.out) emit(queue, id, env);
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { origin, env } of queue) {
      const recipients = env.to === 0 ? [...sessions.keys()].filter((p) => p !== origin) : [env.to];
      for (const r of recipients) {
        const session = sessions.get(r);
        if (session?.status !== 'active') continue;
        const step = receive(session, env, { sender: origin, ledger });
        sessions.set(r, step.session);
        for (const out of step.out) emit(next, r, out);
        if (step.result !== undefined) results.set(r, step.result);
      }
    }
    queue = next;
  }
  if (results.size !== sessions.size) {
    const stuck = [...sessions.keys()].filter((id) => !results.has(id));
    throw new Error(`parties ${stuck.join(', ')} did not finish`);
  }
  return { results, sent };
}

const emptyRound = (round: number): RoundBytes => ({
  round,
  raw: 0,
  delivered: 0,
  broadcastCount: 0,
  broadcastBytes: 0,
  p2pCount: 0,
  p2pBytes: 0,
});

function summarise(
  sent: Map<PartyId, Map<number, RoundBytes>>,
  rounds: number
): { perParty: PartyBytes[] } {
  const perParty = [...sent.entries()]
    .sort(([a], [b]) => a - b)
    .map(([party, byRound]) => {
      const list = Array.from({ length: rounds }, (_, k) => {
        const r = byRound.get(k + 1);
        return r ?? emptyRound(k + 1);
      });
      const extra = [...byRound.keys()].filter((k) => k < 1 || k > rounds);
      if (extra.length > 0) throw new Error(`unexpected rounds ${extra.join(', ')}`);
      return {
        party,
        rounds: list,
        totalRaw: list.reduce((a, r) => a + r.raw, 0),
        totalDelivered: list.reduce((a, r) => a + r.delivered, 0),
      };
    });
  return { perParty };
}

const bytesHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function dkgBytes(
  scheme: FrostScheme,
  t: number,
  n: number
): { pb: ProtocolBytes; shares: KeyShare[] } {
  const sid0 = systemRng(32);
  const starts = Array.from({ length: n }, (_, k) => ({
    id: k + 1,
    step: dkg.start({ scheme, threshold: t, parties: n, me: k + 1, sid0 }),
  }));
  const { results, sent } = drive(starts, dkg.receive);
  const shares = [...results.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
  const keys = new Set(shares.map((s) => bytesHex(s.groupKey)));
  if (keys.size !== 1) throw new Error(`dkg ${scheme} ${t}-of-${n}: parties disagree on the key`);
  return {
    pb: {
      id: `dkg.${t}of${n}.${scheme}`,
      label: `DKG ${t}-of-${n}`,
      protocol: 'dkg',
      scheme,
      threshold: t,
      parties: n,
      signers: starts.map((s) => s.id),
      rounds: 4,
      ...summarise(sent, 4),
    },
    shares,
  };
}

function signBytes(scheme: FrostScheme, shares: KeyShare[], label: string): ProtocolBytes {
  const first = shares[0];
  if (!first) throw new Error('sign: no shares');
  const rid = systemRng(32);
  const signers = shares.map((s) => s.partyId);
  const ledger = memoryLedgerForTests();
  const starts = shares.map((share) => ({
    id: share.partyId,
    step: frostSign.start({ share, signers, message: MESSAGE, rid }, { ledger }),
  }));
  const { results, sent } = drive(starts, frostSign.receive, ledger);
  const sigs = new Set([...results.values()].map(bytesHex));
  if (sigs.size !== 1) throw new Error(`sign ${scheme}: signers returned different signatures`);
  return {
    id: `sign.${first.threshold}of${first.parties.length}.${scheme}`,
    label,
    protocol: 'frost.sign',
    scheme,
    threshold: first.threshold,
    parties: first.parties.length,
    signers,
    rounds: 2,
    ...summarise(sent, 2),
  };
}

function runBytes(): ProtocolBytes[] {
  const out: ProtocolBytes[] = [];
  for (const scheme of SCHEMES) {
    const d22 = dkgBytes(scheme, 2, 2);
    const d23 = dkgBytes(scheme, 2, 3);
    out.push(d22.pb, d23.pb);
    out.push(signBytes(scheme, d22.shares, 'FROST sign 2-of-2'));
    out.push(signBytes(scheme, pick(d23.shares, 0, 2), 'FROST sign 2 of 2-of-3'));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

const ms = (x: number): string => x.toFixed(x < 1 ? 3 : x < 10 ? 2 : 1);
const ratio = (x: number): string => `${x.toFixed(2)}×`;

function timingRow(t: Timing): string[] {
  return [
    t.label,
    String(t.runs),
    ms(t.medianMs),
    ms(t.p90Ms),
    `ref ≈ ${t.refMs} ms`,
    ratio(t.ratioToRef),
    t.nobleMedianMs === undefined ? '' : ms(t.nobleMedianMs),
    t.ratioToNoble === undefined ? '' : ratio(t.ratioToNoble),
  ];
}

function printTimings(timings: Timing[]): void {
  const is = (prefix: string) => timings.filter((t) => t.id.startsWith(prefix));
  const rows: Row[] = [
    { title: 'Tessera (simulate.keygen / simulate.sign, all parties in this process)' },
    ...is('tessera.').map(timingRow),
    { title: '' },
    { title: "noble's own FROST, measured now (every party's rounds called in-process)" },
    ...is('noble.dkg.').map(timingRow),
    ...is('noble.sign.').map(timingRow),
    { title: '' },
    ...is('noble.ed25519.').map(timingRow),
  ];
  console.log(
    table(
      ['case', 'runs', 'median ms', 'p90 ms', 'reference', 'ours/ref', 'noble now', 'ours/noble'],
      rows,
      [false, true, true, true, false, true, true, true]
    )
  );
  console.log(
    '\n"ours/ref" = this row\'s median ÷ the reference figure; "noble now" = the median of the\n' +
      'matching noble row above (ed25519 → ed25519_FROST, bip340 → schnorr_FROST), and\n' +
      '"ours/noble" = Tessera median ÷ that. p90 is nearest-rank.'
  );
}

function printBytes(all: ProtocolBytes[]): void {
  const rounds = Math.max(...all.map((p) => p.rounds));
  const roundHead = Array.from({ length: rounds }, (_, k) => `round ${k + 1}`);
  const rows: Row[] = [];
  for (const p of all) {
    const cell = (i: number, f: (r: RoundBytes) => number, pb: PartyBytes) =>
      i < p.rounds ? String(f(pb.rounds[i] as RoundBytes)) : '—';
    const label = `${p.label} (signers ${p.signers.join(',')})`;
    p.perParty.forEach((pb, k) => {
      const first = k === 0;
      for (const kind of ['raw', 'delivered'] as const) {
        rows.push([
          first && kind === 'raw' ? label : '',
          first && kind === 'raw' ? p.scheme : '',
          kind === 'raw' ? String(pb.party) : '',
          kind,
          ...roundHead.map((_, i) => cell(i, (r) => r[kind], pb)),
          String(kind === 'raw' ? pb.totalRaw : pb.totalDelivered),
        ]);
      }
    });
    for (const kind of ['raw', 'delivered'] as const) {
      const sum = (f: (r: RoundBytes) => number, i: number) =>
        p.perParty.reduce((a, pb) => a + f(pb.rounds[i] as RoundBytes), 0);
      rows.push([
        '',
        '',
        kind === 'raw' ? 'all' : '',
        kind,
        ...roundHead.map((_, i) => (i < p.rounds ? String(sum((r) => r[kind], i)) : '—')),
        String(
          p.perParty.reduce((a, pb) => a + (kind === 'raw' ? pb.totalRaw : pb.totalDelivered), 0)
        ),
      ]);
    }
    rows.push({ title: '' });
  }
  rows.pop();
  console.log(
    table(['protocol', 'scheme', 'party', 'counted', ...roundHead, 'total'], rows, [
      false,
      false,
      true,
      false,
      ...roundHead.map(() => true),
      true,
    ])
  );
  console.log(
    '\nEnvelope bodies only (the envelope header — proto, sid, round, from, to — is not counted).\n' +
      '"raw": each body the party emits counted once (one broadcast body; each p2p body).\n' +
      '"delivered": a broadcast body counted once per recipient, plus the p2p bodies — what the\n' +
      'transport must carry. "round r" = the messages collected in round r (DKG round 1 = (w, C);\n' +
      '2 = (F, cc, salt, π0, E1) broadcast + one share p2p per peer; 3 = E2; 4 = (X, πx)).'
  );
}

/**
 * BENCH_ONLY=frost, ecdsa, lifecycle, pve or timing runs one part; the other names are the sections of
 * the benches `npm run bench` runs after this one.
 */
const only = process.env.BENCH_ONLY;
const OTHER_PARTS = [
  'secp256k1',
  'server',
  'hostile',
  'gateway',
  'bundle',
  'attestation',
  'relay',
  'wallet',
  'proxy',
];
const ALL_PARTS = ['frost', 'ecdsa', 'lifecycle', 'pve', 'timing', ...OTHER_PARTS];
if (only !== undefined && !ALL_PARTS.includes(only))
  throw new Error(`BENCH_ONLY must be one of ${ALL_PARTS.join(', ')}`);
if (only !== undefined && OTHER_PARTS.includes(only)) process.exit(0);
const part = (name: string): boolean => only === undefined || only === name;
const timings = part('frost') ? await runTimings() : [];
const bytes = part('frost') ? runBytes() : [];
const cpus = os.cpus();
console.log(
  `Tessera core bench — Node ${process.version}, ${process.platform} ${process.arch}, ` +
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}`
);
console.log(
  `Timings (performance.now(), ms): ${RUNS} measured runs after ${WARMUP} warm-up runs per case; ` +
    `the single signature: ${RUNS * SINGLE_SIG_FACTOR} after ${WARMUP * SINGLE_SIG_FACTOR}.\n`
);
if (part('frost')) {
  printTimings(timings);
  console.log('\nBytes sent per party, per protocol run\n');
  printBytes(bytes);
}
const ecdsa = part('ecdsa') ? await runEcdsaBench() : null;
const lifecycle = part('lifecycle') ? await runLifecycleBench() : null;
const pve = part('pve') ? await runPveBench(RUNS) : null;
const timingLeaks = part('timing') ? runTimingLeakBench() : null;

const jsonPath = process.env.BENCH_JSON;
if (jsonPath) {
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? null,
    runs: RUNS,
    warmup: WARMUP,
    singleSignatureRuns: RUNS * SINGLE_SIG_FACTOR,
    messageBytes: MESSAGE.length,
    reference: REF,
  };
  writeFileSync(
    jsonPath,
    `${JSON.stringify({ meta, timings, bytes, ecdsa, lifecycle, pve, timingLeaks }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`
  );
  console.log(`\nWrote ${jsonPath}`);
}
