/**
 * `verifyAttestation`: is this an AWS Nitro Enclave attestation document, signed through AWS's
 * chain, of the enclave image the caller pinned, made for the caller's nonce, vouching for the
 * server identity the caller is about to trust? The steps, in order (docs/attestation.md):
 *
 * 1. strict decoding and every AWS field rule (`document.ts`);
 * 2. the chain from the pinned AWS root through `cabundle` to the leaf (`chain.ts`), and every
 *    certificate valid at `now`, which the caller injects: a document's leaf lives about 3 hours,
 *    so a test or an audit of an old document verifies at that document's time;
 * 3. the COSE ES384 signature with the leaf's key;
 * 4. the caller's policy: pinned PCRs, nonce, `user_data`, maximum age.
 *
 * Nothing here is secret: PCRs, nonces and identity hashes are public values, compared plainly.
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { assertValidAt, awsNitroRoot, type TrustAnchor, verifyChain } from './chain.ts';
import { decodeCoseSign1, pcrsToHex, sigStructure } from './document.ts';
import { AttestationError } from './errors.ts';
import { type AttestationPolicy, type AttestationResult, PINNABLE_PCRS } from './policy.ts';

/** How far ahead of the verifier's clock a document's timestamp may be. */
const FUTURE_SKEW_MS = 60_000;

function policyBytes(v: string | Uint8Array, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(v))
    throw new AttestationError('ATTESTATION_POLICY', `${what} must be hex or bytes`);
  return hexToBytes(v.toLowerCase());
}

function timeOf(now: number | Date): number {
  const t = now instanceof Date ? now.getTime() : now;
  if (typeof t !== 'number' || !Number.isFinite(t))
    throw new AttestationError('ATTESTATION_POLICY', 'now must be a time in ms or a Date');
  return t;
}

/** Verifies a Nitro attestation document (COSE_Sign1 bytes) under `policy`; throws `AttestationError`. */
export async function verifyAttestation(
  document: Uint8Array,
  policy: AttestationPolicy
): Promise<AttestationResult> {
  const now = timeOf(policy.now);
  const pins = policy.pcrs ?? {};
  // A Map (or anything but a plain record) would pin nothing through Object.entries.
  if (typeof pins !== 'object' || Object.getPrototypeOf(pins) !== Object.prototype)
    throw new AttestationError('ATTESTATION_POLICY', 'pcrs must be a plain object: index → value');
  const expectedPcrs = Object.entries(pins).map(([i, v]) => {
    const index = Number(i);
    if (!PINNABLE_PCRS.includes(index))
      throw new AttestationError(
        'ATTESTATION_POLICY',
        `PCR${i} cannot be pinned (pinnable: ${PINNABLE_PCRS.join(', ')})`
      );
    const value = policyBytes(v, `PCR${i}`);
    if (value.length !== 48)
      throw new AttestationError('ATTESTATION_POLICY', `PCR${i} must be 48 bytes (SHA-384)`);
    return [index, value] as const;
  });
  const nonce = policy.nonce === undefined ? undefined : policyBytes(policy.nonce, 'the nonce');
  const userData =
    policy.userData === undefined ? undefined : policyBytes(policy.userData, 'user_data');
  const root: TrustAnchor = policy.root ? { der: policy.root } : awsNitroRoot();

  const cose = decodeCoseSign1(document);
  const doc = cose.document;
  const { leafKey, validity } = await verifyChain(
    doc.cabundle,
    doc.certificate,
    root,
    policy.cache ?? true
  );
  assertValidAt(validity, now);
  // The hypervisor dates the document while its leaf is valid; any other date is not its own.
  const [leafFrom, leafTo] = validity[validity.length - 1] as [number, number];
  if (doc.timestamp < leafFrom || doc.timestamp > leafTo)
    throw new AttestationError(
      'ATTESTATION_EXPIRED',
      "the document's timestamp is outside its leaf certificate's validity"
    );
  const signed = await crypto.subtle.verify(
    { name: 'ECDSA', hash: 'SHA-384' },
    leafKey,
    new Uint8Array(cose.signature),
    new Uint8Array(sigStructure(cose))
  );
  if (!signed)
    throw new AttestationError(
      'ATTESTATION_SIGNATURE',
      "the document's COSE signature does not verify with its leaf certificate's key"
    );

  for (const [index, want] of expectedPcrs) {
    const got = doc.pcrs.get(index);
    if (!got || !equalBytes(got, want))
      throw new AttestationError(
        'ATTESTATION_PCR',
        got
          ? `PCR${index} is ${bytesToHex(got).slice(0, 16)}…, not the pinned ${bytesToHex(want).slice(0, 16)}…`
          : `the document has no PCR${index}`
      );
  }
  if (nonce !== undefined && !(doc.nonce && equalBytes(doc.nonce, nonce)))
    throw new AttestationError(
      'ATTESTATION_NONCE',
      doc.nonce ? 'the document carries another nonce' : 'the document carries no nonce'
    );
  if (userData !== undefined && !(doc.userData && equalBytes(doc.userData, userData)))
    throw new AttestationError(
      'ATTESTATION_USER_DATA',
      doc.userData
        ? "the document's user_data is not the expected value"
        : 'the document carries no user_data'
    );
  if (doc.timestamp - now > FUTURE_SKEW_MS)
    throw new AttestationError('ATTESTATION_STALE', 'the document is dated in the future');
  if (policy.maxAgeMs !== undefined && now - doc.timestamp > policy.maxAgeMs)
    throw new AttestationError(
      'ATTESTATION_STALE',
      `the document is ${Math.round((now - doc.timestamp) / 1000)} s old, allowed ${Math.round(policy.maxAgeMs / 1000)} s`
    );
  return {
    valid: true,
    moduleId: doc.moduleId,
    timestamp: doc.timestamp,
    pcrs: pcrsToHex(doc.pcrs),
    userData: doc.userData ? bytesToHex(doc.userData) : null,
    nonce: doc.nonce ? bytesToHex(doc.nonce) : null,
    publicKey: doc.publicKey ? bytesToHex(doc.publicKey) : null,
  };
}
