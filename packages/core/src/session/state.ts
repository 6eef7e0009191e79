/**
 * Serialisation of session state. Sessions are plain data (objects, arrays, strings, numbers,
 * booleans, null, bigint and Uint8Array), so a server can persist them between rounds. The format
 * is JSON with two tagged forms: `{"$b": hex}` for bytes and `{"$n": hex}` for bigints, behind a
 * magic/version prefix.
 *
 * Session bytes contain secrets (shares, nonces): store them sealed.
 * @module
 */
import { bytesToHex, hexToBytes, utf8ToBytes } from '../bytes.ts';
import { InputError } from '../errors.ts';

const MAGIC = 'tessera-session/1\n';

function toPlain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $b: bytesToHex(v) };
  if (typeof v === 'bigint') return { $n: v.toString(16) };
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toPlain(x);
    return out;
  }
  if (typeof v === 'number' && !Number.isFinite(v))
    throw new InputError('session: non-finite number');
  return v;
}

function fromPlain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.$b === 'string') return hexToBytes(o.$b);
    if (keys.length === 1 && typeof o.$n === 'string') return BigInt(`0x${o.$n}`);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromPlain(o[k]);
    return out;
  }
  return v;
}

/** Serialises plain session data to bytes (ASCII: non-ASCII text is \u-escaped). */
export function encodeState(value: unknown): Uint8Array {
  const json = JSON.stringify(toPlain(value)).replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  );
  return utf8ToBytes(MAGIC + json);
}

/** The WHATWG decoder of every target runtime (browsers, Node); core builds without DOM typings. */
declare const TextDecoder: new (label: 'utf-8') => { decode(b: Uint8Array): string };
const ASCII = new TextDecoder('utf-8');

/** Parses bytes written by `encodeState`. */
export function decodeState(bytes: Uint8Array): unknown {
  // ASCII by construction (encodeState escapes everything else), so UTF-8 decoding is exact.
  const s = ASCII.decode(bytes);
  if (!s.startsWith(MAGIC)) throw new InputError('session bytes: unknown format or version');
  try {
    return fromPlain(JSON.parse(s.slice(MAGIC.length)));
  } catch (e) {
    throw new InputError('session bytes: corrupt', { cause: e });
  }
}

/**
 * Best-effort erasure of a session state (docs/protocols/common.md, "Single use and erasure"):
 * zero-fills every byte array it reaches and replaces every bigint with 0n, in place. JS cannot
 * erase copies the engine made, nor the strings of an encoded session; this removes what the state
 * itself still holds. A state must own its arrays: one shared with a key share or a result would be
 * zeroed too.
 */
export function wipeState(value: unknown, seen: WeakSet<object> = new WeakSet()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Uint8Array) {
    value.fill(0);
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] === 'bigint') value[i] = 0n;
      else wipeState(value[i], seen);
    }
    return;
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (typeof o[k] === 'bigint') o[k] = 0n;
    else wipeState(o[k], seen);
  }
}
