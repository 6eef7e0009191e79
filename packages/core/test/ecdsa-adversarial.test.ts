/**
 * Adversarial tamper matrix for DKLs23 threshold ECDSA: signing and the pairwise OT setup that
 * `dkg.ecdsa` runs in rounds 2 and 3 (docs/protocols/ecdsa.md). Per round and per field, each case
 * is named after the attack and runs once with each party as the cheater. The attacks are listed
 * in docs/security.md.
 *
 * Signing cases run through `simulate.sign` with a tamper hook on the cheater's envelopes. Each
 * asserts the exact error an honest party raises (class, check, culprit), that no honest party sent
 * anything after the round whose check failed (check before release, docs/security.md), and for
 * `OteConsistency` / `RvoleCheck` that the honest share bans the pair, that the ban survives
 * `toBytes`, and that the next signing is refused before any randomness is drawn (docs/protocols/ecdsa.md, "Bans").
 * Replays, equivocation, session reuse and presignatures use the low-level API.
 *
 * DKG cases: one honest 2-of-2 keygen is recorded (each party's session serialised before each
 * round). A case restores the victim just before round r and feeds it the cheater's round-r
 * messages, one of them tampered, through the public `dkg.receive`: one round handler per case
 * instead of a keygen. Two cases also run end to end through `simulate.keygen` as a cross-check.
 * The same recorded keygen supplies the 2-of-2 signing key.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import {
  type DkgSession,
  dkg,
  type EcdsaSignature,
  type EcdsaSignSession,
  type Envelope,
  ecdsaSign,
  InputError,
  KeyShare,
  MessageMissing,
  MessageRejected,
  type NonceLedger,
  NonceReuse,
  type PairGuard,
  type PartyId,
  ProtocolAbort,
  type Rng,
  SessionClosed,
  TesseraError,
} from '@tessera/core';
import {
  memoryLedgerForTests,
  memoryPairGuardForTests,
  simulate,
  type Tamper,
} from '@tessera/core/testing';
import type { DkgState } from '../src/dkg/protocol.ts';
import type { EcdsaSignState } from '../src/ecdsa/sign.ts';
import { pairwiseSetup, shareSecret } from '../src/keyshare.ts';
import { baseOtSid } from '../src/ot/baseOt.ts';
import { DS, enc, TAGS } from '../src/transcript.ts';
import { concat, joinFields, sameBytes, splitFields, u32 } from './wire.ts';

// ---------------------------------------------------------------------------------------------
// Byte helpers (the codec itself is in wire.ts).

/** Copy of `b` with bit `bit` of byte `byte` flipped. */
function flip(b: Uint8Array, byte: number, bit = 0): Uint8Array {
  assert.ok(byte >= 0 && byte < b.length, `test bug: byte ${byte} outside ${b.length} bytes`);
  const c = b.slice();
  c[byte] = (c[byte] as number) ^ (1 << bit);
  return c;
}

/** Rewrites field `i` of an `enc(field…)` body. */
function editField(body: Uint8Array, i: number, fn: (f: Uint8Array) => Uint8Array): Uint8Array {
  const fields = splitFields(body);
  assert.ok(i < fields.length, `test bug: no field ${i}`);
  fields[i] = fn(fields[i] as Uint8Array);
  return joinFields(fields);
}

// ---------------------------------------------------------------------------------------------
// secp256k1 values, computed here with noble (independent of src/group.ts).

const Q = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const P = 2n ** 256n - 2n ** 32n - 977n;
const G = secp256k1.Point.BASE;

function be32(n: bigint): Uint8Array {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) b[31 - i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return b;
}

const readBE = (b: Uint8Array): bigint => b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  let x = b % m;
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) r = (r * x) % m;
    x = (x * x) % m;
  }
  return r;
}

/** The smallest x whose x³ + 7 is not a square mod p: `02 ‖ x` is a point of the quadratic twist. */
const TWIST_X = (() => {
  for (let x = 1n; ; x++) if (modPow(x ** 3n + 7n, (P - 1n) / 2n, P) === P - 1n) return x;
})();

/** Strict validity as docs/protocols/common.md requires (33 bytes, 02/03, x < p, on the curve). */
function isValidPoint(b: Uint8Array): boolean {
  if (b.length !== 33 || (b[0] !== 2 && b[0] !== 3)) return false;
  try {
    secp256k1.Point.fromBytes(b).assertValidity();
    return readBE(b.subarray(1)) < P;
  } catch {
    return false;
  }
}

/** Flips the first bit of x (scanning from the least significant) that makes `p` invalid. */
function flipXToInvalid(p: Uint8Array): Uint8Array {
  for (let i = 32 * 8 - 1; i >= 0; i--) {
    const b = flip(p, 1 + (i >> 3), 7 - (i & 7));
    if (!isValidPoint(b)) return b;
  }
  throw new Error('test bug: no single bit flip of x invalidates this point');
}

/** Invalid 33-byte encodings of a point slot (secp256k1 has cofactor 1: no curve point lies
 * outside the prime-order subgroup, so "out of subgroup" means off the curve, on its twist). */
const BAD_POINTS: { id: string; desc: string; bytes: (orig: Uint8Array) => Uint8Array }[] = [
  {
    id: 'offCurve',
    desc: 'a point off the curve (x of the quadratic twist; the only kind of out-of-subgroup point on secp256k1)',
    bytes: () => concat(Uint8Array.of(2), be32(TWIST_X)),
  },
  {
    id: 'identity',
    desc: 'the identity (not encodable compressed: 33 zero bytes)',
    bytes: () => new Uint8Array(33),
  },
  {
    id: 'xEqualsP',
    desc: 'a non-canonical x = p',
    bytes: () => concat(Uint8Array.of(2), be32(P)),
  },
  {
    id: 'prefix04',
    desc: 'an uncompressed-form prefix 0x04',
    bytes: (orig) => concat(Uint8Array.of(4), orig.subarray(1)),
  },
  {
    id: 'flipX',
    desc: 'a corrupted x (one bit flipped, no longer on the curve)',
    bytes: (orig) => flipXToInvalid(orig),
  },
];

const plusG = (b: Uint8Array): Uint8Array => secp256k1.Point.fromBytes(b).add(G).toBytes(true);
const scalarPlus1 = (b: Uint8Array): Uint8Array => be32((readBE(b) + 1n) % Q);

// ---------------------------------------------------------------------------------------------
// Error checks.

function show(e: unknown): string {
  if (e instanceof TesseraError)
    return `${e.name} ${e.code} check=${e.check} culprit=${e.culprit}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function isAbort(e: unknown, check: string, culprit: PartyId | null): true {
  assert.ok(e instanceof ProtocolAbort, `expected ProtocolAbort ${check}, got ${show(e)}`);
  assert.equal(e.name, 'ProtocolAbort');
  assert.equal(e.code, 'PROTOCOL_ABORT');
  assert.equal(e.check, check, show(e));
  assert.equal(e.culprit, culprit, show(e));
  return true;
}

function isPairBanned(e: unknown, cheater: PartyId): true {
  assert.ok(e instanceof InputError, `expected InputError PairBanned, got ${show(e)}`);
  assert.equal(e.code, 'INVALID_INPUT');
  assert.equal(e.check, 'PairBanned', show(e));
  assert.equal(e.culprit, cheater, show(e));
  return true;
}

function isNonceReuse(e: unknown): true {
  assert.ok(e instanceof NonceReuse, `expected NonceReuse, got ${show(e)}`);
  assert.equal(e.code, 'NONCE_REUSED');
  assert.equal(e.check, 'NonceSingleUse');
  return true;
}

function isClosed(e: unknown): true {
  assert.ok(e instanceof SessionClosed, `expected SessionClosed, got ${show(e)}`);
  assert.equal(e.code, 'SESSION_CLOSED');
  return true;
}

const observed = (e: unknown): string =>
  e instanceof TesseraError ? `${e.name} check=${e.check} culprit=${e.culprit}` : show(e);

// ---------------------------------------------------------------------------------------------
// Keys.

const DIGEST = new Uint8Array(createHash('sha256').update('ecdsa adversarial test').digest());
const DIGEST2 = new Uint8Array(createHash('sha256').update('another transaction').digest());
const rid = (): Uint8Array => new Uint8Array(randomBytes(32));

/** A recorded honest keygen: every party's session before each round, and every envelope. */
interface DkgRecord {
  n: number;
  /** `before.get(id)?.get(r)`: party id's serialised session before it receives round-r messages. */
  before: Map<PartyId, Map<number, Uint8Array>>;
  /** Envelopes sent in round r (handled by their recipients in round r). */
  envs: Map<number, Envelope[]>;
  shares: KeyShare[];
}

function recordDkg(t: number, n: number): DkgRecord {
  const sid0 = new Uint8Array(randomBytes(32));
  const sessions = new Map<PartyId, DkgSession>();
  const before = new Map<PartyId, Map<number, Uint8Array>>();
  const envs = new Map<number, Envelope[]>();
  const shares = new Map<PartyId, KeyShare>();
  let pending: Envelope[] = [];
  for (let me = 1; me <= n; me++) {
    const st = dkg.start({ scheme: 'ecdsa', threshold: t, parties: n, me, sid0 });
    sessions.set(me, st.session);
    before.set(me, new Map());
    pending.push(...st.out);
  }
  for (let round = 1; round <= 4; round++) {
    assert.ok(pending.every((e) => e.round === round));
    envs.set(round, pending);
    for (const [id, s] of sessions) before.get(id)?.set(round, dkg.encodeSession(s));
    const next: Envelope[] = [];
    for (const env of pending) {
      const to = env.to === 0 ? [...sessions.keys()].filter((p) => p !== env.from) : [env.to];
      for (const r of to) {
        const step = dkg.receive(sessions.get(r) as DkgSession, env, { sender: env.from });
        sessions.set(r, step.session);
        next.push(...step.out);
        if (step.result) shares.set(r, step.result);
      }
    }
    pending = next;
  }
  assert.equal(pending.length, 0);
  assert.equal(shares.size, n);
  return { n, before, envs, shares: [...shares.values()].sort((a, b) => a.partyId - b.partyId) };
}

let dkg22: DkgRecord | undefined;
const keys = new Map<string, KeyShare[]>();

function keyFor(name: string): KeyShare[] {
  const k = keys.get(name);
  assert.ok(k, `key ${name} not generated`);
  return k;
}

/** Fresh copies, so that bans recorded on one case's shares never leak into another case. */
const fresh = (shares: readonly KeyShare[]): KeyShare[] =>
  shares.map((s) => KeyShare.fromBytes(s.toBytes()));

before(async () => {
  dkg22 = recordDkg(2, 2);
  keys.set('2-of-2', dkg22.shares);
  keys.set('2-of-3', await simulate.keygen('ecdsa', { threshold: 2, parties: 3 }));
  keys.set('3-of-3', await simulate.keygen('ecdsa', { threshold: 3, parties: 3 }));
});

// ---------------------------------------------------------------------------------------------
// Signing: the tamper matrix.

type Kind = 'broadcast' | 'p2p';
/** `cheater`: always the cheater; `cheaterIfTwo`: the cheater with 2 signers, null with more (docs/protocols/ecdsa.md). */
type CulpritRule = 'cheater' | 'cheaterIfTwo';

interface SignSetup {
  key: '2-of-2' | '2-of-3' | '3-of-3';
  signers: PartyId[];
  cheater: PartyId;
}

type SignExpect =
  | {
      abort: string;
      culprit: CulpritRule;
      /** The pair is banned (OteConsistency, RvoleCheck). */
      ban: boolean;
      /** Highest round an honest party may have sent: nothing after the failed round leaves. */
      lastRound: 1 | 2 | 3;
    }
  | { missing: true; rejected: string; lastRound: 1 | 2 | 3 };

interface AttackCtx {
  setup: SignSetup;
  /** The cheater's round-1 envelopes of another signing session with the same signers. */
  previous(): Envelope[];
}

interface SignAttack {
  key: string;
  /** Named after the attack ("a party that …"). */
  name: string;
  round: 1 | 2 | 3;
  kind: Kind;
  edit(e: Envelope, ctx: AttackCtx): Envelope;
  expect: SignExpect;
}

/** Layout of M1 = nB(32) ‖ u(64 × 80) ‖ β̃(16) ‖ t̃(256 × 16). */
const M1 = { nB: 0, u: 32, betaTilde: 32 + 64 * 80, tTilde: 32 + 64 * 80 + 16, size: 9264 };
/** Layout of M2 = nA(32) ‖ ã(1536 × 32) ‖ η(32) ‖ μ(32); scalars big-endian (LSB last). */
const M2 = { nA: 0, aTilde: 32, eta: 32 + 1536 * 32, mu: 32 + 1536 * 32 + 32, size: 49248 };

const body =
  (field: number, fn: (f: Uint8Array) => Uint8Array) =>
  (e: Envelope): Envelope => ({ ...e, body: editField(e.body, field, fn) });

const otBan = (abort: string, lastRound: 1 | 2): SignExpect => ({
  abort,
  culprit: 'cheater',
  ban: true,
  lastRound,
});
const blamed = (abort: string, culprit: CulpritRule, lastRound: 1 | 2 | 3): SignExpect => ({
  abort,
  culprit,
  ban: false,
  lastRound,
});

/** Another party of the session: the one a cheater impersonates. */
function impostor(s: SignSetup): PartyId {
  const others = s.signers.filter((p) => p !== s.cheater);
  return others[others.length - 1] as PartyId;
}

function m1Flip(key: string, name: string, offset: number): SignAttack {
  return {
    key: `r1.p2p.M1.${key}`,
    name,
    round: 1,
    kind: 'p2p',
    edit: body(0, (m1) => {
      assert.equal(m1.length, M1.size);
      return flip(m1, offset);
    }),
    expect: otBan('OteConsistency', 1),
  };
}

function m2Flip(key: string, name: string, offset: number): SignAttack {
  return {
    key: `r2.p2p.M2.${key}`,
    name,
    round: 2,
    kind: 'p2p',
    edit: body(0, (m2) => {
      assert.equal(m2.length, M2.size);
      return flip(m2, offset);
    }),
    expect: otBan('RvoleCheck', 2),
  };
}

function r2Field(
  key: string,
  name: string,
  field: number,
  fn: (f: Uint8Array) => Uint8Array,
  expect: SignExpect
): SignAttack {
  return { key: `r2.p2p.${key}`, name, round: 2, kind: 'p2p', edit: body(field, fn), expect };
}

const SIGN_ATTACKS: SignAttack[] = [
  // Round 1: the cheater as RVOLE receiver (Bob) sends M1; the victim (Alice) checks it.
  m1Flip('u.flip', 'flips bit 0 of row 0 of the OT-extension matrix u in M1', M1.u),
  m1Flip('tTilde.flip', 'flips a bit of the consistency-check value t̃_0 in M1', M1.tTilde),
  m1Flip('betaTilde.flip', 'flips a bit of the consistency-check value β̃ in M1', M1.betaTilde),
  m1Flip('nB.flip', 'flips a bit of its OT-extension nonce nB in M1', M1.nB),
  {
    key: 'r1.p2p.M1.short',
    name: 'sends M1 one byte short',
    round: 1,
    kind: 'p2p',
    edit: body(0, (m1) => m1.slice(0, -1)),
    // Decoded before any check on the pair's secrets: a malformed M1 reveals nothing, no ban.
    expect: blamed('MalformedMessage', 'cheater', 1),
  },
  {
    key: 'r1.broadcast.C.flip',
    name: 'flips a bit of its nonce commitment C',
    round: 1,
    kind: 'broadcast',
    edit: body(0, (c) => flip(c, 0)),
    expect: blamed('EchoMismatch', 'cheaterIfTwo', 2),
  },
  {
    key: 'r1.replay.verbatim',
    name: 'replays its round-1 messages from another signing session',
    round: 1,
    kind: 'broadcast',
    edit: (e, ctx) => replayed(e, ctx, false),
    expect: { missing: true, rejected: 'WrongSession', lastRound: 1 },
  },
  {
    key: 'r1.replay.reheadered',
    name: "replays its round-1 messages from another signing session under this session's header",
    round: 1,
    kind: 'broadcast',
    edit: (e, ctx) => replayed(e, ctx, true),
    // The old M1 is bound to the old sidS through sidX: the OT-extension check fails.
    expect: otBan('OteConsistency', 1),
  },
  {
    key: 'r1.sendAsOther',
    name: 'sends its round-1 messages with a swapped sender id',
    round: 1,
    kind: 'broadcast',
    edit: (e, ctx) => ({ ...e, from: impostor(ctx.setup) }),
    expect: blamed('SenderMismatch', 'cheater', 1),
  },
  // Round 2: the cheater as RVOLE sender (Alice) sends M2 and its public values; round-2 checks.
  m2Flip('nA.flip', 'flips a bit of its nonce nA in M2 (changes sidY, so every pad)', M2.nA),
  m2Flip(
    'aTilde.flip',
    'flips the low bit of the correction ã_0 in M2 (selective abort)',
    M2.aTilde + 31
  ),
  m2Flip('eta.flip', 'flips the low bit of the check value η in M2', M2.eta + 31),
  m2Flip('mu.flip', 'flips a bit of the check value μ in M2', M2.mu),
  r2Field(
    'M2.short',
    'sends M2 one byte short',
    0,
    (m2) => m2.slice(0, -1),
    blamed('MalformedMessage', 'cheater', 2)
  ),
  r2Field(
    'M2.aTilde.q',
    'replaces the correction ã_0 in M2 with q (not reduced, rejected)',
    0,
    (m2) => {
      const b = m2.slice();
      b.set(be32(Q), M2.aTilde);
      return b;
    },
    blamed('BadScalar', 'cheater', 2)
  ),
  r2Field(
    'R.identity',
    'replaces its nonce point R with the identity (33 zero bytes)',
    1,
    () => new Uint8Array(33),
    blamed('BadPoint', 'cheater', 2)
  ),
  r2Field(
    'R.otherPoint',
    'opens its nonce commitment to another valid point R + G',
    1,
    plusG,
    blamed('CommitmentOpen', 'cheater', 2)
  ),
  r2Field(
    'salt.flip',
    'flips a bit of the salt of its nonce commitment',
    2,
    (f) => flip(f, 0),
    blamed('CommitmentOpen', 'cheater', 2)
  ),
  r2Field(
    'pk.plusG',
    'sends another public key share pk_i + G',
    3,
    plusG,
    // GammaS (χ·pk_j = d^s·G + Γ^s) runs per peer before the sum check, and fails first.
    blamed('GammaS', 'cheater', 2)
  ),
  r2Field('gammaK.plusG', 'adds G to Γ^k (R equation)', 4, plusG, blamed('GammaK', 'cheater', 2)),
  r2Field('gammaS.plusG', 'adds G to Γ^s (pk equation)', 5, plusG, blamed('GammaS', 'cheater', 2)),
  r2Field(
    'psi.plus1',
    'adds 1 to ψ (unauthenticated by design; only the final verification sees it)',
    6,
    scalarPlus1,
    blamed('SignatureInvalid', 'cheaterIfTwo', 3)
  ),
  r2Field(
    'E1.flip',
    'flips a bit of its echo hash E1',
    7,
    (f) => flip(f, 0),
    blamed('EchoMismatch', 'cheaterIfTwo', 2)
  ),
  {
    key: 'r2.sendAsOther',
    name: 'sends its round-2 messages with a swapped sender id',
    round: 2,
    kind: 'p2p',
    edit: (e, ctx) => ({ ...e, from: impostor(ctx.setup) }),
    expect: blamed('SenderMismatch', 'cheater', 2),
  },
  // Round 3: (u_i, w_i) carry no proof; the final verification is the check.
  {
    key: 'r3.broadcast.u.plus1',
    name: 'adds 1 to its u_i',
    round: 3,
    kind: 'broadcast',
    edit: body(0, scalarPlus1),
    expect: blamed('SignatureInvalid', 'cheaterIfTwo', 3),
  },
  {
    key: 'r3.broadcast.w.plus1',
    name: 'adds 1 to its w_i',
    round: 3,
    kind: 'broadcast',
    edit: body(1, scalarPlus1),
    expect: blamed('SignatureInvalid', 'cheaterIfTwo', 3),
  },
  {
    key: 'r3.broadcast.w.q',
    name: 'replaces its w_i with q (not reduced, rejected)',
    round: 3,
    kind: 'broadcast',
    edit: body(1, () => be32(Q)),
    expect: blamed('BadScalar', 'cheater', 3),
  },
  {
    key: 'r3.sendAsOther',
    name: 'sends its round-3 message with a swapped sender id',
    round: 3,
    kind: 'broadcast',
    edit: (e, ctx) => ({ ...e, from: impostor(ctx.setup) }),
    expect: blamed('SenderMismatch', 'cheater', 3),
  },
];

/** The cheater's matching envelope of another session, with its own or this session's header. */
function replayed(e: Envelope, ctx: AttackCtx, reheader: boolean): Envelope {
  const old = ctx.previous().find((o) => o.to === e.to);
  assert.ok(old, 'test bug: no matching envelope in the previous session');
  assert.notEqual(old.sid, e.sid);
  return reheader ? { ...old, sid: e.sid } : { ...old };
}

/** Does the attack apply to envelope `e` of this setup? (Round-1 replays and sender swaps take both kinds.) */
function targets(a: SignAttack, s: SignSetup, e: Envelope): boolean {
  if (e.from !== s.cheater || e.round !== a.round) return false;
  const whole = a.key.startsWith('r1.replay') || a.key.endsWith('sendAsOther');
  return whole || (a.kind === 'broadcast') === (e.to === 0);
}

function culpritOf(rule: CulpritRule, s: SignSetup): PartyId | null {
  return rule === 'cheater' || s.signers.length === 2 ? s.cheater : null;
}

const setupName = (s: SignSetup): string =>
  `${s.key} key, signers {${s.signers.join(',')}}, party ${s.cheater} cheats`;

/** The signing step refuses a banned pair before drawing any randomness (a spy RNG counts draws). */
async function assertBanEnforced(shares: KeyShare[], s: SignSetup): Promise<void> {
  for (const share of shares) {
    if (share.partyId === s.cheater) {
      assert.deepEqual(share.bannedPeers, [], 'only the honest side records a ban');
      continue;
    }
    assert.ok(share.isBanned(s.cheater), `party ${share.partyId} did not ban ${s.cheater}`);
    assert.deepEqual(share.bannedPeers, [s.cheater]);
    assert.deepEqual(KeyShare.fromBytes(share.toBytes()).bannedPeers, [s.cheater], 'persisted');
    let draws = 0;
    const spy: Rng = (n) => {
      draws++;
      return new Uint8Array(randomBytes(n));
    };
    assert.throws(
      () =>
        ecdsaSign.start(
          { share, signers: s.signers, rid: rid(), digest: DIGEST },
          { rng: spy, ledger: memoryLedgerForTests() }
        ),
      (e) => isPairBanned(e, s.cheater)
    );
    assert.equal(draws, 0, 'randomness was drawn before the ban was checked');
  }
  await assert.rejects(simulate.sign('ecdsa', shares, DIGEST), (e) => isPairBanned(e, s.cheater));
}

function registerSign(s: SignSetup, attacks: readonly SignAttack[]): void {
  for (const a of attacks) {
    const x = a.expect;
    const outcome =
      'missing' in x
        ? `is rejected (${x.rejected}) and reported missing (MessageMissing, names it)`
        : `is blamed: ${x.abort}, culprit ${culpritOf(x.culprit, s) ?? 'null'}${x.ban ? ', pair banned' : ''}`;
    test(`signing round ${a.round}: a party that ${a.name} ${outcome}`, async (t) => {
      const shares = fresh(keyFor(s.key).filter((k) => s.signers.includes(k.partyId)));
      let previous: Envelope[] | undefined;
      const ctx: AttackCtx = {
        setup: s,
        previous() {
          previous ??= ecdsaSign.start(
            {
              share: shares.find((k) => k.partyId === s.cheater) as KeyShare,
              signers: s.signers,
              rid: rid(),
              digest: DIGEST,
            },
            { ledger: memoryLedgerForTests() }
          ).out;
          return previous;
        },
      };
      const seen: Envelope[] = [];
      let hits = 0;
      const tamper: Tamper = (e) => {
        seen.push({ ...e, body: e.body.slice() });
        if (!targets(a, s, e)) return undefined;
        hits++;
        return a.edit(e, ctx);
      };
      let sig: EcdsaSignature | undefined;
      await assert.rejects(
        async () => {
          sig = await simulate.sign('ecdsa', shares, DIGEST, { tamper });
        },
        (e) => {
          t.diagnostic(`${a.key}: observed ${observed(e)}`);
          if ('missing' in x) {
            assert.ok(e instanceof MessageMissing, `expected MessageMissing, got ${show(e)}`);
            assert.equal(e.code, 'MESSAGE_MISSING');
            assert.equal(e.culprit, s.cheater);
            assert.deepEqual(e.missing, [s.cheater]);
            assert.ok(e.cause instanceof MessageRejected, `cause: ${show(e.cause)}`);
            assert.equal(e.cause.check, x.rejected);
            assert.equal(e.cause.culprit, s.cheater);
            return true;
          }
          return isAbort(e, x.abort, culpritOf(x.culprit, s));
        }
      );
      assert.equal(sig, undefined, 'a signature was returned');
      assert.ok(hits > 0, 'the tamper hook never fired');
      const late = seen.filter((e) => e.from !== s.cheater && e.round > x.lastRound);
      assert.deepEqual(
        late.map((e) => `party ${e.from} round ${e.round}`),
        [],
        `an honest party released messages after round ${x.lastRound}`
      );
      if ('ban' in x && x.ban) await assertBanEnforced(shares, s);
      else for (const k of shares) assert.deepEqual(k.bannedPeers, [], 'no ban for this check');
    });
  }
}

const pick = (keys: readonly string[]): SignAttack[] =>
  keys.map((k) => {
    const a = SIGN_ATTACKS.find((x) => x.key === k);
    assert.ok(a, `test bug: no attack ${k}`);
    return a;
  });

/** The bit flips in M1 and M2 (the checks that ban). */
const OT_RVOLE = SIGN_ATTACKS.filter((a) => /^r[12]\.p2p\.M[12]\..*\.flip$/.test(a.key));
assert.equal(OT_RVOLE.length, 8, 'test bug: expected the 4 M1 and 4 M2 flips');

const THREE_SIGNERS = pick([
  'r1.p2p.M1.u.flip',
  'r1.broadcast.C.flip',
  'r1.sendAsOther',
  'r2.p2p.M2.mu.flip',
  'r2.p2p.pk.plusG',
  'r2.p2p.psi.plus1',
  'r2.p2p.E1.flip',
  'r3.broadcast.u.plus1',
]);

describe('adversarial ECDSA signing (simulate.sign with a tamper hook)', () => {
  for (const cheater of [1, 2]) {
    const s: SignSetup = { key: '2-of-2', signers: [1, 2], cheater };
    describe(setupName(s), () => registerSign(s, SIGN_ATTACKS));
  }
  for (const cheater of [1, 3]) {
    const s: SignSetup = { key: '2-of-3', signers: [1, 3], cheater };
    describe(setupName(s), () => registerSign(s, OT_RVOLE));
  }
  for (const cheater of [1, 3]) {
    const s: SignSetup = { key: '3-of-3', signers: [1, 2, 3], cheater };
    describe(setupName(s), () => registerSign(s, THREE_SIGNERS));
  }
});

// ---------------------------------------------------------------------------------------------
// Signing through the low-level API: equivocation, a consistently wrong key share, bans across
// in-flight sessions, terminal final failure, session reuse and presignatures.

interface NetParty {
  share: KeyShare;
  session: EcdsaSignSession;
  /** Every envelope this party produced, in order. */
  sent: Envelope[];
  result?: EcdsaSignature;
  error?: unknown;
}

type Delivery = { env: Envelope; to: PartyId };

/** An in-memory network of signers driven by hand (each party has its own nonce ledger). */
class SignNet {
  readonly parties = new Map<PartyId, NetParty>();
  readonly signers: PartyId[];
  readonly ledgers: Map<PartyId, NonceLedger>;
  readonly guards = new Map<PartyId, PairGuard>();
  queue: Delivery[] = [];
  held: Delivery[] = [];

  constructor(
    shares: KeyShare[],
    opts: { rid?: Uint8Array; digest?: Uint8Array; ledgers?: Map<PartyId, NonceLedger> } = {}
  ) {
    this.signers = shares.map((s) => s.partyId);
    this.ledgers = opts.ledgers ?? new Map(this.signers.map((id) => [id, createLedger()]));
    const r = opts.rid ?? rid();
    for (const share of shares) {
      const ledger = this.ledger(share.partyId);
      const st = opts.digest
        ? ecdsaSign.start({ share, signers: this.signers, rid: r, digest: opts.digest }, { ledger })
        : ecdsaSign.start({ share, signers: this.signers, rid: r }, { ledger });
      this.parties.set(share.partyId, { share, session: st.session, sent: [...st.out] });
      this.post(st.out);
    }
  }

  party(id: PartyId): NetParty {
    const p = this.parties.get(id);
    assert.ok(p, `test bug: no party ${id}`);
    return p;
  }

  ledger(id: PartyId): NonceLedger {
    return this.ledgers.get(id) as NonceLedger;
  }

  guard(id: PartyId): PairGuard {
    const g = this.guards.get(id) ?? memoryPairGuardForTests();
    this.guards.set(id, g);
    return g;
  }

  private post(out: Envelope[]): void {
    for (const env of out) {
      const to = env.to === 0 ? this.signers.filter((p) => p !== env.from) : [env.to];
      for (const r of to) this.queue.push({ env, to: r });
    }
  }

  private advance(p: NetParty, step: { session: EcdsaSignSession; out: Envelope[] }): void {
    p.session = step.session;
    p.sent.push(...step.out);
    this.post(step.out);
    if ('result' in step && step.result) p.result = step.result as EcdsaSignature;
  }

  /** Delivers one envelope from its `from` (the authenticated sender); errors propagate. */
  receive(to: PartyId, env: Envelope): void {
    const p = this.party(to);
    const opts = {
      sender: env.from,
      share: p.share,
      ledger: this.ledger(to),
      pairGuard: this.guard(to),
    };
    this.advance(p, ecdsaSign.receive(p.session, env, opts));
  }

  /** The online step of a presigned party. */
  complete(id: PartyId, digest: Uint8Array): void {
    const p = this.party(id);
    this.advance(
      p,
      ecdsaSign.complete(p.session, digest, { share: p.share, ledger: this.ledger(id) })
    );
  }

  /** Delivers everything queued (recording errors per party); `hold` keeps deliveries back. */
  run(hold?: (d: Delivery) => boolean): void {
    for (let d = this.queue.shift(); d; d = this.queue.shift()) {
      if (hold?.(d)) {
        this.held.push(d);
        continue;
      }
      const p = this.party(d.to);
      if (p.error !== undefined || p.session.status !== 'active') continue;
      try {
        this.receive(d.to, d.env);
      } catch (e) {
        p.error = e;
      }
    }
  }

  release(): void {
    this.queue.push(...this.held);
    this.held = [];
    this.run();
  }
}

function createLedger(): NonceLedger & { calls: [string, boolean][] } {
  const used = new Set<string>();
  const calls: [string, boolean][] = [];
  return {
    calls,
    consume(id) {
      const ok = !used.has(id);
      used.add(id);
      calls.push([id, ok]);
      return ok;
    },
  };
}

const others = (signers: readonly PartyId[], me: PartyId): PartyId[] =>
  signers.filter((p) => p !== me);

function sentAfter(p: NetParty, round: number): string[] {
  return p.sent.filter((e) => e.round > round).map((e) => `round ${e.round} to ${e.to}`);
}

function verifies(sig: EcdsaSignature | undefined, digest: Uint8Array, share: KeyShare): boolean {
  assert.ok(sig, 'no signature');
  return secp256k1.verify(sig.compact, digest, share.groupKey, { prehash: false, lowS: true });
}

/** The same share with its secret moved by `delta`; it runs the protocol honestly with it. */
function shiftedShare(s: KeyShare, delta: bigint): KeyShare {
  return new KeyShare({
    scheme: s.scheme,
    partyId: s.partyId,
    threshold: s.threshold,
    parties: [...s.parties],
    keyId: s.keyId,
    epoch: s.epoch,
    chainCode: s.chainCode,
    groupKey: s.groupKey,
    verificationShares: s.parties.map((id) => s.verificationShare(id)),
    secret: (shareSecret(s) + delta) % Q,
    pairwise: others(s.parties, s.partyId).map((id) => pairwiseSetup(s, id)),
  });
}

describe('adversarial ECDSA signing (low-level API)', () => {
  for (const cheater of [1, 2]) {
    const victim = cheater === 1 ? 2 : 1;

    test(`2-of-2, party ${cheater} resends a changed round-2 message after a valid one that party ${victim} still buffers: Equivocation naming ${cheater}, nothing released`, () => {
      const net = new SignNet(fresh(keyFor('2-of-2')), { digest: DIGEST });
      // Hold back the cheater's M1, so the victim is still in round 1 when round 2 arrives.
      net.run(
        (d) => d.env.from === cheater && d.to === victim && d.env.round === 1 && d.env.to !== 0
      );
      const v = net.party(victim);
      assert.equal(v.session.round, 1);
      const valid = net.party(cheater).sent.find((e) => e.round === 2 && e.to === victim);
      assert.ok(valid, 'the cheater sent no round-2 message');
      const changed = { ...valid, body: editField(valid.body, 6, scalarPlus1) };
      assert.throws(
        () => net.receive(victim, changed),
        (e) => isAbort(e, 'Equivocation', cheater)
      );
      assert.deepEqual(sentAfter(v, 1), []);
      assert.equal(v.session.status, 'aborted');
      const [m1] = net.held;
      assert.ok(m1);
      assert.throws(() => net.receive(victim, m1.env), isClosed);
    });

    test(`2-of-2, party ${cheater} resends a changed round-2 message after party ${victim} processed the valid one: dropped (MessageRejected WrongRound naming ${cheater}), never recomputed, the signature still verifies`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const net = new SignNet(shares, { digest: DIGEST });
      net.run((d) => d.env.round === 3);
      const v = net.party(victim);
      assert.equal(v.session.round, 3);
      const released = v.sent.length;
      const valid = net.party(cheater).sent.find((e) => e.round === 2 && e.to === victim);
      assert.ok(valid);
      const changed = { ...valid, body: editField(valid.body, 6, scalarPlus1) };
      // A message for a past round is dropped (docs/protocols/common.md). The round's inbox is gone, so
      // core cannot tell a changed copy from a late duplicate; the caller's reply cache can.
      assert.throws(
        () => net.receive(victim, changed),
        (e) => {
          assert.ok(e instanceof MessageRejected, show(e));
          assert.equal(e.check, 'WrongRound');
          assert.equal(e.culprit, cheater);
          return true;
        }
      );
      assert.equal(v.sent.length, released, 'nothing was recomputed or sent');
      assert.equal(v.session.status, 'active');
      net.release();
      for (const id of [1, 2])
        assert.ok(verifies(net.party(id).result, DIGEST, shares[0] as KeyShare));
    });

    test(`2-of-2, party ${cheater} runs honestly with a wrong key share (consistent pk_i, Γ^s and RVOLE input): PublicShareSum naming ${cheater}, no (u_i, w_i) released`, () => {
      const shares = fresh(keyFor('2-of-2')).map((s) =>
        s.partyId === cheater ? shiftedShare(s, 1n) : s
      );
      const net = new SignNet(shares, { digest: DIGEST });
      net.run();
      const v = net.party(victim);
      isAbort(v.error, 'PublicShareSum', cheater);
      assert.deepEqual(sentAfter(v, 2), []);
      assert.deepEqual(v.share.bannedPeers, []);
    });

    test(`2-of-2, party ${cheater} fails the OT-extension check in one session: party ${victim}'s other in-flight session with it is refused (PairBanned) before its M1 is processed`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const a = new SignNet(shares, { digest: DIGEST });
      const b = new SignNet(shares, { digest: DIGEST });
      const c = new SignNet(shares, { digest: DIGEST });
      a.run((d) => d.env.from === cheater && d.env.round === 1 && d.env.to === victim);
      const m1 = a.held[0];
      assert.ok(m1);
      const bad = { ...m1.env, body: editField(m1.env.body, 0, (f) => flip(f, M1.u)) };
      assert.throws(
        () => a.receive(victim, bad),
        (e) => isAbort(e, 'OteConsistency', cheater)
      );
      const v = shares.find((s) => s.partyId === victim) as KeyShare;
      assert.deepEqual(v.bannedPeers, [cheater]);
      for (const net of [b, c]) {
        net.run();
        isPairBanned(net.party(victim).error, cheater);
        assert.deepEqual(sentAfter(net.party(victim), 1), [], 'no M2 for a banned pair');
      }
    });

    test(`2-of-2, party ${cheater} fails the OT-extension check in one session while party ${victim}'s other session with it is already past round 1: that session aborts too and releases no (u_i, w_i)`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const a = new SignNet(shares, { digest: DIGEST });
      const b = new SignNet(shares, { digest: DIGEST });
      // In b the victim has checked the cheater's M1 and sent its round 2; it waits for round 2.
      b.run((d) => d.env.from === cheater && d.to === victim && d.env.round === 2);
      assert.equal(b.party(victim).session.round, 2);
      a.run((d) => d.env.from === cheater && d.env.round === 1 && d.env.to === victim);
      const m1 = a.held[0];
      assert.ok(m1);
      const bad = { ...m1.env, body: editField(m1.env.body, 0, (f) => flip(f, M1.u)) };
      assert.throws(
        () => a.receive(victim, bad),
        (e) => isAbort(e, 'OteConsistency', cheater)
      );
      assert.deepEqual(b.party(victim).share.bannedPeers, [cheater]);
      b.release();
      assert.deepEqual(sentAfter(b.party(victim), 2), [], 'a banned pair released (u_i, w_i)');
      isPairBanned(b.party(victim).error, cheater);
    });

    test(`2-of-2, party ${victim} holds a presignature with party ${cheater} when party ${cheater} fails the OT-extension check in another session: complete() is refused (PairBanned) and releases nothing`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const pre = new SignNet(shares);
      pre.run();
      assert.equal(pre.party(victim).session.round, 3);
      const a = new SignNet(shares, { digest: DIGEST });
      a.run((d) => d.env.from === cheater && d.env.round === 1 && d.env.to === victim);
      const m1 = a.held[0];
      assert.ok(m1);
      const bad = { ...m1.env, body: editField(m1.env.body, 0, (f) => flip(f, M1.u)) };
      assert.throws(
        () => a.receive(victim, bad),
        (e) => isAbort(e, 'OteConsistency', cheater)
      );
      assert.throws(
        () => pre.complete(victim, DIGEST),
        (e) => isPairBanned(e, cheater)
      );
      assert.deepEqual(sentAfter(pre.party(victim), 2), [], 'a banned pair released (u_i, w_i)');
    });

    test(`2-of-2, party ${cheater} adds 1 to u_i: the final check fails (SignatureInvalid naming ${cheater}) and is terminal, the true u_i is not accepted afterwards`, () => {
      const net = new SignNet(fresh(keyFor('2-of-2')), { digest: DIGEST });
      net.run((d) => d.env.from === cheater && d.env.round === 3);
      const honest = net.held[0];
      assert.ok(honest);
      const bad = { ...honest.env, body: editField(honest.env.body, 0, scalarPlus1) };
      assert.throws(
        () => net.receive(victim, bad),
        (e) => isAbort(e, 'SignatureInvalid', cheater)
      );
      assert.throws(() => net.receive(victim, honest.env), isClosed);
      assert.equal(net.party(victim).result, undefined);
    });

    test(`2-of-2, party ${cheater} starts the same rid (so the same session id) again: refused at start (InputError SessionReplay) before any randomness is drawn or anything is sent; a completed session accepts no further message (SessionClosed)`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const r = rid();
      const first = new SignNet(shares, { rid: r, digest: DIGEST });
      first.run();
      for (const id of [1, 2])
        assert.ok(verifies(first.party(id).result, DIGEST, shares[0] as KeyShare));
      const late = first.party(cheater).sent.find((e) => e.round === 3);
      assert.ok(late);
      assert.throws(() => first.receive(victim, late), isClosed);
      // Same rid, another digest: sidS does not contain the digest, so this is the same session.
      const share = first.party(cheater).share;
      for (const digest of [DIGEST2, DIGEST]) {
        let draws = 0;
        const spy: Rng = (n) => {
          draws++;
          return new Uint8Array(randomBytes(n));
        };
        assert.throws(
          () =>
            ecdsaSign.start(
              { share, signers: [1, 2], rid: r, digest },
              { rng: spy, ledger: first.ledger(cheater) }
            ),
          (e) => {
            assert.ok(e instanceof InputError, show(e));
            assert.equal(e.check, 'SessionReplay');
            return true;
          }
        );
        assert.equal(draws, 0, 'randomness was drawn for a replayed session id');
      }
    });

    test(`2-of-2, party ${cheater} reruns a session id after its replay cache was lost (fresh ledgers): the rerun draws fresh nonces and pads (new round-1 messages, new R), so no nonce is used twice`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const r = rid();
      const first = new SignNet(shares, { rid: r, digest: DIGEST });
      first.run();
      const second = new SignNet(shares, { rid: r, digest: DIGEST2 });
      for (const id of [1, 2]) {
        assert.equal(second.party(id).session.sid, first.party(id).session.sid);
        const r1 = (n: SignNet) => n.party(id).sent.filter((e) => e.round === 1);
        assert.equal(r1(second).length, r1(first).length);
        r1(first).forEach((e, k) => {
          const again = r1(second)[k];
          assert.ok(again && !sameBytes(e.body, again.body), 'a round-1 message repeated');
        });
      }
      second.run();
      const a = first.party(cheater).result;
      const b = second.party(cheater).result;
      assert.ok(verifies(a, DIGEST, shares[0] as KeyShare));
      assert.ok(verifies(b, DIGEST2, shares[0] as KeyShare));
      assert.ok(a && b && !sameBytes(a.r, b.r), 'two signatures share r');
    });

    test(`2-of-2, party ${cheater} uses a presignature twice (a copy of the presigned session, another digest): refused by the nonce ledger (NonceReuse) before w_i is computed, nothing sent`, () => {
      const shares = fresh(keyFor('2-of-2'));
      const net = new SignNet(shares);
      net.run();
      for (const id of [1, 2]) {
        const p = net.party(id);
        assert.equal(p.session.round, 3);
        assert.deepEqual(sentAfter(p, 2), [], 'presigning released round 3');
      }
      const p = net.party(cheater);
      const copy = ecdsaSign.encodeSession(p.session);
      const original = p.session;
      net.complete(cheater, DIGEST);
      assert.equal(sentAfter(p, 2).length, 1);
      assert.equal((p.session.state as EcdsaSignState).presig, null, 'presignature not erased');
      const ledger = net.ledger(cheater) as ReturnType<typeof createLedger>;
      const calls = ledger.calls.length;
      for (const d of [DIGEST2, DIGEST]) {
        const again = ecdsaSign.decodeSession(copy);
        assert.ok((again.state as EcdsaSignState).presig, 'the copy holds the presignature');
        assert.throws(() => ecdsaSign.complete(again, d, { share: p.share, ledger }), isNonceReuse);
        assert.equal(again.status, 'consumed');
      }
      assert.deepEqual(
        ledger.calls.slice(calls).map(([, ok]) => ok),
        [false, false],
        'the ledger refused both'
      );
      assert.throws(
        () => ecdsaSign.complete(original, DIGEST2, { share: p.share, ledger }),
        isClosed
      );
      assert.equal(sentAfter(p, 2).length, 1, 'a second (u_i, w_i) was sent');
      // The first use is good: the other party completes and both hold a valid signature.
      net.complete(victim, DIGEST);
      net.run();
      for (const id of [1, 2])
        assert.ok(verifies(net.party(id).result, DIGEST, shares[0] as KeyShare));
    });
  }

  for (const cheater of [1, 3]) {
    const [victim, third] = others([1, 2, 3], cheater) as [PartyId, PartyId];

    test(`3-of-3, party ${cheater} resends a changed round-2 message while party ${victim} waits for party ${third}: Equivocation naming ${cheater}, nothing released`, () => {
      const net = new SignNet(fresh(keyFor('3-of-3')), { digest: DIGEST });
      net.run((d) => d.env.from === third && d.to === victim && d.env.round === 2);
      const v = net.party(victim);
      assert.equal(v.session.round, 2);
      const valid = net.party(cheater).sent.find((e) => e.round === 2 && e.to === victim);
      assert.ok(valid);
      const changed = { ...valid, body: editField(valid.body, 7, (f) => flip(f, 0)) };
      assert.throws(
        () => net.receive(victim, changed),
        (e) => isAbort(e, 'Equivocation', cheater)
      );
      assert.deepEqual(sentAfter(v, 2), []);
    });

    test(`3-of-3, party ${cheater} runs honestly with a wrong key share: PublicShareSum with culprit null (not attributable with 3 signers), no (u_i, w_i) released`, () => {
      const shares = fresh(keyFor('3-of-3')).map((s) =>
        s.partyId === cheater ? shiftedShare(s, 1n) : s
      );
      const net = new SignNet(shares, { digest: DIGEST });
      net.run();
      for (const id of [victim, third]) {
        const p = net.party(id);
        isAbort(p.error, 'PublicShareSum', null);
        assert.deepEqual(sentAfter(p, 2), []);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Key generation (`dkg.ecdsa`): base-OT points and PPRF data, replayed on a recorded honest run.

/** Offset of point slot `half` (0: P^0 / B^0, 1: P^1 / B^1) of OT `k` in a `list(X^0 ‖ X^1)`. */
const slot = (k: number, half: 0 | 1): number => 4 + k * 66 + half * 33;

function setSlot(
  list: Uint8Array,
  k: number,
  half: 0 | 1,
  fn: (p: Uint8Array) => Uint8Array
): Uint8Array {
  const off = slot(k, half);
  const out = list.slice();
  const p = fn(list.slice(off, off + 33));
  assert.equal(p.length, 33);
  out.set(p, off);
  return out;
}

/** `HashToCurve("ot/base/h2c", sidOT, k, j, P)` as docs/protocols/ecdsa.md ("Base OT") defines it. */
function hc(sidOT: Uint8Array, k: number, j: number, p: Uint8Array) {
  return secp256k1_hasher.hashToCurve(enc(sidOT, u32(k), u32(j), p), {
    DST: new TextEncoder().encode(`${DS}/${TAGS.otBaseH2c}`),
  });
}

interface DkgCtx {
  cheater: PartyId;
  victim: PartyId;
  /** The victim's state before the round. */
  state: DkgState;
}

interface DkgAttack {
  key: string;
  name: string;
  /** Round of the tampered p2p message (2: `enc(y, z, msg1)`; 3: `enc(msg2, pprfMsg)`). */
  round: 2 | 3;
  edit(fields: Uint8Array[], ctx: DkgCtx): Uint8Array[];
  check: string;
}

/** Rewrites list field `i` of the p2p message. */
const onField =
  (i: number, fn: (f: Uint8Array, ctx: DkgCtx) => Uint8Array) =>
  (fields: Uint8Array[], ctx: DkgCtx): Uint8Array[] =>
    fields.map((f, k) => (k === i ? fn(f, ctx) : f));

/** Rewrites the PPRF message `enc(list(T^0 ‖ T^1), list(τ ‖ Π))` of round 3. */
const onPprf = (fn: (t: Uint8Array, p: Uint8Array, ctx: DkgCtx) => [Uint8Array, Uint8Array]) =>
  onField(1, (msg, ctx) => {
    const [t, p] = splitFields(msg) as [Uint8Array, Uint8Array];
    return joinFields(fn(t, p, ctx));
  });

/** T item and choice bit of block ν = 5, level 2 (item ν·3 + level − 1, base OT 4ν + level). */
const T_NU = 5;
const T_LEVEL = 2;
const T_ITEM = T_NU * 3 + T_LEVEL - 1;

/** The victim's choice bit for the T item above, in its base-OT receiver state for the pair. */
function usedHalf(ctx: DkgCtx): 0 | 1 {
  const ot = ctx.state.offers?.[ctx.cheater];
  assert.ok(ot, 'test bug: no base-OT receiver state');
  const k = 4 * T_NU + T_LEVEL;
  return (((ot.state.choices[k >> 3] as number) >> (k & 7)) & 1) as 0 | 1;
}

const tHalf = (half: 0 | 1): number => 4 + T_ITEM * 64 + half * 32;

function pointAttacks(round: 2 | 3): DkgAttack[] {
  const field = round === 2 ? 2 : 0;
  const what = round === 2 ? 'base-OT message 1 (P_0^0)' : 'base-OT message 2 (B_0^0)';
  const list: DkgAttack[] = BAD_POINTS.map((b) => ({
    key: `r${round}.${round === 2 ? 'msg1' : 'msg2'}.${b.id}`,
    name: `puts ${b.desc} into ${what}`,
    round,
    edit: onField(field, (f) => setSlot(f, 0, 0, b.bytes)),
    check: 'BadPoint',
  }));
  list.push(
    {
      key: `r${round}.${round === 2 ? 'msg1' : 'msg2'}.lastPoint.offCurve`,
      name: `puts a point off the curve into the last slot of ${round === 2 ? 'base-OT message 1 (P_255^1)' : 'base-OT message 2 (B_255^1)'}`,
      round,
      edit: onField(field, (f) => setSlot(f, 255, 1, BAD_POINTS[0]?.bytes ?? ((x) => x))),
      check: 'BadPoint',
    },
    {
      key: `r${round}.${round === 2 ? 'msg1' : 'msg2'}.short`,
      name: `sends ${round === 2 ? 'base-OT message 1' : 'base-OT message 2'} one byte short`,
      round,
      edit: onField(field, (f) => f.slice(0, -1)),
      check: 'MalformedMessage',
    },
    {
      key: `r${round}.${round === 2 ? 'msg1' : 'msg2'}.count`,
      name: `sends ${round === 2 ? 'base-OT message 1' : 'base-OT message 2'} with 255 OTs instead of 256`,
      round,
      edit: onField(field, (f) => concat(u32(255), f.slice(4, -66))),
      check: 'MalformedMessage',
    }
  );
  return list;
}

const DKG_ATTACKS: DkgAttack[] = [
  ...pointAttacks(2),
  {
    key: 'r2.msg1.N0isIdentity',
    name: 'sets P_0^0 = −Hc(0, 0, P_0^1) in base-OT message 1, so that N_0^0 is the identity',
    round: 2,
    edit: onField(2, (f, ctx) => {
      assert.ok(ctx.state.sid, 'test bug: no DKG sid yet');
      const sidOT = baseOtSid(ctx.state.sid, ctx.cheater, ctx.victim);
      const p1 = f.slice(slot(0, 1), slot(0, 1) + 33);
      return setSlot(f, 0, 0, () => hc(sidOT, 0, 0, p1).negate().toBytes(true));
    }),
    check: 'BaseOtPoint',
  },
  {
    key: 'r2.msg1.missing',
    name: 'leaves base-OT message 1 out of its round-2 message',
    round: 2,
    edit: (fields) => fields.slice(0, 2),
    check: 'MalformedMessage',
  },
  ...pointAttacks(3),
  {
    key: 'r3.pprf.T.usedHalf',
    name: 'flips a bit of the PPRF correction word T^c that the receiver uses',
    round: 3,
    edit: onPprf((t, p, ctx) => [flip(t, tHalf(usedHalf(ctx))), p]),
    check: 'PprfProof',
  },
  {
    key: 'r3.pprf.T.bothHalves',
    name: 'flips a bit in both halves T^0 and T^1 of one PPRF correction word',
    round: 3,
    edit: onPprf((t, p) => [flip(flip(t, tHalf(0)), tHalf(1)), p]),
    check: 'PprfProof',
  },
  {
    key: 'r3.pprf.tau.flip',
    name: 'flips a bit of the PPRF leaf-hash sum τ_0',
    round: 3,
    edit: onPprf((t, p) => [t, flip(p, 4)]),
    check: 'PprfProof',
  },
  {
    key: 'r3.pprf.Pi.flip',
    name: 'flips a bit of the PPRF proof Π_63',
    round: 3,
    edit: onPprf((t, p) => [t, flip(p, 4 + 63 * 64 + 32)]),
    check: 'PprfProof',
  },
  {
    key: 'r3.pprf.short',
    name: 'sends the PPRF proofs one byte short',
    round: 3,
    edit: onPprf((t, p) => [t, p.slice(0, -1)]),
    check: 'MalformedMessage',
  },
];

function record(): DkgRecord {
  assert.ok(dkg22, 'keygen not recorded');
  return dkg22;
}

/**
 * Restores `victim` just before `round` (or continues `session`) and feeds it every round-`round`
 * message addressed to it, through `rewrite`.
 */
function feedVictim(
  victim: PartyId,
  round: number,
  rewrite: (e: Envelope) => Envelope,
  session?: DkgSession
): { session: DkgSession; out: Envelope[]; result?: KeyShare } {
  const rec = record();
  let s = session ?? dkg.decodeSession(rec.before.get(victim)?.get(round) as Uint8Array);
  assert.equal(s.round, round);
  const out: Envelope[] = [];
  let result: KeyShare | undefined;
  for (const env of rec.envs.get(round) ?? []) {
    if (env.from === victim || (env.to !== 0 && env.to !== victim)) continue;
    const step = dkg.receive(s, rewrite(env), { sender: env.from });
    s = step.session;
    out.push(...step.out);
    if (step.result) result = step.result;
  }
  return result ? { session: s, out, result } : { session: s, out };
}

function dkgRewrite(a: DkgAttack, cheater: PartyId, victim: PartyId, counter: { hits: number }) {
  const state = dkg.decodeSession(record().before.get(victim)?.get(a.round) as Uint8Array)
    .state as DkgState;
  return (e: Envelope): Envelope => {
    if (e.from !== cheater || e.to !== victim || e.round !== a.round) return e;
    counter.hits++;
    return { ...e, body: joinFields(a.edit(splitFields(e.body), { cheater, victim, state })) };
  };
}

describe('adversarial dkg.ecdsa: base OT and PPRF (recorded 2-of-2 keygen, victim replayed)', () => {
  for (const cheater of [1, 2]) {
    const victim = cheater === 1 ? 2 : 1;
    describe(`party ${cheater} cheats, party ${victim} checks`, () => {
      for (const a of DKG_ATTACKS) {
        test(`keygen round ${a.round}: a party that ${a.name} is blamed (${a.check}, culprit ${cheater}) and no share exists`, (t) => {
          const counter = { hits: 0 };
          let produced: { out: Envelope[]; result?: KeyShare } | undefined;
          assert.throws(
            () => {
              produced = feedVictim(victim, a.round, dkgRewrite(a, cheater, victim, counter));
            },
            (e) => {
              t.diagnostic(`${a.key}: observed ${observed(e)}`);
              return isAbort(e, a.check, cheater);
            }
          );
          assert.equal(produced, undefined, 'the victim went on');
          assert.equal(counter.hits, 1, 'the tamper hook did not fire once');
        });
      }

      test(`keygen round 3: a party that flips a bit of the PPRF correction word half the receiver does not use passes the PPRF proof, but the pair's setup ids differ, so round 4 aborts (SetupConfirm naming ${cheater}) and no share exists`, (t) => {
        const counter = { hits: 0 };
        const unused: DkgAttack = {
          key: 'r3.pprf.T.unusedHalf',
          name: 'flips the unused half',
          round: 3,
          edit: onPprf((tl, p, ctx) => [flip(tl, tHalf(usedHalf(ctx) === 0 ? 1 : 0)), p]),
          check: 'none',
        };
        const r3 = feedVictim(victim, 3, dkgRewrite(unused, cheater, victim, counter));
        assert.equal(counter.hits, 1);
        assert.equal(r3.out.length, 1, 'the victim sends its round-4 confirmation');
        let produced: { result?: KeyShare } | undefined;
        assert.throws(
          () => {
            produced = feedVictim(victim, 4, (e) => e, r3.session);
          },
          (e) => {
            t.diagnostic(`observed ${observed(e)}`);
            return isAbort(e, 'SetupConfirm', cheater);
          }
        );
        assert.equal(produced, undefined, 'the victim stored no share');
      });
    });
  }
});

describe('adversarial dkg.ecdsa end to end (simulate.keygen with a tamper hook)', () => {
  const cases: { cheater: PartyId; a: DkgAttack }[] = [
    { cheater: 1, a: DKG_ATTACKS.find((x) => x.key === 'r2.msg1.offCurve') as DkgAttack },
    { cheater: 2, a: DKG_ATTACKS.find((x) => x.key === 'r3.pprf.tau.flip') as DkgAttack },
  ];
  for (const { cheater, a } of cases) {
    test(`2-of-2, party ${cheater} ${a.name} (round ${a.round}): simulate.keygen fails with ${a.check} naming ${cheater}`, async () => {
      let hits = 0;
      let shares: KeyShare[] | undefined;
      const tamper: Tamper = (e) => {
        if (e.from !== cheater || e.round !== a.round || e.to === 0) return undefined;
        hits++;
        // These two edits do not read the victim's state (the hook cannot see it).
        const ctx = { cheater, victim: e.to, state: {} as DkgState };
        return { ...e, body: joinFields(a.edit(splitFields(e.body), ctx)) };
      };
      await assert.rejects(
        async () => {
          shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2, tamper });
        },
        (e) => isAbort(e, a.check, cheater)
      );
      assert.equal(shares, undefined);
      assert.equal(hits, 1);
    });
  }
});
