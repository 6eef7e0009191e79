/**
 * Relay envelopes (docs/protocols/relay.md): what devices and server participants send each
 * other through a relay (or directly on a LAN). The relay can drop, delay or reorder envelopes,
 * but it can neither read a body (point-to-point or broadcast) nor change any byte unnoticed.
 *
 * - `header = enc("tessera/relay-envelope/v1", roomId, manifestHash, sid, u32be(round),
 *   sender Ed25519 ‖ sender X25519, list(recipient Ed25519 ‖ X25519), list(ephemeral X25519))`
 * - per recipient `j`: a fresh ephemeral `e_j`, `k_j = HKDF-SHA256(ikm = X25519(e_j, X_j),
 *   salt = E_j ‖ X_j, info = label ‖ "/seal", 32)`;
 * - point-to-point (one recipient): `ct = ChaCha20-Poly1305(k_1, nonce 0, aad = header)(body)`,
 *   no wrapped keys;
 * - broadcast (two or more): a random content key `c`; `ct = ChaCha20-Poly1305(c, nonce 0,
 *   aad = header)(body)` and `wrap_j = ChaCha20-Poly1305(k_j, nonce 0, aad = header)(c)`, so
 *   the relay learns no plaintext of a broadcast either;
 * - `wire = enc(header, list(wrap_j), ct, Ed25519_sender(enc(label ‖ "/sig", header,
 *   list(wrap_j), ct)))`.
 *
 * Every key is used for one encryption only (fresh ephemeral, fresh content key), so the zero
 * nonce is safe and each message stands alone: loss and reordering never desynchronise a
 * channel. Replays across rooms, manifests, sessions and rounds fail the header checks; a replay
 * of the same envelope within one round is the session layer's to drop (`Duplicate`).
 * @module
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, ctEqual, readU32be, u32be, utf8ToBytes, wipe } from './bytes.ts';
import { InputError, MessageRejected, type PartyId, ProtocolAbort } from './errors.ts';
import { type Rng, systemRng } from './rng.ts';
import { enc, H256, list, TAGS } from './transcript.ts';

const LABEL = utf8ToBytes('tessera/relay-envelope/v1');
const SEAL_INFO = utf8ToBytes('tessera/relay-envelope/v1/seal');
const SIG_LABEL = utf8ToBytes('tessera/relay-envelope/v1/sig');
const ZERO_NONCE = new Uint8Array(12);
const TAG = 16;

/** The largest body an envelope carries (256 KiB). */
export const RELAY_MAX_BODY = 256 * 1024;
/** The most recipients one broadcast names. */
export const RELAY_MAX_RECIPIENTS = 255;
/** The longest session id. */
export const RELAY_MAX_SID = 256;

/** A party's public identity: an Ed25519 signing key and a separate X25519 key. */
export interface PartyPublic {
  /** Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** X25519 public key, 32 bytes. */
  readonly x25519: Uint8Array;
}

/** A party's identity with its secret halves. Keep it in the platform's key store. */
export interface PartyIdentity {
  readonly public: PartyPublic;
  /** Ed25519 secret key (seed), 32 bytes. */
  readonly signingKey: Uint8Array;
  /** X25519 secret key, 32 bytes. */
  readonly x25519Secret: Uint8Array;
}

/** A new identity from the platform CSPRNG (two independent keys). */
export function newPartyIdentity(opts: { rng?: Rng } = {}): PartyIdentity {
  const rng = opts.rng ?? systemRng;
  const signingKey = rng(32);
  const x25519Secret = rng(32);
  return {
    public: {
      publicKey: ed25519.getPublicKey(signingKey),
      x25519: x25519.getPublicKey(x25519Secret),
    },
    signingKey,
    x25519Secret,
  };
}

/**
 * `hex(H256("party/fingerprint", Ed25519 key, X25519 key))`: the 64 hex digits that name a party
 * (shown to people, keyed in stores).
 */
export function fingerprint(pub: PartyPublic): string {
  return bytesToHex(H256(TAGS.partyFingerprint, pub.publicKey, pub.x25519));
}

/** The canonical 64 bytes of a party: Ed25519 key ‖ X25519 key. */
export const partyBytes = (p: PartyPublic): Uint8Array => concatBytes(p.publicKey, p.x25519);

/** Whether two party keys are the same (both halves). Public values: no secret involved. */
export const samePartyPublic = (a: PartyPublic, b: PartyPublic): boolean =>
  ctEqual(a.publicKey, b.publicKey) && ctEqual(a.x25519, b.x25519);

/**
 * Checks a party's public keys: 32-byte X25519 key, and an Ed25519 key that decodes to a point
 * of full order (no small-order key, under which any signature could verify). Throws a message.
 */
export function checkPartyPublic(p: PartyPublic): string | null {
  if (!(p.publicKey instanceof Uint8Array) || p.publicKey.length !== 32)
    return 'an Ed25519 key is not 32 bytes';
  if (!(p.x25519 instanceof Uint8Array) || p.x25519.length !== 32)
    return 'an X25519 key is not 32 bytes';
  try {
    const pt = ed25519.Point.fromBytes(p.publicKey);
    if (pt.isSmallOrder() || !pt.isTorsionFree()) return 'an Ed25519 key is of small order';
  } catch {
    return 'an Ed25519 key does not decode';
  }
  return null;
}

/** The per-recipient seal key `HKDF-SHA256(X25519(e, X), salt = E ‖ X, info = label/seal)`. */
function sealKey(shared: Uint8Array, ephemeral: Uint8Array, recipientX: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concatBytes(ephemeral, recipientX), SEAL_INFO, 32);
}

/** What `sealRelayEnvelope` sends. */
export interface SealRelayOptions {
  /** The relay room, 16 bytes. */
  roomId: Uint8Array;
  /** SHA-256 of the session's manifest (who takes part, in what), 32 bytes. */
  manifestHash: Uint8Array;
  /** The session id, 1..256 bytes. */
  sid: Uint8Array;
  /** The protocol round, a u32. */
  round: number;
  /** One recipient: point-to-point; two or more: broadcast. */
  to: PartyPublic | PartyPublic[];
  /** At most `RELAY_MAX_BODY` bytes. */
  body: Uint8Array;
}

/** What the receiver expects of an envelope. */
export interface OpenRelayOptions {
  roomId: Uint8Array;
  manifestHash: Uint8Array;
  sid: Uint8Array;
  /** The expected sender's pinned keys. */
  from: PartyPublic;
  /** When set, an envelope of another round is refused. */
  expectedRound?: number;
  /** The sender's party id in the session, put on errors as their (informational) culprit. */
  fromParty?: PartyId;
}

/** An opened envelope. */
export interface OpenedRelayEnvelope {
  round: number;
  /** True when the envelope went to two or more recipients. */
  broadcast: boolean;
  body: Uint8Array;
}

interface Header {
  roomId: Uint8Array;
  manifestHash: Uint8Array;
  sid: Uint8Array;
  round: number;
  sender: PartyPublic;
  recipients: PartyPublic[];
  ephemerals: Uint8Array[];
}

function encodeHeader(h: Header): Uint8Array {
  return enc(
    LABEL,
    h.roomId,
    h.manifestHash,
    h.sid,
    u32be(h.round),
    partyBytes(h.sender),
    list(h.recipients.map(partyBytes)),
    list(h.ephemerals)
  );
}

const sigInput = (header: Uint8Array, wraps: Uint8Array, ct: Uint8Array) =>
  enc(SIG_LABEL, header, wraps, ct);

function checkSealInput(o: SealRelayOptions, recipients: PartyPublic[], sender: PartyPublic) {
  const bad = (m: string) => new InputError(`sealRelayEnvelope: ${m}`, { check: 'RelayInput' });
  if (!(o.roomId instanceof Uint8Array) || o.roomId.length !== 16)
    throw bad('roomId must be 16 bytes');
  if (!(o.manifestHash instanceof Uint8Array) || o.manifestHash.length !== 32)
    throw bad('manifestHash must be 32 bytes');
  if (!(o.sid instanceof Uint8Array) || o.sid.length < 1 || o.sid.length > RELAY_MAX_SID)
    throw bad(`sid must be 1..${RELAY_MAX_SID} bytes`);
  if (!Number.isInteger(o.round) || o.round < 0 || o.round > 0xffffffff)
    throw bad('round must be a u32');
  if (!(o.body instanceof Uint8Array) || o.body.length > RELAY_MAX_BODY)
    throw bad(`body must be bytes, at most ${RELAY_MAX_BODY}`);
  if (recipients.length < 1 || recipients.length > RELAY_MAX_RECIPIENTS)
    throw bad(`1..${RELAY_MAX_RECIPIENTS} recipients`);
  const seen = new Set<string>();
  for (const r of recipients) {
    const why = checkPartyPublic(r);
    if (why) throw bad(`recipient: ${why}`);
    const fp = bytesToHex(partyBytes(r));
    if (seen.has(fp)) throw bad('a recipient is named twice');
    if (samePartyPublic(r, sender)) throw bad('the sender is not its own recipient');
    seen.add(fp);
  }
}

/**
 * Seals `o.body` to its recipient(s) and signs the whole envelope with the sender's identity.
 * Throws `InputError` (`RelayInput`) on bad input.
 */
export function sealRelayEnvelope(
  sender: PartyIdentity,
  o: SealRelayOptions,
  opts: { rng?: Rng } = {}
): Uint8Array {
  const rng = opts.rng ?? systemRng;
  const recipients = Array.isArray(o.to) ? o.to : [o.to];
  checkSealInput(o, recipients, sender.public);
  const secrets = recipients.map(() => rng(32));
  const ephemerals = secrets.map((s) => x25519.getPublicKey(s));
  const header = encodeHeader({
    roomId: o.roomId,
    manifestHash: o.manifestHash,
    sid: o.sid,
    round: o.round,
    sender: sender.public,
    recipients,
    ephemerals,
  });
  const keys = recipients.map((r, j) =>
    sealKey(
      x25519.getSharedSecret(secrets[j] as Uint8Array, r.x25519),
      ephemerals[j] as Uint8Array,
      r.x25519
    )
  );
  wipe(...secrets);
  let ct: Uint8Array;
  let wraps: Uint8Array[] = [];
  if (recipients.length === 1) {
    ct = chacha20poly1305(keys[0] as Uint8Array, ZERO_NONCE, header).encrypt(o.body);
  } else {
    const content = rng(32);
    ct = chacha20poly1305(content, ZERO_NONCE, header).encrypt(o.body);
    wraps = keys.map((k) => chacha20poly1305(k, ZERO_NONCE, header).encrypt(content));
    wipe(content);
  }
  wipe(...keys);
  const wrapList = list(wraps);
  const sig = ed25519.sign(sigInput(header, wrapList, ct), sender.signingKey);
  return enc(header, wrapList, ct, sig);
}

/** Strict `enc` decoding: exactly `n` fields, none longer than `max`, no trailing bytes. */
function fields(b: Uint8Array, n: number, max: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (b.length - at < 4) return null;
    const len = readU32be(b, at);
    at += 4;
    if (len > max || len > b.length - at) return null;
    out.push(b.subarray(at, at + len));
    at += len;
  }
  return at === b.length ? out : null;
}

/** A `list` of `size`-byte items with 0..max items. */
function items(b: Uint8Array, size: number, max: number): Uint8Array[] | null {
  if (b.length < 4) return null;
  const count = readU32be(b, 0);
  if (count > max || b.length !== 4 + count * size) return null;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(b.subarray(4 + i * size, 4 + (i + 1) * size));
  return out;
}

const MAX_FIELD = RELAY_MAX_BODY + 64 * 1024;

const party = (b: Uint8Array): PartyPublic => ({
  publicKey: b.subarray(0, 32),
  x25519: b.subarray(32, 64),
});

/**
 * Checks and opens an envelope from `o.from` to `me`. A failed header, addressing or signature
 * check throws `MessageRejected` (`RelayEnvelope`): the relay may have forged or replayed it, so
 * it is dropped and the sender is named for information only. A body that does not open under a
 * valid signature of the pinned sender is the sender's doing: `ProtocolAbort` (`RelaySeal`).
 */
export function openRelayEnvelope(
  me: PartyIdentity,
  o: OpenRelayOptions,
  wire: Uint8Array
): OpenedRelayEnvelope {
  const culprit = o.fromParty ?? null;
  const who = `from ${fingerprint(o.from).slice(0, 16)}`;
  const reject = (m: string) =>
    new MessageRejected('RelayEnvelope', culprit, `relay envelope ${who}: ${m}`);
  if (!(wire instanceof Uint8Array)) throw reject('not bytes');
  const outer = fields(wire, 4, MAX_FIELD);
  if (!outer) throw reject('malformed');
  const [headerBytes, wrapBytes, ct, sig] = outer as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  const hf = fields(headerBytes, 8, MAX_FIELD);
  if (!hf) throw reject('malformed header');
  const [label, roomId, manifestHash, sid, round, sender, recipientList, ephemeralList] = hf as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  if (!ctEqual(label, LABEL)) throw reject('unknown version');
  if (roomId.length !== 16 || manifestHash.length !== 32 || round.length !== 4)
    throw reject('malformed header');
  if (sid.length < 1 || sid.length > RELAY_MAX_SID || sender.length !== 64)
    throw reject('malformed header');
  const recipients = items(recipientList, 64, RELAY_MAX_RECIPIENTS);
  const ephemerals = items(ephemeralList, 32, RELAY_MAX_RECIPIENTS);
  if (
    !recipients ||
    !ephemerals ||
    recipients.length < 1 ||
    ephemerals.length !== recipients.length
  )
    throw reject('malformed recipient list');
  const broadcast = recipients.length > 1;
  const wraps = items(wrapBytes, 32 + TAG, RELAY_MAX_RECIPIENTS);
  if (!wraps || wraps.length !== (broadcast ? recipients.length : 0))
    throw reject('malformed wrapped keys');
  if (sig.length !== 64 || ct.length < TAG || ct.length > RELAY_MAX_BODY + TAG)
    throw reject('malformed');
  // Where it comes from and where it belongs (public values; order of checks is not secret).
  if (!samePartyPublic(party(sender), o.from)) throw reject('not from the expected sender');
  if (!ctEqual(roomId, o.roomId)) throw reject('of another room');
  if (!ctEqual(manifestHash, o.manifestHash)) throw reject('of another manifest');
  if (!ctEqual(sid, o.sid)) throw reject('of another session');
  const r = readU32be(round);
  if (o.expectedRound !== undefined && r !== o.expectedRound) throw reject(`of round ${r}`);
  const mine = recipients.map((b) => samePartyPublic(party(b), me.public));
  const index = mine.indexOf(true);
  if (index < 0 || mine.lastIndexOf(true) !== index) throw reject('not addressed to us');
  let valid = false;
  try {
    valid = ed25519.verify(sig, sigInput(headerBytes, wrapBytes, ct), o.from.publicKey);
  } catch {
    valid = false;
  }
  if (!valid) throw reject('the signature does not verify');
  // Signed by the pinned sender: from here every failure is the sender's.
  const seal = (m: string) =>
    new ProtocolAbort('RelaySeal', culprit, `relay envelope ${who}: ${m}`);
  const eph = ephemerals[index] as Uint8Array;
  let key: Uint8Array;
  try {
    key = sealKey(x25519.getSharedSecret(me.x25519Secret, eph), eph, me.public.x25519);
  } catch {
    throw seal('the ephemeral key is invalid');
  }
  try {
    if (!broadcast) return { round: r, broadcast, body: chacha(key, headerBytes, ct) };
    const content = chacha(key, headerBytes, wraps[index] as Uint8Array);
    try {
      return { round: r, broadcast, body: chacha(content, headerBytes, ct) };
    } finally {
      wipe(content);
    }
  } catch (e) {
    if (e instanceof ProtocolAbort) throw e;
    throw seal('the sealed body does not authenticate');
  } finally {
    wipe(key);
  }
}

function chacha(key: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  return chacha20poly1305(key, ZERO_NONCE, aad).decrypt(ct);
}
