/**
 * Publicly verifiable encryption of key shares (docs/protocols/pve.md): a ciphertext of the
 * secret shares `x_j` under a backup public key, with a proof anyone can check that it decrypts to
 * the discrete logarithms of the given public shares `X_j = x_j·G`. The design is coinbase
 * cb-mpc's `ec_pve`: κ = 128 repetitions of a two-way additive split `x = x0 + x1`, both halves
 * encrypted deterministically, the challenge by Fiat–Shamir, one half of each repetition opened.
 *
 * Byte format v1 (fixed lengths, so decoding is exact):
 * `"TPVE" ‖ u8(1) ‖ u8(kem) ‖ P ‖ u16be(n) ‖ n × (u8(curve) ‖ X_j) ‖ challenge(16) ‖ κ rows`,
 * a row with challenge bit 0 being `r01(16) ‖ r02(16) ‖ c1` and with bit 1 `x1(n×32) ‖ r1(16) ‖ c0`.
 * The label is not in the ciphertext: every caller supplies the one it expects.
 * @module
 */
import { concatBytes, ctEqual, u32be, utf8ToBytes, wipe } from '../bytes.ts';
import { InputError, type PartyId } from '../errors.ts';
import { type CurveName, type Group, type GroupPoint, groupOf } from '../group.ts';
import { KeyShare, type Scheme, shareSecret } from '../keyshare.ts';
import { type Rng, systemRng } from '../rng.ts';
import { enc, H256, hashToScalar, TAGS, text } from '../transcript.ts';
import {
  checkBackupKey,
  EcdhFailure,
  kemCiphertextLength,
  kemDecrypt,
  kemEncrypt,
  PVE_KEMS,
  type PveBackupKey,
  type PveDecryptionKey,
  type PveKem,
  publicKeyOf,
} from './kem.ts';

/** Repetitions κ: a cheating encryptor passes verification with probability 2^-κ. */
export const PVE_REPETITIONS = 128;
/** At most this many shares in one batch ciphertext. */
export const PVE_MAX_BATCH = 256;

const MAGIC = utf8ToBytes('TPVE');
const VERSION = 1;
const SEED = 16;
const CHALLENGE = 16;
const SCALAR = 32;
const CURVE_IDS: Readonly<Record<CurveName, number>> = { secp256k1: 1, ed25519: 2 };
const KEM_BY_ID: Readonly<Record<number, PveKem>> = { 1: 'x25519', 2: 'p256' };
const CURVE_BY_ID: Readonly<Record<number, CurveName>> = { 1: 'secp256k1', 2: 'ed25519' };

/** What `pveInspect` reads from a ciphertext's header. Nothing in it is checked against a key. */
export interface PveHeader {
  readonly backupKey: PveBackupKey;
  /** The public shares `X_j` it claims to encrypt the discrete logarithms of. */
  readonly publicShares: readonly Uint8Array[];
  readonly repetitions: number;
}

/** One share a label names. */
export interface PveLabelItem {
  readonly keyId: Uint8Array;
  readonly partyId: PartyId;
  readonly epoch: Uint8Array;
  readonly scheme: Scheme;
}

interface Row {
  readonly bit: 0 | 1;
  /** bit 0: the x0 seed; bit 1: the revealed x1 scalars (n × 32). */
  readonly opened: Uint8Array;
  /** bit 0: the seed of c0's randomness; bit 1: the seed of c1's. */
  readonly rho: Uint8Array;
  /** The unopened half's ciphertext. */
  readonly c: Uint8Array;
}

interface Parsed extends PveHeader {
  readonly curves: readonly CurveName[];
  readonly challenge: Uint8Array;
  readonly rows: readonly Row[];
}

const fail = (check: 'PveMalformed' | 'PveVersion', why: string): never => {
  throw new InputError(`PVE ciphertext: ${why}`, { check });
};

/**
 * The label of a share's backup: `enc("tessera/pve-label/v1", enc(scheme, keyId, u32be(party),
 * epoch)…)`, one entry per share in batch order. A ciphertext verifies only under its label, so a
 * backup of one key, party or epoch cannot pass for another.
 */
export function pveLabel(items: PveLabelItem | readonly PveLabelItem[]): Uint8Array {
  const all = Array.isArray(items) ? (items as readonly PveLabelItem[]) : [items as PveLabelItem];
  if (all.length < 1 || all.length > PVE_MAX_BATCH)
    throw new InputError(`pveLabel: 1 to ${PVE_MAX_BATCH} items`, { check: 'PveInput' });
  return enc(
    text('tessera/pve-label/v1'),
    ...all.map((it) => {
      if (!Number.isInteger(it.partyId) || it.partyId < 1 || it.partyId > 255)
        throw new InputError('pveLabel: partyId must be in 1..255', { check: 'PveInput' });
      return enc(text(it.scheme), it.keyId, u32be(it.partyId), it.epoch);
    })
  );
}

/** The label of `pveEncrypt(shares)` with its default: each share's key id, party, epoch, scheme. */
export const pveLabelOf = (shares: KeyShare | readonly KeyShare[]): Uint8Array =>
  pveLabel(asList(shares));

function asList<T>(x: T | readonly T[]): readonly T[] {
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

/** A public share's curve, told by its length: 33 bytes secp256k1, 32 bytes Ed25519. */
function curveOfShare(b: Uint8Array): CurveName {
  if (b instanceof Uint8Array && b.length === 33) return 'secp256k1';
  if (b instanceof Uint8Array && b.length === 32) return 'ed25519';
  throw new InputError('PVE: a public share is 33 (secp256k1) or 32 (Ed25519) bytes', {
    check: 'PveInput',
  });
}

/** The statement: each share's group and point, strictly decoded. */
function statementOf(publicShares: readonly Uint8Array[]): { g: Group[]; X: GroupPoint[] } {
  if (publicShares.length < 1 || publicShares.length > PVE_MAX_BATCH)
    throw new InputError(`PVE: 1 to ${PVE_MAX_BATCH} public shares`, { check: 'PveInput' });
  const g = publicShares.map((b) => groupOf(curveOfShare(b)));
  const X = publicShares.map((b, j) => {
    try {
      return (g[j] as Group).decodePoint(b, `publicShares[${j}]`);
    } catch {
      throw new InputError(`PVE: publicShares[${j}] is not a valid point`, { check: 'PveInput' });
    }
  });
  return { g, X };
}

/** Binds every row's encryption to the version, backup key, statement and label. */
function contextOf(key: PveBackupKey, publicShares: readonly Uint8Array[], label: Uint8Array) {
  return H256(
    TAGS.pveContext,
    new Uint8Array([VERSION, PVE_KEMS[key.kem]]),
    key.publicKey,
    enc(...publicShares),
    label
  );
}

const rowAad = (ctx: Uint8Array, i: number, side: 0 | 1): Uint8Array =>
  concatBytes(ctx, u32be(i), new Uint8Array([side]));

/** `x0_j = HashToScalar("pve/x0", seed, j)`: the first half of every share, from one seed. */
const x0Of = (seed: Uint8Array, g: readonly Group[]): bigint[] =>
  g.map((gj, j) => hashToScalar(TAGS.pveX0, [seed, u32be(j)], gj.order));

function encodeScalars(g: readonly Group[], xs: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(g.length * SCALAR);
  for (const [j, gj] of g.entries()) gj.encodeScalarInto(xs[j] as bigint, out, j * SCALAR);
  return out;
}

function decodeScalars(g: readonly Group[], b: Uint8Array): bigint[] {
  return g.map((gj, j) => gj.decodeScalar(b.subarray(j * SCALAR, (j + 1) * SCALAR)));
}

const bitOf = (challenge: Uint8Array, i: number): 0 | 1 =>
  (((challenge[i >> 3] as number) >> (i & 7)) & 1) as 0 | 1;

/** The Fiat–Shamir challenge over every row's two ciphertexts and two point lists. */
function challengeOf(
  ctx: Uint8Array,
  rows: readonly { c0: Uint8Array; c1: Uint8Array; X0: Uint8Array; X1: Uint8Array }[],
  kappa: number
): Uint8Array {
  const fields = rows.map((r) => concatBytes(r.c0, r.c1, r.X0, r.X1));
  const h = H256(TAGS.pveChallenge, ctx, u32be(kappa), ...fields);
  // Always the full 128 bits, compared whole. With κ < 128 (tests only) the first κ bits pick
  // the rows, so a cheat passes with probability 2^-κ, never by a collision of a shorter hash.
  return h.slice(0, CHALLENGE);
}

/** @internal Options of the encryption (tests: fewer repetitions, a cheating encryptor). */
export interface PveEncryptInternals {
  rng?: Rng;
  kappa?: number;
  /** Tests only: encrypt a wrong value in this side of row `i` (null: honest). */
  cheat?: (row: number) => 0 | 1 | null;
}

/** @internal Encrypts raw scalars `xs` with public shares `publicShares`. */
export function encryptScalars(
  xs: readonly bigint[],
  publicShares: readonly Uint8Array[],
  backupKey: PveBackupKey,
  label: Uint8Array,
  o: PveEncryptInternals = {}
): Uint8Array {
  const key = checkBackupKey(backupKey);
  const { g, X } = statementOf(publicShares);
  const rng = o.rng ?? systemRng;
  const kappa = o.kappa ?? PVE_REPETITIONS;
  if (xs.length !== g.length) throw new InputError('PVE: one secret per public share');
  for (let j = 0; j < g.length; j++) {
    // Sanity of the caller's input; not a secret-dependent branch on anything a peer sees.
    if (!(g[j] as Group).base(xs[j] as bigint).equals(X[j] as GroupPoint))
      throw new InputError(`PVE: secret ${j} does not match its public share`, {
        check: 'PveInput',
      });
  }
  const ctx = contextOf(key, publicShares, label);
  const cts: { c0: Uint8Array; c1: Uint8Array }[] = [];
  const points: { X0: GroupPoint[]; X1: GroupPoint[] }[] = [];
  const openings: { r01: Uint8Array; r02: Uint8Array; r1: Uint8Array; x1: Uint8Array }[] = [];
  for (let i = 0; i < kappa; i++) {
    const r01 = rng(SEED);
    const r02 = rng(SEED);
    const r1 = rng(SEED);
    const x0 = x0Of(r01, g);
    const x1s = g.map((gj, j) => gj.mod((xs[j] as bigint) - (x0[j] as bigint)));
    const x1 = encodeScalars(g, x1s);
    const X0 = g.map((gj, j) => gj.base(x0[j] as bigint));
    const X1 = X0.map((p, j) => (X[j] as GroupPoint).subtract(p));
    const cheat = o.cheat?.(i) ?? null;
    const wrong = (b: Uint8Array) => {
      const w = new Uint8Array(b);
      w[w.length - 1] = (w[w.length - 1] as number) ^ 1; // a different seed, or x1 off by one
      return w;
    };
    const c0 = kemEncrypt(key, cheat === 0 ? wrong(r01) : r01, rowAad(ctx, i, 0), r02);
    const c1 = kemEncrypt(key, cheat === 1 ? wrong(x1) : x1, rowAad(ctx, i, 1), r1);
    cts.push({ c0, c1 });
    points.push({ X0, X1 });
    openings.push({ r01, r02, r1, x1 });
  }
  const full = withEncodedPoints(g, cts, points);
  const challenge = challengeOf(ctx, full, kappa);
  const header = concatBytes(
    MAGIC,
    new Uint8Array([VERSION, PVE_KEMS[key.kem]]),
    key.publicKey,
    new Uint8Array([g.length >> 8, g.length & 0xff]),
    ...publicShares.map((b, j) =>
      concatBytes(new Uint8Array([CURVE_IDS[(g[j] as Group).name]]), b)
    ),
    challenge
  );
  const rows = openings.map((op, i) => {
    const f = full[i] as (typeof full)[number];
    // Bit 0 opens side 0 (the seed of x0 and of c0's randomness) and keeps c1 (x1) sealed;
    // bit 1 opens side 1 (x1 and c1's randomness) and keeps c0 (the seed of x0) sealed.
    return bitOf(challenge, i) === 0
      ? concatBytes(op.r01, op.r02, f.c1)
      : concatBytes(op.x1, op.r1, f.c0);
  });
  for (const op of openings) wipe(op.r01, op.r02, op.r1, op.x1);
  return concatBytes(header, ...rows);
}

/** Strict decoding of a ciphertext with `kappa` rows. */
function parse(ct: Uint8Array, kappa: number): Parsed {
  if (!(ct instanceof Uint8Array)) return fail('PveMalformed', 'not bytes');
  let off = 0;
  const take = (n: number): Uint8Array => {
    if (ct.length - off < n) fail('PveMalformed', 'truncated');
    const b = ct.subarray(off, off + n);
    off += n;
    return b;
  };
  if (!ctEqual(take(4), MAGIC)) fail('PveMalformed', 'not a PVE ciphertext');
  const [version, kemId] = take(2) as unknown as [number, number];
  if (version !== VERSION) fail('PveVersion', `format version ${version} is not supported`);
  const kem = KEM_BY_ID[kemId];
  if (!kem) return fail('PveMalformed', `unknown KEM ${kemId}`);
  const publicKey = take(kem === 'x25519' ? 32 : 33);
  const nb = take(2);
  const n = ((nb[0] as number) << 8) | (nb[1] as number);
  if (n < 1 || n > PVE_MAX_BATCH) fail('PveMalformed', `share count ${n}`);
  const curves: CurveName[] = [];
  const publicShares: Uint8Array[] = [];
  for (let j = 0; j < n; j++) {
    const curve = CURVE_BY_ID[take(1)[0] as number];
    if (!curve) return fail('PveMalformed', `unknown curve of share ${j}`);
    curves.push(curve);
    publicShares.push(take(curve === 'secp256k1' ? 33 : 32));
  }
  const challenge = take(CHALLENGE);
  const rows: Row[] = [];
  for (let i = 0; i < kappa; i++) {
    const bit = bitOf(challenge, i);
    rows.push(
      bit === 0
        ? {
            bit,
            opened: take(SEED),
            rho: take(SEED),
            c: take(kemCiphertextLength(kem, n * SCALAR)),
          }
        : {
            bit,
            opened: take(n * SCALAR),
            rho: take(SEED),
            c: take(kemCiphertextLength(kem, SEED)),
          }
    );
  }
  if (off !== ct.length) fail('PveMalformed', 'trailing bytes');
  return {
    backupKey: { kem, publicKey },
    publicShares,
    curves,
    challenge,
    rows,
    repetitions: kappa,
  };
}

/** Reads a ciphertext's header (backup key, public shares) after a strict decoding of it all. */
export function pveInspect(ciphertext: Uint8Array): PveHeader {
  const p = parse(ciphertext, PVE_REPETITIONS);
  return {
    backupKey: { kem: p.backupKey.kem, publicKey: new Uint8Array(p.backupKey.publicKey) },
    publicShares: p.publicShares.map((b) => new Uint8Array(b)),
    repetitions: p.repetitions,
  };
}

/** @internal `pveVerify` with `kappa` rows. Returns the parsed ciphertext. */
export function verifyRows(
  ciphertext: Uint8Array,
  publicShares: readonly Uint8Array[],
  backupKey: PveBackupKey,
  label: Uint8Array,
  kappa = PVE_REPETITIONS
): Parsed {
  const key = checkBackupKey(backupKey);
  const p = parse(ciphertext, kappa);
  const mismatch = (why: string): never => {
    throw new InputError(`PVE ciphertext: ${why}`, { check: 'PveMismatch' });
  };
  // Fail closed on the statement the caller expects, never on the one the ciphertext carries.
  if (p.backupKey.kem !== key.kem || !ctEqual(p.backupKey.publicKey, key.publicKey))
    mismatch('encrypted to another backup key');
  if (
    p.publicShares.length !== publicShares.length ||
    p.publicShares.some(
      (b, j) =>
        !(publicShares[j] instanceof Uint8Array) || !ctEqual(b, publicShares[j] as Uint8Array)
    )
  )
    mismatch('of other public shares');
  if (!(label instanceof Uint8Array))
    throw new InputError('PVE: label must be bytes', { check: 'PveInput' });
  const { g, X } = statementOf(publicShares);
  const ctx = contextOf(key, publicShares, label);
  const points: { X0: GroupPoint[]; X1: GroupPoint[] }[] = [];
  const cts = p.rows.map((row, i) => {
    let xOpen: bigint[];
    let c0: Uint8Array;
    let c1: Uint8Array;
    if (row.bit === 0) {
      xOpen = x0Of(row.opened, g);
      c0 = kemEncrypt(key, row.opened, rowAad(ctx, i, 0), row.rho);
      c1 = row.c;
    } else {
      try {
        xOpen = decodeScalars(g, row.opened);
      } catch {
        return fail('PveMalformed', `row ${i}: an opened scalar is not below the group order`);
      }
      c1 = kemEncrypt(key, row.opened, rowAad(ctx, i, 1), row.rho);
      c0 = row.c;
    }
    // Opened values are public: variable-time multiplication is fine here.
    const open = g.map((gj, j) => gj.basePublic(xOpen[j] as bigint));
    const other = open.map((P, j) => (X[j] as GroupPoint).subtract(P));
    const [X0, X1] = row.bit === 0 ? [open, other] : [other, open];
    points.push({ X0, X1 });
    return { c0, c1 };
  });
  const full = withEncodedPoints(g, cts, points);
  if (!ctEqual(challengeOf(ctx, full, kappa), p.challenge))
    throw new InputError('PVE ciphertext: the proof does not verify', { check: 'PveProof' });
  return p;
}

/**
 * Each row's ciphertexts with its two point lists encoded: every point of one curve across all
 * rows shares one field inversion (encoding dominated verification otherwise). The identity
 * (probability 2^-252 per point) is written as zero bytes.
 */
function withEncodedPoints(
  g: readonly Group[],
  cts: readonly { c0: Uint8Array; c1: Uint8Array }[],
  points: readonly { X0: GroupPoint[]; X1: GroupPoint[] }[]
): { c0: Uint8Array; c1: Uint8Array; X0: Uint8Array; X1: Uint8Array }[] {
  const flat = points.flatMap((r) => [...r.X0, ...r.X1]);
  const n = g.length;
  const encoded: Uint8Array[] = new Array(flat.length);
  for (const gc of new Set(g)) {
    const at: number[] = [];
    for (let k = 0; k < flat.length; k++) {
      if (g[k % n] !== gc) continue;
      if ((flat[k] as GroupPoint).equals(gc.O)) encoded[k] = new Uint8Array(gc.pointLength);
      else at.push(k);
    }
    const bytes = gc.encodePoints(at.map((k) => flat[k] as GroupPoint));
    at.forEach((k, m) => {
      encoded[k] = bytes[m] as Uint8Array;
    });
  }
  return cts.map((c, i) => ({
    ...c,
    X0: concatBytes(...encoded.slice(2 * n * i, 2 * n * i + n)),
    X1: concatBytes(...encoded.slice(2 * n * i + n, 2 * n * (i + 1))),
  }));
}

/** @internal `pveDecrypt` with `kappa` rows; returns the scalars' encodings. */
export function decryptRows(
  ciphertext: Uint8Array,
  dk: PveDecryptionKey,
  label: Uint8Array,
  publicShares: readonly Uint8Array[],
  kappa = PVE_REPETITIONS
): Uint8Array[] {
  const publicKey = publicKeyOf(dk);
  const p = verifyRows(ciphertext, publicShares, { kem: dk.kem, publicKey }, label, kappa);
  const { g, X } = statementOf(publicShares);
  const ctx = contextOf({ kem: dk.kem, publicKey }, publicShares, label);
  // Any row whose sealed half restores x with x·G = X is the answer. A row that fails in any way
  // (its ciphertext does not open, decodes badly or gives another x) is skipped, not fatal: an
  // encryptor may spoil the sealed half of unopened rows, and only spoiling all of them (which
  // verification catches except with probability 2^-κ) can make decryption fail.
  for (const [i, row] of p.rows.entries()) {
    let x0: bigint[];
    let x1: bigint[];
    try {
      if (row.bit === 0) {
        const sealed = kemDecrypt(dk, publicKey, row.c, rowAad(ctx, i, 1));
        if (sealed.length !== g.length * SCALAR) continue;
        x0 = x0Of(row.opened, g);
        x1 = decodeScalars(g, sealed);
        wipe(sealed);
      } else {
        const seed = kemDecrypt(dk, publicKey, row.c, rowAad(ctx, i, 0));
        if (seed.length !== SEED) continue;
        x0 = x0Of(seed, g);
        x1 = decodeScalars(g, row.opened);
        wipe(seed);
      }
    } catch (e) {
      if (e instanceof EcdhFailure) throw e.reason;
      continue;
    }
    const x = g.map((gj, j) => gj.mod((x0[j] as bigint) + (x1[j] as bigint)));
    let ok = true;
    for (let j = 0; j < g.length; j++)
      ok = (g[j] as Group).base(x[j] as bigint).equals(X[j] as GroupPoint) && ok;
    if (ok) return g.map((gj, j) => gj.encodeScalar(x[j] as bigint));
  }
  throw new InputError(
    'PVE ciphertext: no repetition decrypts to the public shares (a dishonest encryptor, or the wrong backup key)',
    { check: 'PveDecrypt' }
  );
}

/**
 * Encrypts the secret shares of `shares` (one key share, or a batch: all of a client's keys, of
 * any curve) to `backupKey`, with a proof of correct encryption. `label` defaults to
 * `pveLabelOf(shares)`. About 14 KB for one share with X25519.
 */
export function pveEncrypt(
  shares: KeyShare | readonly KeyShare[],
  backupKey: PveBackupKey,
  label: Uint8Array = pveLabelOf(shares),
  opts: { rng?: Rng } = {}
): Uint8Array {
  const list = asList(shares);
  return encryptScalars(
    list.map((s) => shareSecret(s)),
    list.map((s) => s.verificationShare(s.partyId)),
    backupKey,
    label,
    opts.rng ? { rng: opts.rng } : {}
  );
}

/**
 * Checks that `ciphertext` decrypts, under the private key of `backupKey`, to the discrete
 * logarithms of `publicShare` (or each of a batch's, in order), under `label`. Everything is
 * compared with what the caller passes, never with what the ciphertext claims. Throws
 * `InputError` (checks `PveMalformed`, `PveVersion`, `PveMismatch`, `PveProof`, `PveInput`,
 * `PveBackupKey`).
 */
export function pveVerify(
  ciphertext: Uint8Array,
  publicShare: Uint8Array | readonly Uint8Array[],
  backupKey: PveBackupKey,
  label: Uint8Array
): void {
  verifyRows(ciphertext, asList(publicShare), backupKey, label);
}

/**
 * Verifies, then decrypts: the secret share (the group's 32-byte scalar encoding) for one public
 * share, one per share for a batch. Checks `x·G = X` before returning; throws `InputError`
 * (`PveDecrypt` when no repetition gives it). Wipe the result after use.
 */
export function pveDecrypt(
  ciphertext: Uint8Array,
  key: PveDecryptionKey,
  label: Uint8Array,
  publicShare: Uint8Array
): Uint8Array;
export function pveDecrypt(
  ciphertext: Uint8Array,
  key: PveDecryptionKey,
  label: Uint8Array,
  publicShares: readonly Uint8Array[]
): Uint8Array[];
export function pveDecrypt(
  ciphertext: Uint8Array,
  key: PveDecryptionKey,
  label: Uint8Array,
  publicShare: Uint8Array | readonly Uint8Array[]
): Uint8Array | Uint8Array[] {
  const out = decryptRows(ciphertext, key, label, asList(publicShare));
  return Array.isArray(publicShare) ? out : (out[0] as Uint8Array);
}

const SEALED_AAD = utf8ToBytes('tessera/pve/sealed-share/v1');

/**
 * The rest of a key share (chain code, DKLs23 pairwise state, bans, public data) sealed to the
 * backup key with the same base encryption and fresh randomness, bound to `label`. The proof of
 * `pveEncrypt` covers the secret share only; `pveRestoreShare` checks this part against it.
 */
export function pveSealShare(
  share: KeyShare,
  backupKey: PveBackupKey,
  label: Uint8Array = pveLabelOf(share),
  opts: { rng?: Rng } = {}
): Uint8Array {
  const key = checkBackupKey(backupKey);
  const bytes = share.toBytes();
  try {
    return kemEncrypt(key, bytes, concatBytes(SEALED_AAD, label), (opts.rng ?? systemRng)(SEED));
  } finally {
    wipe(bytes);
  }
}

/**
 * Restores a key share from its verifiable backup: verifies and decrypts `pve` (the secret share,
 * checked against `publicShare`), opens `sealedShare`, and checks that the share it holds is a
 * valid share with exactly that public share and secret. Throws `InputError` (`PveDecrypt`,
 * `PveSealedShare`, or a verification check).
 */
export function pveRestoreShare(
  backup: { readonly pve: Uint8Array; readonly sealedShare: Uint8Array },
  key: PveDecryptionKey,
  label: Uint8Array,
  publicShare: Uint8Array
): KeyShare {
  const x = decryptRows(backup.pve, key, label, [publicShare])[0] as Uint8Array;
  const bad = (why: string): never => {
    throw new InputError(`PVE backup: the sealed share ${why}`, { check: 'PveSealedShare' });
  };
  let bytes: Uint8Array | undefined;
  try {
    try {
      bytes = kemDecrypt(key, publicKeyOf(key), backup.sealedShare, concatBytes(SEALED_AAD, label));
    } catch (e) {
      if (e instanceof EcdhFailure) throw e.reason;
      return bad('does not open under this backup key and label');
    }
    let share: KeyShare;
    try {
      share = KeyShare.fromBytes(bytes);
    } catch {
      return bad('is not a valid key share');
    }
    const g = groupOf(curveOfShare(publicShare));
    if (
      !ctEqual(share.verificationShare(share.partyId), publicShare) ||
      !ctEqual(g.encodeScalar(shareSecret(share)), x) ||
      !ctEqual(pveLabelOf(share), label)
    )
      return bad('is not the share the proof is about');
    return share;
  } finally {
    wipe(x, bytes);
  }
}
