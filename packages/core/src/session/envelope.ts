/**
 * The envelope: everything on the wire (architecture.md, "The core contract").
 *
 * Wire form: `enc(u32be(v), proto, sid, u32be(round), u32be(from), u32be(to), body)` with `sid`
 * as its 32 raw bytes. Transports must authenticate `from` and encrypt p2p bodies; core checks
 * that every header field matches the receiving session.
 * @module
 */
import { bytesToHex, copyBytes, hexToBytes, readU32be, u32be, utf8ToBytes } from '../bytes.ts';
import { decodeFields } from '../codec.ts';
import { DecodeError, type PartyId } from '../errors.ts';
import { enc } from '../transcript.ts';

/** Everything on the wire. `to = 0` means broadcast. */
export interface Envelope {
  v: 1;
  /** Protocol name, e.g. `dkg`, `frost.sign`. */
  proto: string;
  /** Session id, 64 lowercase hex characters. */
  sid: string;
  round: number;
  from: PartyId;
  to: PartyId | 0;
  /** Canonical encoding of the round's payload. */
  body: Uint8Array;
}

/** One protocol step: the next session, messages to send, and the result once finished. */
export interface Step<S, R> {
  session: S;
  out: Envelope[];
  result?: R;
}

/**
 * A hook that sees every envelope in `simulate` and may return a changed copy (cheat), `null`
 * (drop) or `undefined` (pass unchanged).
 */
export type Tamper = (e: Envelope) => Envelope | null | undefined;

const SID_RE = /^[0-9a-f]{64}$/;
const PROTO_RE = /^[a-z0-9.\-/]{1,64}$/;

/** True when `s` is a well-formed session id. */
export const isSid = (s: unknown): s is string => typeof s === 'string' && SID_RE.test(s);

/** Serialises an envelope for a byte transport. */
export function encodeEnvelope(e: Envelope): Uint8Array {
  return enc(
    u32be(e.v),
    utf8ToBytes(e.proto),
    hexToBytes(e.sid),
    u32be(e.round),
    u32be(e.from),
    u32be(e.to),
    e.body
  );
}

/** Parses and validates an envelope from a byte transport. */
export function decodeEnvelope(b: Uint8Array): Envelope {
  const [v, proto, sid, round, from, to, body] = decodeFields(b, 7, 'envelope');
  const int = (f: Uint8Array, what: string, min: number, max: number) => {
    if (f.length !== 4)
      throw new DecodeError('MalformedMessage', `envelope.${what}: expected 4 bytes`);
    const n = readU32be(f);
    if (n < min || n > max)
      throw new DecodeError('MalformedMessage', `envelope.${what}: out of range`);
    return n;
  };
  if (int(v, 'v', 1, 1) !== 1)
    throw new DecodeError('MalformedMessage', 'envelope: unknown version');
  const protoStr = String.fromCharCode(...proto);
  if (!PROTO_RE.test(protoStr))
    throw new DecodeError('MalformedMessage', 'envelope.proto: invalid');
  if (sid.length !== 32)
    throw new DecodeError('MalformedMessage', 'envelope.sid: expected 32 bytes');
  return {
    v: 1,
    proto: protoStr,
    sid: bytesToHex(sid),
    round: int(round, 'round', 1, 255),
    from: int(from, 'from', 1, 255),
    to: int(to, 'to', 0, 255),
    body: copyBytes(body),
  };
}
