/**
 * Canonical encoding and hashing (docs/protocols/common.md: encoding, hashes, tags, commitments).
 *
 * `enc(f_1..f_m) = u32be(|f_1|) ‖ f_1 ‖ … ‖ u32be(|f_m|) ‖ f_m`. Every hash is
 * `SHA-256(enc(DS, tag, fields…))`, so one tuple of fields has exactly one transcript and no two
 * tags can collide. Values entering a hash are always canonical re-encodings of validated values,
 * never raw received bytes.
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, ctEqual, u32be, utf8ToBytes, writeU32be } from './bytes.ts';
import {
  paddedLength,
  SHA256_BLOCK,
  Sha256Blocks,
  type Sha256State,
  stateToBytes,
  writePadding,
} from './sha256blocks.ts';

/** Root domain-separation string. Changing it breaks every stored key. */
export const DS = 'tessera/v1';

/**
 * Tag registry (docs/protocols/common.md, "Hashes and domain separation"). A tag is used for
 * exactly one purpose; a unit test asserts they are pairwise distinct. Tessera additions: `frost/*`
 * for the FROST session layer, `hd/ed25519/*` for Ed25519 derivation (hd.ts); `rs/keyid` (the new
 * key id after a lost share is re-issued);
 * `sign/psid` (the ECDSA session id without the digest, for presigning) and `sign/digest`
 * (the digest each signer binds in round 3); `ote/confirm` (both ends of a pair confirm their
 * OT-extension setup ids at the end of key generation and reshare); `share/public` (the public
 * data of a share a signing session is bound to) and `share/check` (a share's stored checksum);
 * `pve/*` for verifiable backups (docs/protocols/pve.md).
 */
export const TAGS = {
  dkgCfg: 'dkg/cfg',
  dkgSid: 'dkg/sid',
  dkgCommit: 'dkg/commit',
  dkgEcho1: 'dkg/echo1',
  dkgEcho2: 'dkg/echo2',
  dkgChaincode: 'dkg/chaincode',
  dkgKeyid: 'dkg/keyid',
  dkgPok0: 'dkg/pok0',
  dkgPokx: 'dkg/pokx',
  pokCommon: 'pok/common',
  pokTry: 'pok/try',
  otBaseSid: 'ot/base/sid',
  otBaseH2c: 'ot/base/h2c',
  otBaseKey: 'ot/base/key',
  otPprfSid: 'ot/pprf/sid',
  otPprfExpand: 'ot/pprf/expand',
  otPprfLeaf: 'ot/pprf/leaf',
  otPprfProof: 'ot/pprf/proof',
  oteSetup: 'ote/setup',
  oteConfirm: 'ote/confirm',
  oteSidx: 'ote/sidx',
  oteSidy: 'ote/sidy',
  otePrg: 'ote/prg',
  oteU: 'ote/u',
  oteChal: 'ote/chal',
  oteOut: 'ote/out',
  rvoleGadget: 'rvole/gadget',
  rvoleAtilde: 'rvole/atilde',
  rvoleTheta: 'rvole/theta',
  rvoleMu: 'rvole/mu',
  zeroSeed: 'zero/seed',
  zeroShare: 'zero/share',
  signSid: 'sign/sid',
  signPsid: 'sign/psid',
  signDigest: 'sign/digest',
  signCommitR: 'sign/commitR',
  signEcho1: 'sign/echo1',
  keyEpoch: 'key/epoch',
  sharePublic: 'share/public',
  shareCheck: 'share/check',
  rsCfg: 'rs/cfg',
  rsSid: 'rs/sid',
  rsCommit: 'rs/commit',
  rsEcho1: 'rs/echo1',
  rsEcho2: 'rs/echo2',
  rsPokx: 'rs/pokx',
  rsKeyid: 'rs/keyid',
  frostSid: 'frost/sid',
  frostEcho1: 'frost/echo1',
  hdEd25519Tweak: 'hd/ed25519/tweak',
  hdEd25519Chain: 'hd/ed25519/chain',
  partyFingerprint: 'party/fingerprint',
  pairCommit: 'pair/commit',
  pairTranscript: 'pair/transcript',
  pairChain: 'pair/chain',
  pveKeygen: 'pve/keygen',
  pveRho: 'pve/rho',
  pveX0: 'pve/x0',
  pveContext: 'pve/context',
  pveChallenge: 'pve/challenge',
} as const;

/** A registered tag string. */
export type Tag = (typeof TAGS)[keyof typeof TAGS];

/** `enc(DS, tag)`: the constant start of every hash input, precomputed per tag. */
const PREFIX = new Map<string, Uint8Array>(
  Object.values(TAGS).map((t) => [t, encFields([utf8ToBytes(DS), utf8ToBytes(t)])])
);

function prefixOf(tag: Tag): Uint8Array {
  const b = PREFIX.get(tag);
  if (!b) throw new Error(`unregistered tag ${tag}`);
  return b;
}

/** `enc` into one buffer, optionally after a prefix, without per-field allocations. */
function encFields(fields: readonly Uint8Array[], prefix?: Uint8Array): Uint8Array {
  let len = prefix?.length ?? 0;
  for (const f of fields) len += 4 + f.length;
  const out = new Uint8Array(len);
  let off = 0;
  if (prefix) {
    out.set(prefix);
    off = prefix.length;
  }
  for (const f of fields) {
    writeU32be(out, off, f.length);
    out.set(f, off + 4);
    off += 4 + f.length;
  }
  return out;
}

/** `enc(f_1, …, f_m)`: each field prefixed by its u32be length. */
export function enc(...fields: Uint8Array[]): Uint8Array {
  return encFields(fields);
}

/** A list of fixed-size items as one field: `u32be(count) ‖ item_1 ‖ … ‖ item_c`. */
export function list(items: readonly Uint8Array[]): Uint8Array {
  const size = items[0]?.length ?? 0;
  for (const it of items) {
    if (it.length !== size) throw new Error('list(): items must have one fixed size');
  }
  return concatBytes(u32be(items.length), ...items);
}

/** A text field (UTF-8). */
export const text = (s: string): Uint8Array => utf8ToBytes(s);

/** `H256(tag, f…) = SHA-256(enc(DS, tag, f…))`. */
export function H256(tag: Tag, ...fields: Uint8Array[]): Uint8Array {
  return sha256(encFields(fields, prefixOf(tag)));
}

/** `XOF(tag, f…; L)`: SHA-256 in counter mode keyed by `H256(tag, f…)`. */
export function XOF(tag: Tag, fields: Uint8Array[], length: number): Uint8Array {
  const block = new Uint8Array(36);
  block.set(H256(tag, ...fields));
  const out = new Uint8Array(length);
  for (let i = 0, off = 0; off < length; i++, off += 32) {
    writeU32be(block, 32, i);
    const h = sha256(block);
    out.set(length - off >= 32 ? h : h.subarray(0, length - off), off);
  }
  return out;
}

/** `HashToScalar(tag, f…) = OS2IP(XOF(tag, f…; 48)) mod q` (wide reduction, bias < 2^-128). */
export function hashToScalar(tag: Tag, fields: Uint8Array[], order: bigint): bigint {
  const b = XOF(tag, fields, 48);
  return os2ip48Mod(new DataView(b.buffer, b.byteOffset, 48), order);
}

/** `OS2IP(b[0..48]) mod order`. */
const os2ip48Mod = (v: DataView, order: bigint): bigint => os2ip48(v) % order;

/** `OS2IP(b[0..48])`, read as six 64-bit words (no hex round trip). */
function os2ip48(v: DataView): bigint {
  const hi = (v.getBigUint64(0) << 128n) | (v.getBigUint64(8) << 64n) | v.getBigUint64(16);
  const lo = (v.getBigUint64(24) << 128n) | (v.getBigUint64(32) << 64n) | v.getBigUint64(40);
  return (hi << 192n) | lo;
}

/**
 * `H256`, `XOF` and `HashToScalar` for many inputs that share their leading fields, such as the
 * 3,072 pads of one OT extension (all `enc(DS, "ote/out", sidY, …)`). The whole blocks of the
 * shared prefix are compressed once; each call then lays out its own blocks, padding included,
 * and runs only their compressions (`Sha256Blocks`): a pad takes ≈ 1.7 µs here instead of
 * ≈ 2.4. Outputs are byte-identical to the plain functions (a property test checks). Holds
 * secret-derived state: call `destroy()` when done.
 */
export class PrefixedHash {
  readonly #engine = new Sha256Blocks();
  /** Chaining state after the prefix's whole blocks. */
  readonly #mid: Sha256State;
  /** Bytes of the prefix compressed into `#mid` (a multiple of 64). */
  readonly #midBytes: number;
  /** The prefix's bytes after its last whole block (fewer than 64): the start of `#buf`. */
  readonly #head: Uint8Array;
  /** `#head ‖ fields ‖ padding` of the current call. */
  #buf: Uint8Array;
  #view: DataView;
  /** `H256(tag, fixed…, fields…)` of the current call. */
  readonly #key = new Uint32Array(8);
  /** The XOF's counter block `key ‖ u32be(j)` (36 bytes), padded. */
  readonly #ctr = new Uint8Array(SHA256_BLOCK);
  readonly #ctrView = new DataView(this.#ctr.buffer);
  readonly #out = new Uint32Array(8);
  /** The 48 bytes of `HashToScalar` before reduction. */
  readonly #wide = new DataView(new ArrayBuffer(48));

  readonly #firstLength: number | undefined;
  /** Where the last call's message ended in `#buf` (−1: no padding written yet). */
  #end = -1;

  /**
   * @param firstFieldLength - when every call's first field has this one length, its length
   *   prefix is absorbed here too. For `enc(DS, "ote/out", sidY)` (61 bytes) that completes the
   *   first 64-byte block, so each call skips one of its compressions.
   */
  constructor(tag: Tag, fixed: readonly Uint8Array[], firstFieldLength?: number) {
    this.#firstLength = firstFieldLength;
    const prefix = encFields(fixed, prefixOf(tag));
    const all =
      firstFieldLength === undefined ? prefix : concatBytes(prefix, u32be(firstFieldLength));
    this.#midBytes = all.length - (all.length % SHA256_BLOCK);
    this.#mid = Sha256Blocks.IV.slice();
    const whole = all.subarray(0, this.#midBytes);
    this.#engine.compressAll(
      this.#mid,
      new DataView(whole.buffer, whole.byteOffset),
      whole.length,
      this.#mid
    );
    this.#head = all.slice(this.#midBytes);
    all.fill(0);
    this.#buf = new Uint8Array(2 * SHA256_BLOCK);
    this.#buf.set(this.#head);
    this.#view = new DataView(this.#buf.buffer);
    this.#ctr[36] = 0x80;
    this.#ctrView.setUint32(60, 36 * 8);
  }

  /** `H256(tag, fixed…, fields…)` into `#key`. */
  #h256(fields: readonly Uint8Array[]): void {
    const skip = this.#firstLength;
    if (skip !== undefined && fields[0]?.length !== skip)
      throw new Error(`PrefixedHash: the first field must be ${skip} bytes`);
    let len = this.#head.length + (skip === undefined ? 0 : -4);
    for (const f of fields) len += 4 + f.length;
    if (paddedLength(len) > this.#buf.length) {
      this.#end = -1;
      this.#buf.fill(0);
      this.#buf = new Uint8Array(paddedLength(len));
      this.#buf.set(this.#head);
      this.#view = new DataView(this.#buf.buffer);
    }
    const buf = this.#buf;
    let off = this.#head.length;
    for (let k = 0; k < fields.length; k++) {
      const f = fields[k] as Uint8Array;
      if (k > 0 || skip === undefined) {
        writeU32be(buf, off, f.length);
        off += 4;
      }
      buf.set(f, off);
      off += f.length;
    }
    // The fields wrote only below `off`: with the same message length as the last call, the
    // padding after it is still in place.
    if (off !== this.#end) {
      writePadding(buf, this.#view, off, this.#midBytes + off);
      this.#end = off;
    }
    this.#engine.compressAll(this.#mid, this.#view, paddedLength(off), this.#key);
  }

  /** Writes `#key` into the XOF's counter block, for the `#block` calls that follow. */
  #loadKey(): void {
    stateToBytes(this.#key, this.#ctrView, 0);
  }

  /** Counter block `j` of the XOF keyed by `#key` (after `#loadKey`), into `#out`. */
  #block(j: number): void {
    this.#ctrView.setUint32(32, j);
    this.#engine.compress(Sha256Blocks.IV, this.#ctrView, 0, this.#out);
  }

  /** `H256(tag, fixed…, fields…)`. */
  digest(fields: readonly Uint8Array[]): Uint8Array {
    this.#h256(fields);
    const out = new Uint8Array(32);
    stateToBytes(this.#key, new DataView(out.buffer), 0);
    return out;
  }

  /** `XOF(tag, fixed…, fields…; length)`. */
  xof(fields: readonly Uint8Array[], length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.xofInto(fields, out);
    return out;
  }

  /** `XOF(tag, fixed…, fields…; out.length)`, written into `out`. */
  xofInto(fields: readonly Uint8Array[], out: Uint8Array): void {
    this.#h256(fields);
    this.#loadKey();
    const view = new DataView(out.buffer, out.byteOffset, out.length);
    const whole = out.length >> 5;
    for (let j = 0; j < whole; j++) {
      this.#block(j);
      stateToBytes(this.#out, view, 32 * j);
    }
    const rest = out.length & 31;
    if (rest === 0) return;
    this.#block(whole);
    for (let k = 0; k < rest; k++)
      out[32 * whole + k] = ((this.#out[k >> 2] as number) >>> (24 - 8 * (k & 3))) & 0xff;
  }

  /**
   * `OS2IP(XOF(tag, fixed…, fields…; 48))` before its reduction: an integer below 2^384 that is
   * `HashToScalar` modulo the order (reduce it for `HashToScalar` itself). For hot loops whose
   * sums are reduced anyway (the RVOLE's pads): one 384-bit division fewer per pad.
   */
  wideScalar(fields: readonly Uint8Array[]): bigint {
    this.#h256(fields);
    this.#loadKey();
    const wide = this.#wide;
    this.#block(0);
    stateToBytes(this.#out, wide, 0);
    this.#block(1);
    for (let w = 0; w < 4; w++) wide.setUint32(32 + 4 * w, this.#out[w] as number);
    return os2ip48(wide);
  }

  /** Erases the kept states, scratch buffers and noble's shared schedule. Unusable afterwards. */
  destroy(): void {
    this.#end = -1;
    this.#engine.wipe();
    for (const b of [this.#mid, this.#key, this.#out, this.#head, this.#buf, this.#ctr]) b.fill(0);
    new Uint8Array(this.#wide.buffer).fill(0);
  }
}

/**
 * Hash commitment `Com(tag, sid, i, payload…) = H256(tag, sid, u32be(i), payload…, salt)`
 * (docs/protocols/common.md, "Commitments"). The committer's id and the session id are inside the
 * hash, so a commitment cannot be replayed by another party or in another session.
 */
export function commit(
  tag: Tag,
  sid: Uint8Array,
  party: number,
  payload: Uint8Array[],
  salt: Uint8Array
): Uint8Array {
  return H256(tag, sid, u32be(party), ...payload, salt);
}

/** Checks an opening of `commit()` in constant time. */
export function openCommitment(
  expected: Uint8Array,
  tag: Tag,
  sid: Uint8Array,
  party: number,
  payload: Uint8Array[],
  salt: Uint8Array
): boolean {
  return ctEqual(expected, commit(tag, sid, party, payload, salt));
}
