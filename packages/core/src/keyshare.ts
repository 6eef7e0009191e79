/**
 * `KeyShare`: one party's share of a threshold key, with a versioned byte format.
 *
 * Byte format v5: `"TSKS" ‖ enc(u32be(5), scheme, u32be(partyId), u32be(threshold),
 * list(u32be(id)…), keyId, epoch, chainCode, groupKey, list(X_id…), x_i, pairwise, banned, path,
 * u32be(generation), check)`,
 * where `pairwise` holds, for `ecdsa` keys, one DKLs23 setup per other party (zero-sharing seed and
 * both directed OT-extension setups; docs/protocols/dkg.md "Output"), `banned` the peers whose pair
 * is banned after a cheat (docs/protocols/ecdsa.md "Bans") and `path` the derivation path from the
 * root key (empty for the root; see hd.ts), `generation` the epoch counter (0 after key generation,
 * +1 per reshare), and `check` `H256("share/check", everything before it)`. Formats v1 (the first
 * 11 fields), v2 (13), v3 (14) and v4 (15, no check) still load. Every field is validated on load,
 * the share must match its public verification share, and the OT seeds must be intact: a damaged
 * share is `ShareCorrupted`, found before it can make an honest peer fail a consistency check (and
 * be banned for it).
 *
 * The secret share is held in a private field: it never appears in `JSON.stringify`, in
 * logs or `util.inspect`, or in an error. Only `toBytes()` exports it.
 * @module
 */
import {
  bytesToHex,
  concatBytes,
  copyBytes,
  ctEqual,
  readU32be,
  u32be,
  utf8ToBytes,
} from './bytes.ts';
import { decodeFields, decodeList, decodePointList, fixedBytes } from './codec.ts';
import { DecodeError, InputError, type PartyId } from './errors.ts';
import { type Group, type GroupPoint, groupOf } from './group.ts';
import { interpolatePoints } from './math/polynomial.ts';
import {
  OTE_BLOCKS,
  OTE_LEAVES,
  type OteReceiverSetup,
  type OteSenderSetup,
  SEED_BYTES,
  SEEDS_BYTES,
  seedOffset,
} from './ot/setup.ts';
import { enc, H256, list } from './transcript.ts';

/** Signature schemes. `ecdsa` is DKLs23 on secp256k1; `bip340` is FROST with BIP-340 output. */
export type Scheme = 'ecdsa' | 'ed25519' | 'bip340';

/** All schemes. */
export const SCHEMES: readonly Scheme[] = ['ecdsa', 'ed25519', 'bip340'];

/** The group a scheme works in. */
export const groupOfScheme = (scheme: Scheme): Group =>
  groupOf(scheme === 'ed25519' ? 'ed25519' : 'secp256k1');

const MAGIC = utf8ToBytes('TSKS');
const FORMAT_VERSION = 5;
/** Fields per format version. */
const FIELDS: Record<number, number> = { 1: 11, 2: 13, 3: 14, 4: 15, 5: 16 };

/** Fields that make up a key share (internal constructor input). */
export interface KeyShareFields {
  scheme: Scheme;
  partyId: PartyId;
  threshold: number;
  parties: PartyId[];
  keyId: Uint8Array;
  epoch: Uint8Array;
  chainCode: Uint8Array;
  /** Group public key in the group's point encoding (compressed SEC1 for secp256k1). */
  groupKey: Uint8Array;
  /** Verification shares `X_id`, in the order of `parties`. */
  verificationShares: Uint8Array[];
  /** The secret share `x_i`. */
  secret: bigint;
  /** `ecdsa` keys: the DKLs23 pairwise setup with every other party. */
  pairwise?: PairwiseSetup[];
  /** Peers whose pairwise setup is banned after a detected cheat. */
  banned?: PartyId[];
  /** Non-hardened derivation path from the root key (empty for the root; see hd.ts). */
  path?: number[];
  /** Epoch counter: 0 after key generation, +1 per refresh or reshare. */
  generation?: number;
}

/**
 * DKLs23 pairwise state with one other party (docs/protocols/ecdsa.md, "Pairwise setup"). Secret.
 */
export interface PairwiseSetup {
  peer: PartyId;
  /** `zseed` shared with `peer` (docs/protocols/ecdsa.md, "Zero sharing"). */
  zeroSeed: Uint8Array;
  /** This party as OT-extension sender in `(me→peer)`. */
  sender: OteSenderSetup;
  /** This party as OT-extension receiver in `(peer→me)`. */
  receiver: OteReceiverSetup;
}

const secrets = new WeakMap<KeyShare, bigint>();
const pairwiseOf = new WeakMap<KeyShare, Map<PartyId, PairwiseSetup>>();
const bansOf = new WeakMap<KeyShare, Set<PartyId>>();

/** One party's share of a threshold key. Immutable. */
export class KeyShare {
  readonly scheme: Scheme;
  readonly partyId: PartyId;
  /** Signers needed (t). */
  readonly threshold: number;
  /** Ids of every holder of this key, ascending. */
  readonly parties: readonly PartyId[];
  /** 32-byte key identifier (stable across refreshes). */
  readonly keyId: Uint8Array;
  /** 32-byte epoch identifier; changes with every refresh or reshare. */
  readonly epoch: Uint8Array;
  /** 32-byte chain code for BIP-32 style derivation. Confidential. */
  readonly chainCode: Uint8Array;
  /** Group public key as a full point (33-byte compressed for secp256k1, 32 for Ed25519). */
  readonly groupKey: Uint8Array;
  /** Non-hardened derivation path from the root key (empty for the root). */
  readonly path: readonly number[];
  /**
   * Epoch counter: 0 after key generation, one more after each refresh or reshare. Public; it
   * tells which of two epochs is the stale one.
   */
  readonly generation: number;
  readonly #vshares: Uint8Array[];

  /** @internal Use `KeyShare.fromBytes` or a key-generation protocol. */
  constructor(f: KeyShareFields) {
    this.scheme = f.scheme;
    this.partyId = f.partyId;
    this.threshold = f.threshold;
    this.parties = Object.freeze([...f.parties]);
    this.keyId = copyBytes(f.keyId);
    this.epoch = copyBytes(f.epoch);
    this.chainCode = copyBytes(f.chainCode);
    this.groupKey = copyBytes(f.groupKey);
    this.path = Object.freeze([...(f.path ?? [])]);
    this.generation = f.generation ?? 0;
    this.#vshares = f.verificationShares.map((v) => copyBytes(v));
    secrets.set(this, f.secret);
    // Own copies: the protocol state these came from is wiped when its session ends.
    pairwiseOf.set(this, new Map((f.pairwise ?? []).map((p) => [p.peer, copyPairwise(p)])));
    bansOf.set(this, new Set(f.banned ?? []));
    Object.freeze(this);
  }

  /**
   * True when the pair with `peer` is banned: a cheat was detected in its OT or multiplication
   * layer (docs/protocols/ecdsa.md, "Bans"). Signing with a banned pair is refused before any
   * cryptography; only a full re-setup (reshare) with a new key share clears it.
   */
  isBanned(peer: PartyId): boolean {
    return (bansOf.get(this) as Set<PartyId>).has(peer);
  }

  /**
   * Records a ban on the pair with `peer`, as the protocol does after a failed OT or
   * multiplication check, for a caller that learned of a ban elsewhere (its durable pair markers,
   * a ban recorded after this share was backed up). Bans are only ever added; a reshare that an
   * operator approves is what clears them. Persist the share afterwards.
   */
  ban(peer: PartyId): void {
    if (peer === this.partyId || !this.parties.includes(peer))
      throw new InputError(`party ${peer} is not another holder of this key`);
    banPeer(this, peer);
  }

  /** Peers banned for this key, ascending. Persist the share (`toBytes`) after this changes. */
  get bannedPeers(): PartyId[] {
    return [...(bansOf.get(this) as Set<PartyId>)].sort((a, b) => a - b);
  }

  /**
   * The public key as chains expect it: compressed SEC1 (33 bytes) for `ecdsa`, 32 bytes for
   * `ed25519`, x-only (32 bytes) for `bip340`.
   */
  get publicKey(): Uint8Array {
    return this.scheme === 'bip340' ? this.groupKey.slice(1) : copyBytes(this.groupKey);
  }

  /** Key id as hex. */
  get keyIdHex(): string {
    return bytesToHex(this.keyId);
  }

  /** Verification share `X_id` of a holder. */
  verificationShare(id: PartyId): Uint8Array {
    const k = this.parties.indexOf(id);
    if (k < 0) throw new InputError(`party ${id} does not hold a share of this key`);
    return (this.#vshares[k] as Uint8Array).slice();
  }

  /** Serialises the share, secret included (store it encrypted). */
  toBytes(): Uint8Array {
    const g = groupOfScheme(this.scheme);
    const fields = [
      u32be(FORMAT_VERSION),
      utf8ToBytes(this.scheme),
      u32be(this.partyId),
      u32be(this.threshold),
      list(this.parties.map(u32be)),
      this.keyId,
      this.epoch,
      this.chainCode,
      this.groupKey,
      list(this.#vshares),
      g.encodeScalar(shareSecret(this)),
      enc(
        ...[...(pairwiseOf.get(this) as Map<PartyId, PairwiseSetup>).values()].map(encodePairwise)
      ),
      list(this.bannedPeers.map(u32be)),
      list(this.path.map(u32be)),
      u32be(this.generation),
    ];
    return concatBytes(MAGIC, enc(...fields, H256('share/check', ...fields)));
  }

  /** Parses and validates bytes from `toBytes()`. Throws `InputError` on any defect. */
  static fromBytes(bytes: Uint8Array): KeyShare {
    try {
      if (
        !(bytes instanceof Uint8Array) ||
        bytes.length < 4 ||
        !ctEqual(bytes.subarray(0, 4), MAGIC)
      ) {
        throw new DecodeError('MalformedMessage', 'not a Tessera key share');
      }
      const body = bytes.subarray(4);
      const version = body.length >= 8 ? readU32be(body, 4) : 0;
      const fieldCount = FIELDS[version];
      if (fieldCount === undefined) {
        throw new DecodeError(
          'MalformedMessage',
          `unsupported key share format version ${version}`
        );
      }
      const f = decodeFields(body, fieldCount, 'key share');
      // v5: the checksum first, over the fields as stored (no secret-dependent branch: ctEqual).
      if (version >= 5 && !ctEqual(H256('share/check', ...f.slice(0, -1)), f[15] as Uint8Array))
        throw new InputError('invalid key share: damaged (checksum mismatch)', {
          check: 'ShareCorrupted',
          hints: ['restore the share from its sealed store or a backup'],
        });
      const scheme = String.fromCharCode(...(f[1] as Uint8Array)) as Scheme;
      if (!SCHEMES.includes(scheme)) throw new DecodeError('MalformedMessage', 'unknown scheme');
      const g = groupOfScheme(scheme);
      const partyId = readU32be(fixedBytes(f[2] as Uint8Array, 4, 'partyId'));
      const threshold = readU32be(fixedBytes(f[3] as Uint8Array, 4, 'threshold'));
      const pf = f[4] as Uint8Array;
      const n = pf.length >= 4 ? readU32be(pf) : 0;
      const parties = decodeList(pf, 4, n, 'parties').map((b) => readU32be(b));
      const share = new KeyShare({
        scheme,
        partyId,
        threshold,
        parties,
        keyId: fixedBytes(f[5] as Uint8Array, 32, 'keyId'),
        epoch: fixedBytes(f[6] as Uint8Array, 32, 'epoch'),
        chainCode: fixedBytes(f[7] as Uint8Array, 32, 'chainCode'),
        groupKey: g.encodePoint(g.decodePoint(f[8] as Uint8Array, 'groupKey')),
        verificationShares: decodePointList(g, f[9] as Uint8Array, n, 'verificationShares').map(
          (p) => g.encodePoint(p)
        ),
        secret: g.decodeScalar(f[10] as Uint8Array, 'share', true),
        pairwise: version === 1 ? [] : decodePairwiseList(f[11] as Uint8Array),
        banned: version === 1 ? [] : decodeBanned(f[12] as Uint8Array),
        path: version < 3 ? [] : decodePath(f[13] as Uint8Array),
        generation: version < 4 ? 0 : readU32be(fixedBytes(f[14] as Uint8Array, 4, 'generation')),
      });
      share.validate();
      checkSeeds(share);
      return share;
    } catch (e) {
      if (e instanceof DecodeError)
        throw new InputError(`invalid key share: ${e.message}`, {
          cause: e,
          check: 'ShareCorrupted',
        });
      throw e;
    }
  }

  /**
   * Checks the share against its public data: ids and threshold are consistent, `x_i·G` equals
   * this party's verification share, and all verification shares lie on one polynomial of
   * degree t−1 whose value at zero is the group key. Throws `InputError`.
   */
  validate(): void {
    const g = groupOfScheme(this.scheme);
    const { parties, threshold: t } = this;
    const bad = (why: string): never => {
      throw new InputError(`invalid key share: ${why}`, { check: 'ShareInvalid' });
    };
    if (!Number.isInteger(t) || t < 2 || t > parties.length || parties.length > 255)
      bad('threshold');
    for (let k = 0; k < parties.length; k++) {
      const id = parties[k] as number;
      if (
        !Number.isInteger(id) ||
        id < 1 ||
        id > 255 ||
        (k > 0 && id <= (parties[k - 1] as number))
      ) {
        bad('party ids must be ascending integers in 1..255');
      }
    }
    if (!parties.includes(this.partyId)) bad('partyId is not among the parties');
    const pw = pairwiseOf.get(this) as Map<PartyId, PairwiseSetup>;
    const peers = parties.filter((p) => p !== this.partyId);
    if (
      this.scheme === 'ecdsa'
        ? pw.size !== peers.length || peers.some((p) => !pw.has(p))
        : pw.size !== 0
    ) {
      bad(
        this.scheme === 'ecdsa'
          ? 'an ecdsa share needs one pairwise setup per other party'
          : 'unexpected pairwise data'
      );
    }
    for (const b of this.bannedPeers) if (!peers.includes(b)) bad('a banned peer is not a party');
    if (
      this.path.length > MAX_DEPTH ||
      this.path.some((i) => !Number.isInteger(i) || i < 0 || i >= HARDENED)
    )
      bad('the derivation path must be non-hardened and at most 255 deep');
    if (this.#vshares.length !== parties.length) bad('one verification share per party');
    const X = this.#vshares.map((b, k) => g.decodePoint(b, `verificationShares[${k}]`));
    const mine = X[parties.indexOf(this.partyId)] as GroupPoint;
    if (!g.base(shareSecret(this)).equals(mine))
      bad('the secret share does not match its verification share');
    const base = parties.slice(0, t);
    const firstT = X.slice(0, t);
    if (!ctEqual(g.encodePoint(interpolatePoints(g, base, firstT)), this.groupKey)) {
      bad('verification shares do not interpolate to the group key');
    }
    for (let k = t; k < parties.length; k++) {
      if (!interpolatePoints(g, base, firstT, parties[k]).equals(X[k] as GroupPoint)) {
        bad('verification shares are not of degree t-1');
      }
    }
  }

  /** Public fields only; the secret share is never serialised to JSON. */
  toJSON(): Record<string, unknown> {
    return {
      scheme: this.scheme,
      partyId: this.partyId,
      threshold: this.threshold,
      parties: this.parties,
      keyId: bytesToHex(this.keyId),
      epoch: bytesToHex(this.epoch),
      path: pathToString(this.path),
      generation: this.generation,
      publicKey: bytesToHex(this.publicKey),
    };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyShare(${this.scheme} party ${this.partyId} of ${this.parties.length}, t=${this.threshold}, key ${bytesToHex(this.keyId).slice(0, 16)}…, secret redacted)`;
  }
}

/** `m/i_1/…/i_d` for a derivation path (`m` for the root). */
export const pathToString = (path: readonly number[]): string => ['m', ...path].join('/');

/** @internal The secret share of a `KeyShare` (protocol code only; not exported from the package). */
export function shareSecret(share: KeyShare): bigint {
  const s = secrets.get(share);
  if (s === undefined) throw new InputError('not a KeyShare');
  return s;
}

/** @internal The DKLs23 pairwise setup with `peer` (ecdsa keys). */
export function pairwiseSetup(share: KeyShare, peer: PartyId): PairwiseSetup {
  const p = pairwiseOf.get(share)?.get(peer);
  if (!p) throw new InputError(`no pairwise setup with party ${peer}`);
  return p;
}

/** @internal Records a ban on the pair with `peer` (persist the share afterwards). */
export function banPeer(share: KeyShare, peer: PartyId): void {
  (bansOf.get(share) as Set<PartyId>).add(peer);
}

function copyPairwise(p: PairwiseSetup): PairwiseSetup {
  return {
    peer: p.peer,
    zeroSeed: copyBytes(p.zeroSeed),
    sender: {
      setupId: copyBytes(p.sender.setupId),
      delta: copyBytes(p.sender.delta),
      seeds: copyBytes(p.sender.seeds),
    },
    receiver: { setupId: copyBytes(p.receiver.setupId), seeds: copyBytes(p.receiver.seeds) },
  };
}

/** 1 when the 32-byte seed at `off` is all zeros, else 0, in time independent of its bytes. */
function isZeroSeed(seeds: Uint8Array, off: number): number {
  let acc = 0;
  for (let k = 0; k < SEED_BYTES; k++) acc |= seeds[off + k] as number;
  return ((acc - 1) >>> 31) & 1;
}

/**
 * The structural checks of stored OT state (ecdsa): per pair, the sender's punctured leaves
 * (index Δ_ν) are empty and every other leaf is not, every receiver leaf is not, and the
 * zero-sharing seed and setup ids are set. Δ and the seeds are secret: no branch or index
 * depends on them, one verdict per pair. Throws `InputError` (`ShareCorrupted`).
 */
export function checkSeeds(share: KeyShare): void {
  if (share.scheme !== 'ecdsa') return;
  for (const pw of (pairwiseOf.get(share) as Map<PartyId, PairwiseSetup>).values()) {
    let bad = isZeroSeed(pw.zeroSeed, 0) | isZeroSeed(pw.sender.setupId, 0);
    bad |=
      isZeroSeed(pw.receiver.setupId, 0) | Number(ctEqual(pw.sender.setupId, pw.receiver.setupId));
    for (let nu = 0; nu < OTE_BLOCKS; nu++) {
      const d = pw.sender.delta[nu] as number;
      for (let y = 0; y < OTE_LEAVES; y++) {
        const off = seedOffset(nu, y);
        const punctured = (((y ^ d) - 1) >>> 31) & 1;
        bad |= isZeroSeed(pw.sender.seeds, off) ^ punctured;
        bad |= isZeroSeed(pw.receiver.seeds, off);
      }
    }
    if (bad)
      throw new InputError(`the key share's OT state with party ${pw.peer} is damaged`, {
        check: 'ShareCorrupted',
        hints: ['restore the share from its sealed store or a backup; the peer is not at fault'],
      });
  }
}

const publicDigests = new WeakMap<KeyShare, Uint8Array>();

/**
 * `H256("share/public", …)` of a share's public identity: scheme, key id, epoch, generation,
 * party, derivation path, (derived) group key and this party's verification share. Two shares
 * with the same digest are the same holder's share of the same (child) key.
 */
export function sharePublicDigest(share: KeyShare): Uint8Array {
  let d = publicDigests.get(share);
  if (!d) {
    d = H256(
      'share/public',
      utf8ToBytes(share.scheme),
      share.keyId,
      share.epoch,
      u32be(share.generation),
      u32be(share.partyId),
      list(share.path.map(u32be)),
      share.groupKey,
      share.verificationShare(share.partyId)
    );
    publicDigests.set(share, d);
  }
  return d;
}

function encodePairwise(p: PairwiseSetup): Uint8Array {
  return enc(
    u32be(p.peer),
    p.zeroSeed,
    p.sender.setupId,
    p.sender.delta,
    p.sender.seeds,
    p.receiver.setupId,
    p.receiver.seeds
  );
}

function decodePairwiseList(field: Uint8Array): PairwiseSetup[] {
  const out: PairwiseSetup[] = [];
  let off = 0;
  while (off < field.length) {
    if (field.length - off < 4) throw new DecodeError('MalformedMessage', 'pairwise: truncated');
    const len = readU32be(field, off);
    const item = field.subarray(off + 4, off + 4 + len);
    if (item.length !== len) throw new DecodeError('MalformedMessage', 'pairwise: truncated');
    off += 4 + len;
    const [peer, zeroSeed, sid, delta, sseeds, rid, rseeds] = decodeFields(item, 7, 'pairwise');
    const d = fixedBytes(delta, OTE_BLOCKS, 'delta');
    if (d.some((v) => v >= OTE_LEAVES))
      throw new DecodeError('MalformedMessage', 'pairwise: delta out of range');
    out.push({
      peer: readU32be(fixedBytes(peer, 4, 'peer')),
      zeroSeed: copyBytes(fixedBytes(zeroSeed, 32, 'zeroSeed')),
      sender: {
        setupId: copyBytes(fixedBytes(sid, 32, 'setupId')),
        delta: copyBytes(d),
        seeds: copyBytes(fixedBytes(sseeds, SEEDS_BYTES, 'seeds')),
      },
      receiver: {
        setupId: copyBytes(fixedBytes(rid, 32, 'setupId')),
        seeds: copyBytes(fixedBytes(rseeds, SEEDS_BYTES, 'seeds')),
      },
    });
  }
  return out;
}

function decodeBanned(field: Uint8Array): PartyId[] {
  const n = field.length >= 4 ? readU32be(field) : -1;
  const ids = decodeList(field, 4, n, 'banned').map((b) => readU32be(b));
  if (ids.some((id, k) => k > 0 && id <= (ids[k - 1] as number)))
    throw new DecodeError('MalformedMessage', 'banned: ids must be ascending and distinct');
  return ids;
}

function decodePath(field: Uint8Array): number[] {
  const n = field.length >= 4 ? readU32be(field) : -1;
  if (n > MAX_DEPTH) throw new DecodeError('MalformedMessage', 'path: too deep');
  const path = decodeList(field, 4, n, 'path').map((b) => readU32be(b));
  if (path.some((i) => i >= HARDENED))
    throw new DecodeError('MalformedMessage', 'path: hardened index in a shared key');
  return path;
}

/** First hardened index (2^31); shared keys only derive below it. */
export const HARDENED = 0x80000000;
/** BIP-32 depth limit (one byte). */
export const MAX_DEPTH = 255;

/**
 * @internal The same holder's share of a related key (a BIP-32 child, a Taproot output key): the
 * identity of `share` (scheme, party, signer set, key id, epoch, generation) with new key
 * material. Pairwise setups are not copied; callers that keep them say so.
 */
export function withKeyMaterial(
  share: KeyShare,
  m: Pick<
    KeyShareFields,
    'chainCode' | 'groupKey' | 'verificationShares' | 'secret' | 'path' | 'banned'
  >
): KeyShare {
  return new KeyShare({
    scheme: share.scheme,
    partyId: share.partyId,
    threshold: share.threshold,
    parties: [...share.parties],
    keyId: share.keyId,
    epoch: share.epoch,
    generation: share.generation,
    ...m,
  });
}

/**
 * @internal A share of a child key: every field of `share` with the secret and verification
 * shares shifted by `tweak` (`x' = x + δ`, `X' = X + δ·G`, docs/protocols/hd.md). The pairwise
 * setups and the ban list are the parent's own objects, so a ban recorded while signing under a
 * child key holds for the parent and every other child too.
 */
export function childShare(
  share: KeyShare,
  child: { tweak: bigint; groupKey: Uint8Array; chainCode: Uint8Array; path: number[] }
): KeyShare {
  const g = groupOfScheme(share.scheme);
  const shift = g.base(child.tweak);
  const derived = withKeyMaterial(share, {
    chainCode: child.chainCode,
    groupKey: child.groupKey,
    verificationShares: share.parties.map((id) =>
      g.encodePoint(g.decodeOwn(share.verificationShare(id)).add(shift))
    ),
    secret: g.mod(shareSecret(share) + child.tweak),
    path: child.path,
  });
  pairwiseOf.set(derived, pairwiseOf.get(share) as Map<PartyId, PairwiseSetup>);
  bansOf.set(derived, bansOf.get(share) as Set<PartyId>);
  return derived;
}
