/**
 * AWS Nitro Enclave attestation, checked on the client's side (docs/attestation.md). The verifier
 * is loaded on first use: its X.509 and CBOR code would otherwise be a third of every app's SDK.
 * @module
 */
import type { AttestationPolicy, AttestationResult } from './policy.ts';

export { AWS_NITRO_ROOT_SHA256 } from './aws-root.ts';
export { AttestationError, type AttestationErrorCode } from './errors.ts';
export { type AttestationPolicy, type AttestationResult, PINNABLE_PCRS } from './policy.ts';

/**
 * Verifies a Nitro attestation document (COSE_Sign1 bytes, tagged or not) under `policy`:
 * strict decoding and the AWS field rules, the chain to the pinned AWS root valid at
 * `policy.now`, the ES384 signature, then the pinned PCRs, nonce, `user_data` and age. Resolves
 * with the document's contents; rejects with an `AttestationError` naming what failed.
 */
export async function verifyAttestation(
  document: Uint8Array,
  policy: AttestationPolicy
): Promise<AttestationResult> {
  const verifier = await import('./verify.ts');
  return verifier.verifyAttestation(document, policy);
}
