/**
 * All-but-one OT (a punctured PRF from GGM trees) with its leaf-hash consistency proof, built from
 * the 256 base OTs of one directed pair `(a→b)`, docs/protocols/ecdsa.md "All-but-one OT" (`level`
 * in the expansion hash is the parent's level).
 *
 * For each of the 64 blocks `ν`, base OTs `4ν + d` (`d = 0..3`) choose one path down a binary tree
 * of depth 4. The sender `b` knows all 16 leaves; the receiver `a` learns every leaf except
 * `Δ_ν`, whose bits (most significant first) are `1 − c_{ν,0}, …, 1 − c_{ν,3}`. The proof
 * `(τ_ν, Π_ν)` binds `b` to one leaf set, so a malformed tree cannot make `a`'s abort depend on
 * which leaf it is missing.
 *
 * Steps: `pprfSenderExpand` (party `b`, DKG round 3, after `baseOtSenderRespond`),
 * `pprfReceiverRecover` (party `a`, DKG round 4, after `baseOtReceiverFinish`), then both call
 * `otSetupId`. Seed buffers use the flat layout of `./setup.ts`.
 * @module
 */
import { ctEqual, u32be } from '../bytes.ts';
import { decodeFields, decodeList } from '../codec.ts';
import { CheckFailed, InputError } from '../errors.ts';
import { H256, TAGS, XOF } from '../transcript.ts';
import {
  BASE_OT_COUNT,
  OTE_BLOCKS,
  OTE_K,
  OTE_LEAVES,
  SEED_BYTES,
  SEEDS_BYTES,
  seedOffset,
} from './setup.ts';

/** Bytes of one node, one key, one hash. */
const N = SEED_BYTES;
/** Items of the T list: 3 expanded levels per block. */
const T_ITEMS = OTE_BLOCKS * (OTE_K - 1);
/** Bytes of the list fields of `msg`: count prefix plus 64-byte items. */
const T_FIELD = 4 + T_ITEMS * 2 * N;
const P_FIELD = 4 + OTE_BLOCKS * 2 * N;

/** `sidP = H256("ot/pprf/sid", sidOT)`. */
const pprfSid = (sidOT: Uint8Array): Uint8Array => H256(TAGS.otPprfSid, sidOT);

/**
 * `(L, R) = split32(XOF("ot/pprf/expand", sidP, u32be(ν), u32be(level), u32be(y), node; 64))`,
 * `level` and `y` being the parent's. Returns the 64 bytes `L ‖ R`.
 */
const expand = (sidP: Uint8Array, nu: number, level: number, y: number, node: Uint8Array) =>
  XOF(TAGS.otPprfExpand, [sidP, u32be(nu), u32be(level), u32be(y), node], 2 * N);

/** `h_y = H256("ot/pprf/leaf", sidP, u32be(ν), u32be(y), leaf)`. */
const leafHash = (sidP: Uint8Array, nu: number, y: number, leaf: Uint8Array) =>
  H256(TAGS.otPprfLeaf, sidP, u32be(nu), u32be(y), leaf);

/** `Π_ν = H256("ot/pprf/proof", sidP, u32be(ν), list(h_0..h_15))`; `hs` is the 512-byte concatenation. */
function proofHash(sidP: Uint8Array, nu: number, hs: Uint8Array): Uint8Array {
  const l = new Uint8Array(4 + hs.length);
  l.set(u32be(OTE_LEAVES), 0);
  l.set(hs, 4);
  return H256(TAGS.otPprfProof, sidP, u32be(nu), l);
}

/** `dst[dOff..+32] ^= src[sOff..+32]`. */
function xorInto(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number): void {
  for (let i = 0; i < N; i++) dst[dOff + i] = (dst[dOff + i] as number) ^ (src[sOff + i] as number);
}

/** `dst[dOff..+32] ^= src[sOff..+32] & mask` (mask 0x00 or 0xff). */
function xorMaskedInto(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, mask: number) {
  for (let i = 0; i < N; i++)
    dst[dOff + i] = (dst[dOff + i] as number) ^ ((src[sOff + i] as number) & mask);
}

/** `buf[off..+32] &= mask` (mask 0x00 or 0xff). */
function andMask(buf: Uint8Array, off: number, mask: number): void {
  for (let i = 0; i < N; i++) buf[off + i] = (buf[off + i] as number) & mask;
}

/** 0xff if `x === 0` else 0x00, for small non-negative integers, without a branch. */
const zeroMask = (x: number): number => ((((x | -x) >> 31) ^ -1) & 0xff) >>> 0;
/** 0xff if `a === b` else 0x00. */
const eqMask = (a: number, b: number): number => zeroMask(a ^ b);

const bitAt = (bits: Uint8Array, k: number): number => ((bits[k >> 3] as number) >> (k & 7)) & 1;

/**
 * Sender side of the all-but-one OT (party `b`): builds the 64 GGM trees from the base-OT
 * keys, the correction words `T^0, T^1` of each expanded level and the proof `(τ_ν, Π_ν)`.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param keys - from `baseOtSenderRespond`: 256 × 64 bytes `s_k^0 ‖ s_k^1`.
 * @returns `msg = enc(list(T^0 ‖ T^1)_{ν<64, level=1..3}, list(τ_ν ‖ Π_ν)_{ν<64})` (ν-major) and
 *   `seeds`, all 64 × 16 leaves in the flat layout of `./setup.ts`.
 */
export function pprfSenderExpand(
  sidOT: Uint8Array,
  keys: Uint8Array
): { msg: Uint8Array; seeds: Uint8Array } {
  if (!(sidOT instanceof Uint8Array) || sidOT.length !== 32)
    throw new InputError('sidOT must be 32 bytes');
  if (!(keys instanceof Uint8Array) || keys.length !== BASE_OT_COUNT * 2 * N)
    throw new InputError('PPRF sender: expected 256 × 64 bytes of base-OT keys');
  const sidP = pprfSid(sidOT);
  // msg = enc(tField, pField); both list fields are written in place.
  const msg = new Uint8Array(4 + T_FIELD + 4 + P_FIELD);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, T_FIELD);
  dv.setUint32(4, T_ITEMS);
  const pStart = 4 + T_FIELD;
  dv.setUint32(pStart, P_FIELD);
  dv.setUint32(pStart + 4, OTE_BLOCKS);
  const seeds = new Uint8Array(SEEDS_BYTES);
  // s^j of base OT k is keys[(2k + j)·32 ..].
  const keyOff = (k: number, j: number) => (2 * k + j) * N;

  for (let nu = 0; nu < OTE_BLOCKS; nu++) {
    // Level 1: the two messages of base OT 4ν.
    let nodes = keys.slice(keyOff(4 * nu, 0), keyOff(4 * nu, 0) + 2 * N);
    for (let level = 1; level < OTE_K; level++) {
      const width = 1 << level;
      const children = new Uint8Array(2 * width * N);
      for (let y = 0; y < width; y++)
        children.set(expand(sidP, nu, level, y, nodes.subarray(y * N, (y + 1) * N)), 2 * y * N);
      // T^0 = (⊕ even children) ⊕ s^0_{ν,level}, T^1 = (⊕ odd children) ⊕ s^1_{ν,level}: exactly one
      // of them opens to a, which then knows the missing child of that parity.
      const tOff = 8 + (nu * (OTE_K - 1) + (level - 1)) * 2 * N;
      msg.set(keys.subarray(keyOff(4 * nu + level, 0), keyOff(4 * nu + level, 0) + 2 * N), tOff);
      for (let i = 0; i < 2 * width; i++) xorInto(msg, tOff + (i & 1) * N, children, i * N);
      nodes = children;
    }
    seeds.set(nodes, seedOffset(nu, 0));
    // Leaf hashes, τ = ⊕ h_y, Π = H(list(h_y)).
    const hs = new Uint8Array(OTE_LEAVES * N);
    const pOff = pStart + 8 + nu * 2 * N;
    for (let y = 0; y < OTE_LEAVES; y++) {
      hs.set(leafHash(sidP, nu, y, nodes.subarray(y * N, (y + 1) * N)), y * N);
      xorInto(msg, pOff, hs, y * N);
    }
    msg.set(proofHash(sidP, nu, hs), pOff + N);
  }
  return { msg, seeds };
}

/**
 * Receiver side of the all-but-one OT (party `a`): recovers every leaf except the
 * punctured one `Δ_ν` of each block and checks the proof of every block (all 64 are checked; the
 * result is reported once, so timing does not say which block failed).
 *
 * Side-channel note: the puncture index is secret, so the receiver expands every node of a level
 * (the punctured one as a zero dummy) and places or discards values with masks instead of
 * branching on the index.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param choices - the 32 bytes of choice bits from the base-OT receiver state.
 * @param chosenKeys - from `baseOtReceiverFinish`: 256 × 32 bytes `s_k^{c_k}`.
 * @param msg - the sender's PPRF message, as received.
 * @returns `delta` (64 bytes, `Δ_ν ∈ [0,16)`) and `seeds` (flat layout, zeros at `(ν, Δ_ν)`).
 * @throws DecodeError if `msg` is malformed (field count, list counts or lengths).
 * @throws CheckFailed `PprfProof` if any block's proof fails. Callers name `b` as culprit.
 */
export function pprfReceiverRecover(
  sidOT: Uint8Array,
  choices: Uint8Array,
  chosenKeys: Uint8Array,
  msg: Uint8Array
): { delta: Uint8Array; seeds: Uint8Array } {
  if (!(sidOT instanceof Uint8Array) || sidOT.length !== 32)
    throw new InputError('sidOT must be 32 bytes');
  if (!(choices instanceof Uint8Array) || choices.length !== BASE_OT_COUNT / 8)
    throw new InputError('PPRF receiver: choices must be 32 bytes');
  if (!(chosenKeys instanceof Uint8Array) || chosenKeys.length !== BASE_OT_COUNT * N)
    throw new InputError('PPRF receiver: expected 256 × 32 bytes of base-OT keys');
  const [tField, pField] = decodeFields(msg, 2, 'PPRF message');
  const T = decodeList(tField, 2 * N, T_ITEMS, 'PPRF T');
  const TP = decodeList(pField, 2 * N, OTE_BLOCKS, 'PPRF tau/Pi');
  const sidP = pprfSid(sidOT);
  const delta = new Uint8Array(OTE_BLOCKS);
  const seeds = new Uint8Array(SEEDS_BYTES);
  let ok = true;

  for (let nu = 0; nu < OTE_BLOCKS; nu++) {
    // Level 1: N_1[c] = s^{c}_{ν,0}, N_1[1 − c] unknown (kept as zeros); puncture π = 1 − c.
    const c0 = bitAt(choices, 4 * nu);
    let nodes = new Uint8Array(2 * N);
    const k0 = chosenKeys.subarray(4 * nu * N, (4 * nu + 1) * N);
    xorMaskedInto(nodes, 0, k0, 0, eqMask(c0, 0));
    xorMaskedInto(nodes, N, k0, 0, eqMask(c0, 1));
    let pi = 1 - c0;
    for (let level = 1; level < OTE_K; level++) {
      const width = 1 << level;
      const children = new Uint8Array(2 * width * N);
      // Expanding the dummy too keeps the work independent of π; its children are discarded.
      for (let y = 0; y < width; y++)
        children.set(expand(sidP, nu, level, y, nodes.subarray(y * N, (y + 1) * N)), 2 * y * N);
      for (let i = 0; i < 2 * width; i++) andMask(children, i * N, ~eqMask(i >> 1, pi) & 0xff);
      // Y = T^c ⊕ s^c = XOR of all children of parity c; the one missing is 2π + c.
      const c = bitAt(choices, 4 * nu + level);
      const t = T[nu * (OTE_K - 1) + (level - 1)] as Uint8Array;
      const y = new Uint8Array(N);
      xorMaskedInto(y, 0, t, 0, eqMask(c, 0));
      xorMaskedInto(y, 0, t, N, eqMask(c, 1));
      xorInto(y, 0, chosenKeys, (4 * nu + level) * N);
      for (let i = 0; i < 2 * width; i++) xorMaskedInto(y, 0, children, i * N, eqMask(i & 1, c));
      const missing = 2 * pi + c;
      for (let i = 0; i < 2 * width; i++) xorMaskedInto(children, i * N, y, 0, eqMask(i, missing));
      pi = 2 * pi + (1 - c);
      nodes = children;
    }
    delta[nu] = pi;
    // nodes[Δ] is zeros here (the discarded child); all other leaves are recovered.
    seeds.set(nodes, seedOffset(nu, 0));
    // h_y for every y (a dummy at Δ), then h_Δ = τ ⊕ (⊕_{y≠Δ} h_y), placed with masks.
    const tp = TP[nu] as Uint8Array;
    const hs = new Uint8Array(OTE_LEAVES * N);
    const hDelta = tp.slice(0, N);
    for (let y = 0; y < OTE_LEAVES; y++) {
      hs.set(leafHash(sidP, nu, y, nodes.subarray(y * N, (y + 1) * N)), y * N);
      const notDelta = ~eqMask(y, pi) & 0xff;
      andMask(hs, y * N, notDelta);
      xorInto(hDelta, 0, hs, y * N);
    }
    for (let y = 0; y < OTE_LEAVES; y++) xorMaskedInto(hs, y * N, hDelta, 0, eqMask(y, pi));
    // Non-short-circuit AND: every block is hashed and compared whatever came before.
    ok = ctEqual(proofHash(sidP, nu, hs), tp.subarray(N, 2 * N)) && ok;
  }
  if (!ok) throw new CheckFailed('PprfProof', 'PPRF: the leaf-hash proof does not verify');
  return { delta, seeds };
}

/**
 * `setupId_{a→b} = H256("ote/setup", sidOT, list(P), list(B), list(T), list(τ‖Π))`: the
 * four list fields in index order. `msg1` and `msg2` already are the `list(P)` and `list(B)`
 * fields, and `pprfMsg` is `enc` of the other two, so the received bytes are hashed unchanged.
 * Call it only after the step that consumed each message succeeded (so each is validated); it
 * re-checks only the shapes.
 *
 * @param sidOT - `baseOtSid(sid_dkg, a, b)`.
 * @param msg1 - base-OT message 1 (`a → b`).
 * @param msg2 - base-OT message 2 (`b → a`).
 * @param pprfMsg - the PPRF message (`b → a`).
 * @returns the 32-byte setup id both parties store.
 * @throws DecodeError if a message does not have the expected shape.
 */
export function otSetupId(
  sidOT: Uint8Array,
  msg1: Uint8Array,
  msg2: Uint8Array,
  pprfMsg: Uint8Array
): Uint8Array {
  if (!(sidOT instanceof Uint8Array) || sidOT.length !== 32)
    throw new InputError('sidOT must be 32 bytes');
  decodeList(msg1, 66, BASE_OT_COUNT, 'base OT msg1');
  decodeList(msg2, 66, BASE_OT_COUNT, 'base OT msg2');
  const [tField, pField] = decodeFields(pprfMsg, 2, 'PPRF message');
  decodeList(tField, 2 * N, T_ITEMS, 'PPRF T');
  decodeList(pField, 2 * N, OTE_BLOCKS, 'PPRF tau/Pi');
  return H256(TAGS.oteSetup, sidOT, msg1, msg2, tField, pField);
}
