/**
 * Adversarial tamper matrix for DKG (docs/protocols/dkg.md) and FROST signing
 * (docs/protocols/frost.md).
 *
 * One party runs honestly but a hook rewrites its outgoing messages: per round and per field we
 * flip a bit, swap a point for another valid point, replace a scalar with q or 0, truncate a
 * field, duplicate a field or a list item, drop the message, re-label it as another party's, or
 * change a header field. Every case expects the run to reject (no share, no signature) with the
 * exact error an honest party raises: `ProtocolAbort` naming the cheater (or `null` for an echo
 * mismatch among more than two parties), or `MessageMissing` (transient, no blame) for a message
 * that never arrives. The attacks are listed in docs/security.md (A-30 to A-41).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  type Envelope,
  type KeyShare,
  MessageMissing,
  MessageRejected,
  type PartyId,
  ProtocolAbort,
  TesseraError,
} from '@tessera/core';
import { simulate, type Tamper } from '@tessera/core/testing';
import { concat, joinFields, readU32, sameBytes, splitFields, u32 } from './wire.ts';

type FrostScheme = 'ed25519' | 'bip340';
type Proto = 'DKG' | 'FROST';
type Kind = 'broadcast' | 'p2p';
type FieldType = 'bytes32' | 'point' | 'scalar' | 'pointList' | 'proof';

// ---------------------------------------------------------------------------------------------
// Byte helpers (the test's own encoder/decoder of `enc(field…)`, independent of src/).

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

// ---------------------------------------------------------------------------------------------
// Curves: encodings of scalars and of other valid (and invalid) points, per scheme.

interface Curve {
  pointLength: number;
  q: bigint;
  /** 32-byte encoding of an integer in the wire byte order, without reduction. */
  scalar(n: bigint): Uint8Array;
  /** Index of the least significant byte of an encoded scalar. */
  lsb: number;
  /** Encoding of k·G: a valid point of the group. */
  point(k: bigint): Uint8Array;
  /** Strict validity, as docs/protocols/common.md requires of every received point. */
  isValidPoint(b: Uint8Array): boolean;
  /** Ed25519 only: the identity, and a valid curve point outside the prime-order subgroup. */
  identity?: Uint8Array;
  torsion?: (k: bigint) => Uint8Array;
}

function scalarBytes(n: bigint, littleEndian: boolean): Uint8Array {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) b[littleEndian ? i : 31 - i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return b;
}

// The point (0, −1) of order 2: y = p − 1, little-endian.
const ED_ORDER2 = ed25519.Point.fromBytes(
  fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
);

const CURVES: Record<FrostScheme, Curve> = {
  ed25519: {
    pointLength: 32,
    q: 2n ** 252n + 27742317777372353535851937790883648493n,
    scalar: (n) => scalarBytes(n, true),
    lsb: 0,
    point: (k) => ed25519.Point.BASE.multiply(k).toBytes(),
    isValidPoint(b) {
      try {
        const p = ed25519.Point.fromBytes(b);
        p.assertValidity();
        return !p.is0() && p.isTorsionFree() && sameBytes(p.toBytes(), b);
      } catch {
        return false;
      }
    },
    identity: ed25519.Point.ZERO.toBytes(),
    torsion: (k) => ed25519.Point.BASE.multiply(k).add(ED_ORDER2).toBytes(),
  },
  bip340: {
    pointLength: 33,
    q: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
    scalar: (n) => scalarBytes(n, false),
    lsb: 31,
    point: (k) => secp256k1.Point.BASE.multiply(k).toBytes(true),
    isValidPoint(b) {
      if (b.length !== 33 || (b[0] !== 2 && b[0] !== 3)) return false;
      try {
        secp256k1.Point.fromBytes(b).assertValidity();
        return true;
      } catch {
        return false;
      }
    },
  },
};

/** A fixed, arbitrary scalar for "another valid point": 7·G is nobody's commitment. */
const OTHER = 7n;

/** Flips the first bit (scanning from the end) that turns `p` into an invalid encoding. */
function flipToInvalidPoint(c: Curve, p: Uint8Array): Uint8Array {
  for (let i = p.length * 8 - 1; i >= 0; i--) {
    const b = p.slice();
    b[i >> 3] = (b[i >> 3] as number) ^ (1 << (i & 7));
    if (!c.isValidPoint(b)) return b;
  }
  throw new Error('test bug: no single bit flip invalidates this point');
}

// ---------------------------------------------------------------------------------------------
// The message layouts (what the tamper hook rewrites) and what each kind of change must trigger.

interface FieldSpec {
  name: string;
  /** Noun phrase for test names. */
  desc: string;
  type: FieldType;
  /** Check raised when the field stays well formed but carries another value. */
  changed: string;
  /** Check raised when a point (or a list item) no longer decodes. */
  invalidPoint?: string;
  /** Check raised for a field one byte short. */
  truncated: string;
}

interface MessageSpec {
  proto: Proto;
  round: number;
  kind: Kind;
  fields: FieldSpec[];
  /** Outcome of re-addressing the message (broadcast → p2p to an honest party, p2p → broadcast). */
  readdressed: Expected;
}

type CulpritRule = 'cheater' | 'echo';
/** A cheat abort, or a transient `MessageMissing` (after a header rejection, if `rejected`). */
type Expected = { abort: string; culprit: CulpritRule } | { missing: true; rejected?: string };

const ECHO = 'EchoMismatch';
const missing: Expected = { missing: true };
/** Readdressed to one party in a round without p2p messages: dropped as an unexpected kind. */
const wrongKind: Expected = { missing: true, rejected: 'UnexpectedKind' };

const DKG_MESSAGES: MessageSpec[] = [
  {
    proto: 'DKG',
    round: 1,
    kind: 'broadcast',
    fields: [
      {
        name: 'w',
        desc: 'its session nonce w',
        type: 'bytes32',
        changed: ECHO,
        truncated: 'MalformedMessage',
      },
      {
        name: 'C',
        desc: 'its commitment C',
        type: 'bytes32',
        changed: ECHO,
        truncated: 'MalformedMessage',
      },
    ],
    readdressed: wrongKind,
  },
  {
    proto: 'DKG',
    round: 2,
    kind: 'broadcast',
    fields: [
      {
        name: 'F',
        desc: 'its Feldman commitments F',
        type: 'pointList',
        changed: 'CommitmentOpen',
        invalidPoint: 'BadPoint',
        truncated: 'MalformedMessage',
      },
      {
        name: 'cc',
        desc: 'its chain-code share cc',
        type: 'bytes32',
        changed: 'CommitmentOpen',
        truncated: 'MalformedMessage',
      },
      {
        name: 'salt',
        desc: 'its commitment salt',
        type: 'bytes32',
        changed: 'CommitmentOpen',
        truncated: 'MalformedMessage',
      },
      {
        name: 'pi0',
        desc: 'its proof of knowledge π0',
        type: 'proof',
        changed: 'PoKInvalid',
        truncated: 'MalformedMessage',
      },
      {
        name: 'E1',
        desc: 'its echo hash E1',
        type: 'bytes32',
        changed: ECHO,
        truncated: 'MalformedMessage',
      },
    ],
    // Arrives at that party as a second, different round-2 p2p message.
    readdressed: { abort: 'Equivocation', culprit: 'cheater' },
  },
  {
    proto: 'DKG',
    round: 2,
    kind: 'p2p',
    fields: [
      {
        name: 'y',
        desc: 'the secret share y it sends',
        type: 'scalar',
        changed: 'FeldmanShare',
        truncated: 'BadScalar',
      },
    ],
    // Arrives as a second, different round-2 broadcast.
    readdressed: { abort: 'Equivocation', culprit: 'cheater' },
  },
  {
    proto: 'DKG',
    round: 3,
    kind: 'broadcast',
    fields: [
      {
        name: 'E2',
        desc: 'its echo hash E2',
        type: 'bytes32',
        changed: ECHO,
        truncated: 'MalformedMessage',
      },
    ],
    readdressed: wrongKind,
  },
  {
    proto: 'DKG',
    round: 4,
    kind: 'broadcast',
    fields: [
      {
        name: 'X',
        desc: 'its verification share X',
        type: 'point',
        changed: 'ShareConfirm',
        // X_j is compared byte-for-byte with the receiver's own X_j before any decoding.
        invalidPoint: 'ShareConfirm',
        truncated: 'MalformedMessage',
      },
      {
        name: 'pix',
        desc: 'its proof of knowledge πx',
        type: 'proof',
        changed: 'PoKInvalid',
        truncated: 'MalformedMessage',
      },
    ],
    readdressed: wrongKind,
  },
];

const FROST_MESSAGES: MessageSpec[] = [
  {
    proto: 'FROST',
    round: 1,
    kind: 'broadcast',
    fields: [
      {
        name: 'D',
        desc: 'its hiding nonce commitment D',
        type: 'point',
        changed: ECHO,
        invalidPoint: 'BadPoint',
        truncated: 'BadPoint',
      },
      {
        name: 'E',
        desc: 'its binding nonce commitment E',
        type: 'point',
        changed: ECHO,
        invalidPoint: 'BadPoint',
        truncated: 'BadPoint',
      },
    ],
    readdressed: wrongKind,
  },
  {
    proto: 'FROST',
    round: 2,
    kind: 'broadcast',
    fields: [
      {
        name: 'z',
        desc: 'its signature share z',
        type: 'scalar',
        changed: 'SignatureShare',
        truncated: 'BadScalar',
      },
      {
        name: 'echo',
        desc: 'its commitment-list echo',
        type: 'bytes32',
        changed: ECHO,
        truncated: 'MalformedMessage',
      },
    ],
    readdressed: wrongKind,
  },
];

const ROUNDS: Record<Proto, number> = { DKG: 4, FROST: 2 };
const PROTO_NAME: Record<Proto, string> = { DKG: 'dkg', FROST: 'frost.sign' };

// ---------------------------------------------------------------------------------------------
// Field mutators. `apply` gets the whole field and returns its replacement; point mutators hit
// the field itself, item 0 of a point list, or the commitment A_0 of a proof; scalar mutators hit
// the field itself or the response z_0 of a proof.

interface FieldMutator {
  id: string;
  applies(f: FieldSpec, c: Curve): boolean;
  title(f: FieldSpec): string;
  apply(v: Uint8Array, f: FieldSpec, c: Curve): Uint8Array;
  expect(f: FieldSpec): string;
}

const isPointy = (f: FieldSpec): boolean => f.type === 'point' || f.type === 'pointList';
const oneOf = (f: FieldSpec): string => (f.type === 'pointList' ? `one of ${f.desc}` : f.desc);

function withPart(v: Uint8Array, off: number, part: Uint8Array): Uint8Array {
  const b = v.slice();
  b.set(part, off);
  return b;
}

/** Offset of the point a point mutator targets. */
const pointAt = (f: FieldSpec): number => (f.type === 'pointList' ? 4 : 0);
/** Offset of the scalar a scalar mutator targets (z_0 follows A_0 ‖ u16 e_0 in a proof). */
const scalarAt = (f: FieldSpec, c: Curve): number => (f.type === 'proof' ? c.pointLength + 2 : 0);

function replacePoint(v: Uint8Array, f: FieldSpec, p: Uint8Array): Uint8Array {
  return f.type === 'point' ? p : withPart(v, pointAt(f), p);
}

const FIELD_MUTATORS: FieldMutator[] = [
  {
    id: 'flipBit',
    applies: () => true,
    title: (f) =>
      isPointy(f)
        ? `flips a bit of ${oneOf(f)} so it is not a valid point`
        : `flips a bit of ${f.desc}`,
    apply(v, f, c) {
      if (isPointy(f)) {
        const off = pointAt(f);
        return withPart(v, off, flipToInvalidPoint(c, v.slice(off, off + c.pointLength)));
      }
      // Scalars: the least significant bit, so the value stays below q and is merely wrong.
      // Byte strings and proofs: bit 0 of byte 0 (in a proof, of A_0, which its hash covers).
      const b = v.slice();
      const i = f.type === 'scalar' ? c.lsb : 0;
      b[i] = (b[i] as number) ^ 1;
      return b;
    },
    expect: (f) => (isPointy(f) ? (f.invalidPoint as string) : f.changed),
  },
  {
    id: 'swapPoint',
    applies: (f) => isPointy(f) || f.type === 'proof',
    title: (f) =>
      f.type === 'proof'
        ? `swaps the commitment A_0 inside ${f.desc} for another valid point`
        : `swaps ${oneOf(f)} for another valid point`,
    apply: (v, f, c) => replacePoint(v, f, c.point(OTHER)),
    expect: (f) => f.changed,
  },
  {
    id: 'identityPoint',
    applies: (f, c) => isPointy(f) && c.identity !== undefined,
    title: (f) => `replaces ${oneOf(f)} with the identity point`,
    apply: (v, f, c) => replacePoint(v, f, c.identity as Uint8Array),
    expect: (f) => f.invalidPoint as string,
  },
  {
    id: 'torsionPoint',
    applies: (f, c) => isPointy(f) && c.torsion !== undefined,
    title: (f) => `replaces ${oneOf(f)} with a curve point outside the prime-order subgroup`,
    apply: (v, f, c) => replacePoint(v, f, (c.torsion as (k: bigint) => Uint8Array)(OTHER)),
    expect: (f) => f.invalidPoint as string,
  },
  {
    id: 'scalarQ',
    applies: (f) => f.type === 'scalar' || f.type === 'proof',
    title: (f) =>
      f.type === 'proof'
        ? `replaces the response z_0 inside ${f.desc} with q`
        : `replaces ${f.desc} with q`,
    apply: (v, f, c) => withPart(v, scalarAt(f, c), c.scalar(c.q)),
    expect: () => 'BadScalar',
  },
  {
    id: 'scalarZero',
    applies: (f) => f.type === 'scalar' || f.type === 'proof',
    title: (f) =>
      f.type === 'proof'
        ? `replaces the response z_0 inside ${f.desc} with 0`
        : `replaces ${f.desc} with 0`,
    apply: (v, f, c) => withPart(v, scalarAt(f, c), new Uint8Array(32)),
    expect: (f) => f.changed,
  },
  {
    id: 'truncate',
    applies: () => true,
    title: (f) => `truncates ${f.desc} by one byte`,
    apply: (v) => v.slice(0, -1),
    expect: (f) => f.truncated,
  },
  {
    id: 'duplicateItem',
    applies: (f) => f.type === 'pointList',
    title: (f) => `duplicates an item of ${f.desc} (one coefficient too many)`,
    apply: (v, _f, c) => concat(u32(readU32(v) + 1), v.slice(4), v.slice(4, 4 + c.pointLength)),
    expect: () => 'MalformedMessage',
  },
  {
    id: 'dropItem',
    applies: (f) => f.type === 'pointList',
    title: (f) => `drops an item of ${f.desc} (one coefficient too few)`,
    apply: (v, _f, c) => concat(u32(readU32(v) - 1), v.slice(4, -c.pointLength)),
    expect: () => 'MalformedMessage',
  },
];

// ---------------------------------------------------------------------------------------------
// Cases.

/** One run: who takes part, who cheats. */
interface Setup {
  proto: Proto;
  scheme: FrostScheme;
  t: number;
  n: number;
  cheater: PartyId;
  /** FROST: the signing set (defaults to all n parties). */
  signers?: PartyId[];
}

interface Case {
  /** Stable key, e.g. `r2.broadcast.F.swapPoint`, for selecting subsets and todo notes. */
  key: string;
  name: string;
  hook: (e: Envelope) => Envelope | null | undefined;
  expected: Expected;
}

const participants = (s: Setup): PartyId[] =>
  s.signers ?? Array.from({ length: s.n }, (_, k) => k + 1);
/** The party a cheater impersonates or re-addresses to: the lowest other participant. */
const otherParty = (s: Setup): PartyId => participants(s).find((p) => p !== s.cheater) as PartyId;

function outcome(x: Expected, s: Setup): string {
  if ('missing' in x)
    return `is ${x.rejected ? `rejected (${x.rejected}) and ` : ''}reported missing (MessageMissing: transient, no blame)`;
  if (x.culprit === 'echo' && participants(s).length > 2)
    return `makes honest parties abort (${x.abort}, no culprit with ${participants(s).length} parties)`;
  return `is blamed (${x.abort})`;
}

function buildCases(s: Setup, messages: MessageSpec[]): Case[] {
  const c = CURVES[s.scheme];
  const cases: Case[] = [];
  for (const m of messages) {
    const what = `round-${m.round} ${m.kind}`;
    const prefix = `${s.proto} round ${m.round} ${m.kind}: a party that`;
    const mine = (e: Envelope) =>
      e.from === s.cheater && e.round === m.round && (m.kind === 'broadcast') === (e.to === 0);
    const add = (
      key: string,
      title: string,
      expected: Expected,
      edit: (e: Envelope) => Envelope | null
    ) =>
      cases.push({
        key: `r${m.round}.${m.kind}.${key}`,
        name: `${prefix} ${title} ${outcome(expected, s)}`,
        hook: (e) => (mine(e) ? edit(e) : undefined),
        expected,
      });
    const editFields = (fn: (fields: Uint8Array[]) => void) => (e: Envelope) => {
      const fields = splitFields(e.body);
      fn(fields);
      return { ...e, body: joinFields(fields) };
    };
    m.fields.forEach((f, i) => {
      for (const mut of FIELD_MUTATORS) {
        if (!mut.applies(f, c)) continue;
        const check = mut.expect(f);
        add(
          `${f.name}.${mut.id}`,
          mut.title(f),
          { abort: check, culprit: check === ECHO ? 'echo' : 'cheater' },
          editFields((fields) => {
            fields[i] = mut.apply(fields[i] as Uint8Array, f, c);
          })
        );
      }
      add(
        `${f.name}.duplicateField`,
        `sends ${f.desc} twice (one field too many)`,
        { abort: 'MalformedMessage', culprit: 'cheater' },
        editFields((fields) => {
          fields.splice(i + 1, 0, fields[i] as Uint8Array);
        })
      );
    });
    add('dropMessage', `drops its ${what} message`, missing, () => null);
    add(
      'sendAsOther',
      `sends its ${what} message as party ${otherParty(s)}`,
      { abort: 'SenderMismatch', culprit: 'cheater' },
      (e) => ({ ...e, from: otherParty(s) })
    );
    add(
      'header.sid',
      `sends its ${what} message under another session id`,
      { missing: true, rejected: 'WrongSession' },
      (e) => ({ ...e, sid: `${e.sid.slice(0, -1)}${e.sid.endsWith('0') ? '1' : '0'}` })
    );
    add(
      'header.proto',
      `labels its ${what} message with another protocol`,
      { missing: true, rejected: 'WrongProtocol' },
      (e) => ({ ...e, proto: s.proto === 'DKG' ? PROTO_NAME.FROST : PROTO_NAME.DKG })
    );
    add(
      'header.round',
      `labels its ${what} message with a round the protocol does not have`,
      { missing: true, rejected: 'WrongRound' },
      (e) => ({ ...e, round: ROUNDS[s.proto] + 1 })
    );
    add(
      'header.to',
      m.kind === 'broadcast'
        ? `addresses its ${what} message to party ${otherParty(s)} only`
        : `sends its ${what} message to everybody`,
      m.readdressed,
      (e) => ({ ...e, to: m.kind === 'broadcast' ? otherParty(s) : 0 })
    );
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

function show(e: unknown): string {
  if (e instanceof TesseraError)
    return `${e.name} ${e.code} check=${e.check} culprit=${e.culprit}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Validator for `assert.rejects`: exact class, code, check and culprit. */
function matches(x: Expected, s: Setup, seen: (e: unknown) => void) {
  return (e: unknown): boolean => {
    seen(e);
    if ('missing' in x) {
      assert.ok(e instanceof MessageMissing, `expected MessageMissing, got ${show(e)}`);
      assert.equal(e.name, 'MessageMissing');
      assert.equal(e.code, 'MESSAGE_MISSING');
      assert.equal(e.culprit, s.cheater);
      assert.deepEqual(e.missing, [s.cheater]);
      if (x.rejected === undefined) {
        assert.equal(e.cause, undefined, 'a dropped message is not a rejection');
      } else {
        // The receivers dropped the message at the header check; the rejection is the cause.
        assert.ok(
          e.cause instanceof MessageRejected,
          `expected a MessageRejected cause: ${show(e)}`
        );
        assert.equal(e.cause.code, 'MESSAGE_REJECTED');
        assert.equal(e.cause.check, x.rejected);
        assert.equal(e.cause.culprit, s.cheater);
      }
      return true;
    }
    assert.ok(e instanceof ProtocolAbort, `expected ProtocolAbort ${x.abort}, got ${show(e)}`);
    assert.equal(e.name, 'ProtocolAbort');
    assert.equal(e.code, 'PROTOCOL_ABORT');
    assert.equal(e.check, x.abort, show(e));
    const culprit = x.culprit === 'echo' && participants(s).length > 2 ? null : s.cheater;
    assert.equal(e.culprit, culprit, show(e));
    return true;
  };
}

const MESSAGE = new TextEncoder().encode('adversarial test message');

/** Key shares for the signing runs, made once per scheme and size in a `before()` hook. */
const keys = new Map<string, KeyShare[]>();
const keyName = (scheme: FrostScheme, t: number, n: number) => `${scheme} ${t}-of-${n}`;

async function run(s: Setup, tamper: Tamper): Promise<KeyShare[] | Uint8Array> {
  if (s.proto === 'DKG') return simulate.keygen(s.scheme, { threshold: s.t, parties: s.n, tamper });
  const all = keys.get(keyName(s.scheme, s.t, s.n));
  assert.ok(all, 'signing key not generated');
  const signers = participants(s);
  const shares = all.filter((k) => signers.includes(k.partyId));
  return simulate.sign(s.scheme, shares, MESSAGE, { tamper });
}

/** Defects found by this matrix (see the report); the tests assert the correct behaviour. */
function register(s: Setup, cases: Case[]): void {
  for (const c of cases) {
    test(c.name, async (t) => {
      let hits = 0;
      let produced: KeyShare[] | Uint8Array | undefined;
      await assert.rejects(
        async () => {
          produced = await run(s, (e) => {
            const r = c.hook(e);
            if (r !== undefined) hits++;
            return r;
          });
        },
        matches(c.expected, s, (e) =>
          t.diagnostic(
            e instanceof TesseraError
              ? `${c.key}: observed ${e.name} check=${e.check} culprit=${e.culprit}`
              : `${c.key}: observed ${show(e)}`
          )
        )
      );
      assert.equal(produced, undefined, 'a share or signature was produced');
      assert.ok(hits > 0, 'the tamper hook never fired');
    });
  }
}

const SCHEMES: FrostScheme[] = ['ed25519', 'bip340'];

/** Selects cases by key, failing loudly on a key that does not exist. */
function pick(cases: Case[], keys: readonly string[]): Case[] {
  return keys.map((k) => {
    const c = cases.find((x) => x.key === k);
    assert.ok(c, `test bug: no case ${k}`);
    return c;
  });
}

const PARTY1_DKG = [
  'r1.broadcast.w.flipBit',
  'r1.broadcast.C.truncate',
  'r2.broadcast.F.swapPoint',
  'r2.broadcast.pi0.flipBit',
  'r2.p2p.y.flipBit',
  'r2.p2p.y.scalarQ',
  'r3.broadcast.dropMessage',
  'r4.broadcast.X.swapPoint',
  'r4.broadcast.sendAsOther',
] as const;

const PARTY1_FROST = [
  'r1.broadcast.D.swapPoint',
  'r1.broadcast.E.flipBit',
  'r1.broadcast.sendAsOther',
  'r2.broadcast.z.flipBit',
  'r2.broadcast.z.scalarQ',
  'r2.broadcast.echo.flipBit',
  'r2.broadcast.dropMessage',
] as const;

const TWO_SIGNERS = [
  'r1.broadcast.D.swapPoint',
  'r1.broadcast.E.swapPoint',
  'r2.broadcast.z.flipBit',
  'r2.broadcast.echo.flipBit',
  'r2.broadcast.dropMessage',
] as const;

/** DKG round 2: a wrong share (lowest bit flipped) sent to one party only. */
function oneRecipientCase(s: Setup): Case {
  const c = CURVES[s.scheme];
  const victim = otherParty(s);
  const y = DKG_MESSAGES.find((m) => m.kind === 'p2p')?.fields[0] as FieldSpec;
  const flip = FIELD_MUTATORS.find((m) => m.id === 'flipBit') as FieldMutator;
  return {
    key: 'r2.p2p.y.flipBit.oneRecipient',
    name: `DKG round 2 p2p: a party that flips a bit of the secret share y it sends to party ${victim} only is blamed by that party (FeldmanShare)`,
    hook: (e) =>
      e.from === s.cheater && e.round === 2 && e.to === victim
        ? { ...e, body: joinFields([flip.apply(splitFields(e.body)[0] as Uint8Array, y, c)]) }
        : undefined,
    expected: { abort: 'FeldmanShare', culprit: 'cheater' },
  };
}

const setupName = (s: Setup) =>
  `${s.proto} ${s.scheme} ${s.t}-of-${s.n}${s.signers ? ` (signers ${s.signers.join(',')})` : ''}, party ${s.cheater} cheats`;

// ---------------------------------------------------------------------------------------------
// DKG.

describe('adversarial DKG', () => {
  for (const scheme of SCHEMES) {
    for (const [t, n] of [
      [2, 2],
      [2, 3],
    ] as const) {
      const s: Setup = { proto: 'DKG', scheme, t, n, cheater: n };
      describe(setupName(s), () => register(s, buildCases(s, DKG_MESSAGES)));
    }
  }

  // A bad share sent to one party only: that party names the sender, whatever the others saw.
  for (const scheme of SCHEMES) {
    const s: Setup = { proto: 'DKG', scheme, t: 2, n: 3, cheater: 3 };
    describe(`${setupName(s)}, one recipient only`, () => register(s, [oneRecipientCase(s)]));
  }

  // Party 1 cheating: blame does not depend on the cheater's position.
  for (const scheme of SCHEMES) {
    for (const [t, n, subset] of [
      [2, 2, ['r1.broadcast.w.flipBit', 'r2.broadcast.F.swapPoint', 'r3.broadcast.E2.flipBit']],
      [2, 3, PARTY1_DKG],
    ] as const) {
      const s: Setup = { proto: 'DKG', scheme, t, n, cheater: 1 };
      describe(setupName(s), () => register(s, pick(buildCases(s, DKG_MESSAGES), subset)));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// FROST signing.

describe('adversarial FROST signing', () => {
  before(async () => {
    for (const scheme of SCHEMES) {
      for (const [t, n] of [
        [2, 2],
        [2, 3],
      ] as const) {
        keys.set(
          keyName(scheme, t, n),
          await simulate.keygen(scheme, { threshold: t, parties: n })
        );
      }
    }
  });
  for (const scheme of SCHEMES) {
    for (const [t, n] of [
      [2, 2],
      [2, 3],
    ] as const) {
      const s: Setup = { proto: 'FROST', scheme, t, n, cheater: n };
      describe(setupName(s), () => register(s, buildCases(s, FROST_MESSAGES)));
    }
  }

  for (const scheme of SCHEMES) {
    // Party 1 cheating among three signers.
    const s1: Setup = { proto: 'FROST', scheme, t: 2, n: 3, cheater: 1 };
    describe(setupName(s1), () => register(s1, pick(buildCases(s1, FROST_MESSAGES), PARTY1_FROST)));
    // Two signers of a 2-of-3 key: the echo rule counts signers, so an echo mismatch is blamed.
    const s2: Setup = { proto: 'FROST', scheme, t: 2, n: 3, cheater: 3, signers: [1, 3] };
    describe(setupName(s2), () => register(s2, pick(buildCases(s2, FROST_MESSAGES), TWO_SIGNERS)));
  }
});
