/**
 * Room manifests and the two signed messages of the relay (login, manifest): strict parsing and
 * Ed25519 checks. The relay verifies who created a room and who logs in; it never opens an
 * envelope.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { RelayError } from './errors.ts';

export const LOGIN_TAG = 'tessera-relay-login/v1';
export const MANIFEST_TAG = 'tessera-relay-manifest/v1';

export interface ManifestMember {
  publicKey: string;
  x25519: string;
  role: string;
  name?: string;
}

export interface Manifest {
  v: 1;
  roomId: string;
  protocol: string;
  members: ManifestMember[];
  expiresAt: number;
  maxBytes: number;
}

const HEX32 = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9a-f]{32}$/;

/** The bytes an identity signs to log in at the relay of `origin`. */
export function loginMessage(origin: string, challenge: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes(LOGIN_TAG), utf8ToBytes(origin), challenge);
}

/** The bytes a room's creator signs. */
export function manifestMessage(manifest: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes(MANIFEST_TAG), manifest);
}

export function manifestHash(manifest: Uint8Array): string {
  return bytesToHex(sha256(manifest));
}

/** Strict RFC 8032 verification (no ZIP-215 leniency); false on any malformed input. */
export function verifyEd25519(signatureHex: string, message: Uint8Array, publicKeyHex: string) {
  try {
    return ed25519.verify(hexToBytes(signatureHex), message, hexToBytes(publicKeyHex), {
      zip215: false,
    });
  } catch {
    return false;
  }
}

const bad = (why: string) => new RelayError('BAD_MANIFEST', `bad manifest: ${why}`);

function exactKeys(
  o: Record<string, unknown>,
  required: string[],
  optional: string[],
  what: string
) {
  for (const k of required) if (!Object.hasOwn(o, k)) throw bad(`${what} lacks ${k}`);
  for (const k of Object.keys(o))
    if (!required.includes(k) && !optional.includes(k)) throw bad(`${what} has an unknown field`);
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

const shortString = (x: unknown, max: number, what: string): string => {
  if (typeof x !== 'string' || x.length < 1 || x.length > max)
    throw bad(`${what} must be a string of 1..${max} characters`);
  return x;
};

/**
 * The manifest's bytes parsed strictly: UTF-8 JSON with exactly the known fields, lowercase hex of
 * the right lengths, no member twice; `maxMembers` gives TOO_MANY_MEMBERS.
 */
export function parseManifest(bytes: Uint8Array, maxMembers: number): Manifest {
  let text: string;
  let raw: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    raw = JSON.parse(text);
  } catch {
    throw bad('not UTF-8 JSON');
  }
  if (!isObject(raw)) throw bad('not a JSON object');
  exactKeys(raw, ['v', 'roomId', 'protocol', 'members', 'expiresAt', 'maxBytes'], [], 'manifest');
  if (raw.v !== 1) throw bad('v must be 1');
  if (typeof raw.roomId !== 'string' || !HEX16.test(raw.roomId))
    throw bad('roomId must be 32 lowercase hex digits');
  const protocol = shortString(raw.protocol, 64, 'protocol');
  if (!Array.isArray(raw.members) || raw.members.length === 0) throw bad('members must be a list');
  if (raw.members.length > maxMembers)
    throw new RelayError('TOO_MANY_MEMBERS', `a room has at most ${maxMembers} members`);
  const seen = new Set<string>();
  const members = raw.members.map((m): ManifestMember => {
    if (!isObject(m)) throw bad('a member is not an object');
    exactKeys(m, ['publicKey', 'x25519', 'role'], ['name'], 'a member');
    if (typeof m.publicKey !== 'string' || !HEX32.test(m.publicKey))
      throw bad('publicKey must be 64 lowercase hex digits');
    if (typeof m.x25519 !== 'string' || !HEX32.test(m.x25519))
      throw bad('x25519 must be 64 lowercase hex digits');
    if (seen.has(m.publicKey)) throw bad('a publicKey appears twice');
    seen.add(m.publicKey);
    return {
      publicKey: m.publicKey,
      x25519: m.x25519,
      role: shortString(m.role, 32, 'role'),
      ...(m.name === undefined ? {} : { name: shortString(m.name, 64, 'name') }),
    };
  });
  if (!Number.isSafeInteger(raw.expiresAt) || (raw.expiresAt as number) <= 0)
    throw bad('expiresAt must be a time in milliseconds');
  if (!Number.isSafeInteger(raw.maxBytes) || (raw.maxBytes as number) <= 0)
    throw bad('maxBytes must be a positive integer');
  return {
    v: 1,
    roomId: raw.roomId,
    protocol,
    members,
    expiresAt: raw.expiresAt as number,
    maxBytes: raw.maxBytes as number,
  };
}
