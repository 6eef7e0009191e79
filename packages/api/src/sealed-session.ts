/**
 * Sealed sessions with an attested server (docs/attestation.md, "Sealed envelopes"). The host in front of
 * an enclave terminates TLS, so TLS alone would show it every protocol message, including the
 * point-to-point bodies that carry secret shares in key generation and refresh. A client that
 * attested the server sends a fresh per-session identity with its start request; from then on
 * every envelope in either direction travels as a relay envelope of core's
 * (`sealRelayEnvelope`): sealed to the recipient (X25519, HKDF-SHA256, ChaCha20-Poly1305) and
 * signed by the sender's identity over the whole of it.
 *
 * The relay envelope's fields are filled from the session: the room is the server's session id,
 * the manifest hash binds both identities, the sid is the core session id and the round is 0 (the
 * core envelope inside carries its own round, checked by the session).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  openRelayEnvelope,
  type PartyIdentity,
  type PartyPublic,
  sealRelayEnvelope,
} from '@tessera/core';

const LABEL = utf8ToBytes('tessera/sealed-session/v1');

/** Who and what a sealed session's envelopes are bound to. */
export interface SealedSession {
  /** The server's session id (32 hex digits). */
  sessionId: string;
  /** The core session id (64 hex digits). */
  sid: string;
  server: PartyPublic;
  client: PartyPublic;
}

const context = (s: SealedSession) => ({
  roomId: hexToBytes(s.sessionId),
  manifestHash: sha256(
    concatBytes(LABEL, s.server.publicKey, s.server.x25519, s.client.publicKey, s.client.x25519)
  ),
  sid: hexToBytes(s.sid),
});

/** Seals an encoded core envelope from `me` to the other side of the session. */
export function sealSessionMessage(
  me: PartyIdentity,
  to: PartyPublic,
  s: SealedSession,
  envelope: Uint8Array
): Uint8Array {
  return sealRelayEnvelope(me, { ...context(s), round: 0, to, body: envelope });
}

/** Opens a sealed message from `from`; throws core's `MessageRejected` or `ProtocolAbort`. */
export function openSessionMessage(
  me: PartyIdentity,
  from: PartyPublic,
  s: SealedSession,
  wire: Uint8Array
): Uint8Array {
  return openRelayEnvelope(me, { ...context(s), from }, wire).body;
}

/** The 32 bytes an attested server's `user_data` holds: SHA-256(Ed25519 key ‖ X25519 key). */
export const identityDigest = (p: PartyPublic): Uint8Array =>
  sha256(concatBytes(p.publicKey, p.x25519));
