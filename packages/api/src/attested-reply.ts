/**
 * The server's signature on its session replies, which binds a session to an attested enclave.
 *
 * An enclave's parent host terminates TLS, so TLS proves nothing about who answers. The enclave's
 * attestation document carries `user_data = identityDigest(identity)`; the server signs every
 * `SessionStarted` and `StepReply` with that identity's Ed25519 key, so a client that verified
 * the attestation accepts only replies made inside the attested enclave (docs/attestation.md).
 *
 * The signed bytes are a domain label, the kind of reply (`started` or `step`, so that one cannot
 * stand for the other), and the reply as canonical JSON (keys sorted, no spaces, `serverSignature`
 * left out), which the server and the client compute from the same JSON value whatever order the
 * fields were serialised in. The server signs the JSON value it sends (the parsed text), so what
 * JSON would not carry (`undefined`, a `toJSON`) cannot make the two differ.
 * @module
 */

const LABEL = 'tessera/attested-reply/v1\n';

/** JSON with object keys sorted at every level: one text for one JSON value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A session start's reply, or a step's. */
export type AttestedReplyKind = 'started' | 'step';

/** The bytes the server's identity key signs for a session reply. */
export function attestedReplyMessage(kind: AttestedReplyKind, reply: object): Uint8Array {
  const { serverSignature: _, ...rest } = reply as { serverSignature?: unknown };
  return new TextEncoder().encode(`${LABEL}${kind}\n${canonicalJson(rest)}`);
}
