/**
 * Node-to-node envelopes (docs/topologies.md, "Node envelopes"). In the 2-of-3 topology the two
 * nodes never connect to each other: what one node sends the other travels through the client.
 * The client must neither read a point-to-point message nor change any message, so every
 * envelope a node sends the other is signed by the sender's identity key over its whole header
 * and body, and a point-to-point one is sealed to the recipient's X25519 key first:
 *
 * - `header = frame("tessera/node-envelope/v1", sid, proto, u32 round, u32 from, u32 to,
 *   sender fingerprint, recipient fingerprint, ephemeral X25519 public key or empty)`
 * - point-to-point: `body = ChaCha20-Poly1305(k, nonce 0, plaintext = core envelope, aad = header)`
 *   with `k = HKDF-SHA256(ikm = X25519(e, X_recipient), salt = E ‖ X_recipient, info = label)`,
 *   `e` fresh per envelope (so the all-zero nonce is used once per key); broadcast: `body` is the
 *   core envelope in clear (the client must read the other node's broadcasts too).
 * - `wire = frame(header, body, Ed25519_sender(frame(header, body)))`
 *
 * The receiver checks every header field against its session and the sender's pinned identity,
 * the signature, the seal, and that the core envelope inside repeats the header. Any failure is
 * the relaying client's doing (only it handled the bytes), so `NodeEnvelopeRejected` names it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { decodeEnvelope, type Envelope } from '@tessera/core';
import type { NodeIdentityPublic } from '../store/store.ts';
import type { NodeIdentity } from './identity.ts';

const LABEL = utf8ToBytes('tessera/node-envelope/v1');
const ZERO_NONCE = new Uint8Array(12);
/** The most a relayed envelope may hold (the largest core envelope is ~33 KiB). */
const MAX_FIELD = 256 * 1024;

/** A relayed envelope failed a check: the client that relayed it is the culprit. */
export class NodeEnvelopeRejected extends Error {
  override name = 'NodeEnvelopeRejected';
}

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const readU32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);

/** Length-prefixed fields (u32 big-endian lengths): one field, one parse. */
function frame(fields: Uint8Array[]): Uint8Array {
  return concatBytes(...fields.flatMap((f) => [u32(f.length), f]));
}

function unframe(b: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 4 > b.length) throw new NodeEnvelopeRejected('node envelope: truncated');
    const len = readU32(b.subarray(at, at + 4));
    at += 4;
    if (len > MAX_FIELD || at + len > b.length)
      throw new NodeEnvelopeRejected('node envelope: a field overruns the envelope');
    out.push(b.subarray(at, at + len));
    at += len;
  }
  if (at !== b.length) throw new NodeEnvelopeRejected('node envelope: trailing bytes');
  return out;
}

interface Header {
  sid: string;
  proto: string;
  round: number;
  from: number;
  to: number;
  sender: string;
  recipient: string;
  ephemeral: Uint8Array;
}

function encodeHeader(h: Header): Uint8Array {
  return frame([
    LABEL,
    hexToBytes(h.sid),
    utf8ToBytes(h.proto),
    u32(h.round),
    u32(h.from),
    u32(h.to),
    hexToBytes(h.sender),
    hexToBytes(h.recipient),
    h.ephemeral,
  ]);
}

function decodeHeader(b: Uint8Array): Header {
  const [label, sid, proto, round, from, to, sender, recipient, ephemeral] = unframe(b, 9) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  if (bytesToHex(label) !== bytesToHex(LABEL))
    throw new NodeEnvelopeRejected('node envelope: unknown version');
  if (sid.length !== 32 || sender.length !== 32 || recipient.length !== 32)
    throw new NodeEnvelopeRejected('node envelope: malformed header');
  if (round.length !== 4 || from.length !== 4 || to.length !== 4)
    throw new NodeEnvelopeRejected('node envelope: malformed header');
  let protoName: string;
  try {
    protoName = new TextDecoder('utf-8', { fatal: true }).decode(proto);
  } catch {
    throw new NodeEnvelopeRejected('node envelope: the protocol name is not UTF-8');
  }
  return {
    sid: bytesToHex(sid),
    proto: protoName,
    round: readU32(round),
    from: readU32(from),
    to: readU32(to),
    sender: bytesToHex(sender),
    recipient: bytesToHex(recipient),
    ephemeral,
  };
}

function sealKey(shared: Uint8Array, ephemeral: Uint8Array, recipientX: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concatBytes(ephemeral, recipientX), LABEL, 32);
}

/** Seals (point-to-point) or signs (broadcast) one core envelope for the peer node. */
export function sealNodeEnvelope(
  me: NodeIdentity,
  peer: NodeIdentityPublic,
  coreEnvelope: Uint8Array
): Uint8Array {
  const e = decodeEnvelope(coreEnvelope);
  const recipientX = hexToBytes(peer.x25519);
  let ephemeral = new Uint8Array(0);
  let body = coreEnvelope;
  let esk: Uint8Array | null = null;
  if (e.to !== 0) {
    esk = new Uint8Array(randomBytes(32));
    ephemeral = x25519.getPublicKey(esk);
  }
  const header = encodeHeader({
    sid: e.sid,
    proto: e.proto,
    round: e.round,
    from: e.from,
    to: e.to,
    sender: me.public.fingerprint,
    recipient: peer.fingerprint,
    ephemeral,
  });
  if (esk) {
    const key = sealKey(x25519.getSharedSecret(esk, recipientX), ephemeral, recipientX);
    body = chacha20poly1305(key, ZERO_NONCE, header).encrypt(coreEnvelope);
    key.fill(0);
    esk.fill(0);
  }
  const signed = frame([header, body]);
  return frame([header, body, me.sign(signed)]);
}

/** What a session expects of the envelopes the client relays to it. */
export interface RelayExpectation {
  sid: string;
  proto: string;
  /** The peer node's party id in the key. */
  peerParty: number;
  peer: NodeIdentityPublic;
}

/**
 * Checks and opens a relayed envelope: the core envelope inside, whose header is the outer
 * header. Throws `NodeEnvelopeRejected` on any failure.
 */
export function openNodeEnvelope(
  me: NodeIdentity,
  expect: RelayExpectation,
  wire: Uint8Array
): Envelope {
  const [headerBytes, body, sig] = unframe(wire, 3) as [Uint8Array, Uint8Array, Uint8Array];
  const h = decodeHeader(headerBytes);
  if (h.sender !== expect.peer.fingerprint || h.from !== expect.peerParty)
    throw new NodeEnvelopeRejected('node envelope: not from the peer node of this key');
  if (h.recipient !== me.public.fingerprint || (h.to !== 0 && h.to !== me.party))
    throw new NodeEnvelopeRejected('node envelope: not addressed to this node');
  if (h.sid !== expect.sid || h.proto !== expect.proto)
    throw new NodeEnvelopeRejected('node envelope: not of this session');
  let valid = false;
  try {
    valid = ed25519.verify(sig, frame([headerBytes, body]), hexToBytes(expect.peer.ed25519));
  } catch {
    valid = false;
  }
  if (!valid) throw new NodeEnvelopeRejected('node envelope: the signature does not verify');
  let plain = body;
  if (h.to !== 0) {
    if (h.ephemeral.length !== 32)
      throw new NodeEnvelopeRejected('node envelope: a sealed envelope needs an ephemeral key');
    const recipientX = hexToBytes(me.public.x25519);
    let key: Uint8Array;
    try {
      key = sealKey(me.agree(h.ephemeral), h.ephemeral, recipientX);
    } catch {
      throw new NodeEnvelopeRejected('node envelope: the ephemeral key is invalid');
    }
    try {
      plain = chacha20poly1305(key, ZERO_NONCE, headerBytes).decrypt(body);
    } catch {
      throw new NodeEnvelopeRejected('node envelope: the sealed body fails authentication');
    } finally {
      key.fill(0);
    }
  } else if (h.ephemeral.length !== 0) {
    throw new NodeEnvelopeRejected('node envelope: a broadcast carries no ephemeral key');
  }
  let e: Envelope;
  try {
    e = decodeEnvelope(plain);
  } catch (err) {
    throw new NodeEnvelopeRejected(`node envelope: ${(err as Error).message}`);
  }
  if (
    e.sid !== h.sid ||
    e.proto !== h.proto ||
    e.round !== h.round ||
    e.from !== h.from ||
    e.to !== h.to
  )
    throw new NodeEnvelopeRejected('node envelope: the core envelope does not match its header');
  return e;
}
