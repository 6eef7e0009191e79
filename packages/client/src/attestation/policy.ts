/**
 * What a caller of `verifyAttestation` asks for and gets back (docs/attestation.md). Apart from
 * the verifier itself so that importing these costs nothing: the verifier, with its X.509 and
 * CBOR code, loads on first use.
 * @module
 */

/** The PCRs a policy may pin: the image (0), kernel (1), application (2), IAM role (3), instance (4), signing certificate (8). */
export const PINNABLE_PCRS: readonly number[] = [0, 1, 2, 3, 4, 8];

export interface AttestationPolicy {
  /** The verification time (ms since the epoch, or a Date): certificates must be valid then. */
  now: number | Date;
  /** The nonce the verifier sent (hex or bytes): the document must carry exactly it. */
  nonce?: string | Uint8Array;
  /** PCR index → expected value (hex or bytes), indexes from `PINNABLE_PCRS`. */
  pcrs?: Readonly<Record<number, string | Uint8Array>>;
  /** The expected `user_data` (hex or bytes): for a Tessera server, SHA-256 of its identity key. */
  userData?: string | Uint8Array;
  /** Refuse a document older than this many ms at `now`. One dated more than a minute after `now` is always refused. */
  maxAgeMs?: number;
  /** Another trusted root (DER). Tests use their own CA; production keeps the AWS root. */
  root?: Uint8Array;
  /** Reuse a chain whose signatures were checked before (default true). Dates are always checked. */
  cache?: boolean;
}

/** A verified document's contents, hex-encoded; `null` for an absent optional field. */
export interface AttestationResult {
  valid: true;
  moduleId: string;
  timestamp: number;
  pcrs: Record<string, string>;
  userData: string | null;
  nonce: string | null;
  publicKey: string | null;
}
