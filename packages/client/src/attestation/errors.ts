/**
 * Why an attestation document was refused. One code per kind of failure, so a caller (or a
 * monitoring rule) can tell a stale document from a forged one without reading messages.
 *
 * | code                     | meaning                                                                  |
 * |--------------------------|--------------------------------------------------------------------------|
 * | `ATTESTATION_FORMAT`     | not a well-formed COSE_Sign1 Nitro document (CBOR, COSE or an AWS field rule) |
 * | `ATTESTATION_SIGNATURE`  | the COSE signature does not verify with the leaf certificate's key       |
 * | `ATTESTATION_CHAIN`      | the certificates do not chain to the pinned AWS root, or break a CA rule |
 * | `ATTESTATION_EXPIRED`    | a certificate of the chain is not valid at the verification time        |
 * | `ATTESTATION_PCR`        | a pinned PCR is missing or differs                                       |
 * | `ATTESTATION_NONCE`      | the document's nonce is missing or not the one the verifier sent         |
 * | `ATTESTATION_USER_DATA`  | `user_data` is missing or not the expected value (the server's identity) |
 * | `ATTESTATION_STALE`      | the document is older than the allowed age, or dated in the future       |
 * | `ATTESTATION_ROOT`       | the AWS root this code carries does not match its pinned fingerprint     |
 * | `ATTESTATION_POLICY`     | the verification options themselves are wrong (a PCR index, a length)   |
 * @module
 */
import { TesseraError } from '@tessera/core';

export type AttestationErrorCode =
  | 'ATTESTATION_FORMAT'
  | 'ATTESTATION_SIGNATURE'
  | 'ATTESTATION_CHAIN'
  | 'ATTESTATION_EXPIRED'
  | 'ATTESTATION_PCR'
  | 'ATTESTATION_NONCE'
  | 'ATTESTATION_USER_DATA'
  | 'ATTESTATION_STALE'
  | 'ATTESTATION_ROOT'
  | 'ATTESTATION_POLICY';

export class AttestationError extends TesseraError {
  override name = 'AttestationError';
  declare readonly code: AttestationErrorCode;
  constructor(code: AttestationErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? {} : { cause: opts.cause });
  }
}
