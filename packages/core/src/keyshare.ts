/**
 * `KeyShare`: one party's share of a threshold key, with a versioned byte format.
 *
 * Byte format v1: `"TSKS" ‖ enc(u32be(1), scheme, u32be(partyId), u32be(threshold),
 * list(u32be(id)…), keyId, epoch, chainCode, groupKey, list(X_id…), x_i)`. Every field is
 * validated on load, and the share must match its public verification share.
 *
 * The secret share is held in a private field: it never appears in `JSON.stringify`, in
 * logs or `util.inspect`, or in an error. Only `toBytes()` exports it.
 * @module
 */
import { bytesToHex, concatBytes, ctEqual, readU32be, u32be, utf8ToBytes } from './bytes.ts';
import { decodeFields, decodeList, decodePointList, fixedBytes } from './codec.ts';
import { DecodeError, InputError, type PartyId } from './errors.ts';
import { type Group, type GroupPoint, groupOf } from './group.ts';
import { interpolatePoints } from './math/polynomial.ts';
import { enc, list } from './transcript.ts';

/** Signature schemes. `ecdsa` is DKLs23 on secp256k1; `bip340` is FROST with BIP-340 output. */
export type Scheme = 'ecdsa' | 'ed25519' | 'bip340';

/** All schemes. */
export const SCHEMES: readonly Scheme[] = ['ecdsa', 'ed25519', 'bip340'];

/** The group a scheme works in. */
export const groupOfScheme = (scheme: Scheme): Group =>
  groupOf(scheme === 'ed25519' ? 'ed25519' : 'secp256k1');

const MAGIC = utf8ToBytes('TSKS');
const FORMAT_VERSION = 1;

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
}

const secrets = new WeakMap<KeyShare, bigint>();

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
  readonly #vshares: Uint8Array[];

  /** @internal Use `KeyShare.fromBytes` or a key-generation protocol. */
  constructor(f: KeyShareFields) {
    this.scheme = f.scheme;
    this.partyId = f.partyId;
    this.threshold = f.threshold;
    this.parties = Object.freeze([...f.parties]);
    this.keyId = f.keyId.slice();
    this.epoch = f.epoch.slice();
    this.chainCode = f.chainCode.slice();
    this.groupKey = f.groupKey.slice();
    this.#vshares = f.verificationShares.map((v) => v.slice());
    secrets.set(this, f.secret);
    Object.freeze(this);
  }

  /**
   * The public key as chains expect it: compressed SEC1 (33 bytes) for `ecdsa`, 32 bytes for
   * `ed25519`, x-only (32 bytes) for `bip340`.
   */
  get publicKey(): Uint8Array {
    return this.scheme === 'bip340' ? this.groupKey.slice(1) : this.groupKey.slice();
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
    return concatBytes(
      MAGIC,
      enc(
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
        g.encodeScalar(shareSecret(this))
      )
    );
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
      const f = decodeFields(bytes.subarray(4), 11, 'key share');
      const version = readU32be(fixedBytes(f[0] as Uint8Array, 4, 'version'));
      if (version !== FORMAT_VERSION) {
        throw new DecodeError(
          'MalformedMessage',
          `unsupported key share format version ${version}`
        );
      }
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
      });
      share.validate();
      return share;
    } catch (e) {
      if (e instanceof DecodeError)
        throw new InputError(`invalid key share: ${e.message}`, { cause: e });
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
      publicKey: bytesToHex(this.publicKey),
    };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyShare(${this.scheme} party ${this.partyId} of ${this.parties.length}, t=${this.threshold}, key ${bytesToHex(this.keyId).slice(0, 16)}…, secret redacted)`;
  }
}

/** @internal The secret share of a `KeyShare` (protocol code only; not exported from the package). */
export function shareSecret(share: KeyShare): bigint {
  const s = secrets.get(share);
  if (s === undefined) throw new InputError('not a KeyShare');
  return s;
}
