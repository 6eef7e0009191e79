/**
 * A key's policy, checked against what a sign request would sign. Pure: the caller fetches the
 * day's signature count (only when the policy has a daily limit), audits the refusal and throws.
 * @module
 */
import type { Policy, SigningInput } from '@tessera/api';

/** The transaction payload kinds: parsed and hashed on a worker, and checked alike here. */
export const TRANSACTION_KINDS: ReadonlySet<string> = new Set(['eip1559', 'eip2930', 'legacy']);

/** Why `policy` refuses to sign `input` (a payload of `kind`), or null when it allows it. */
export function policyRefusal(
  policy: Policy,
  input: SigningInput,
  kind: string,
  /** Signatures of the key started in the last 24 hours (read only with a daily limit). */
  signedToday: number
): string | null {
  const p = policy;
  if (input.blind && !p.blindSigning)
    return `"${kind}" payloads are blind signing, which this key does not allow; send a typed payload`;
  if (p.allowedChainIds && kind === 'eip712') {
    // The chain checked must be the chain signed (docs/security.md A-69): a domain without chainId
    // is valid on every chain, and a domain type of the request's own may leave chainId out or
    // rename it.
    if (input.domainType !== 'standard')
      return 'typed data with its own EIP712Domain type: send the standard domain type (name, version, chainId, verifyingContract, salt, as present)';
    if (input.chainId === undefined)
      return 'typed data without domain.chainId is valid on every chain';
  }
  if (
    p.allowedChainIds &&
    input.chainId !== undefined &&
    !p.allowedChainIds.includes(input.chainId)
  )
    return `chain id ${input.chainId} is not allowed`;
  // Every transaction kind (eip1559, eip2930, legacy) is checked alike.
  const transaction = TRANSACTION_KINDS.has(kind);
  if (p.allowedChainIds && transaction && input.chainId === undefined)
    return 'the chain id is missing';
  if (p.allowedDestinations && transaction) {
    const allowed = p.allowedDestinations.map((a) => a.toLowerCase());
    if (!input.to || !allowed.includes(input.to))
      return `destination ${input.to ?? '(contract creation)'} is not allowed`;
  }
  if (
    p.maxValueWei !== undefined &&
    input.value !== undefined &&
    input.value > BigInt(p.maxValueWei)
  )
    return `value ${input.value} wei is above the limit of ${p.maxValueWei}`;
  if (p.dailyLimit !== undefined && signedToday >= p.dailyLimit)
    return `the daily limit of ${p.dailyLimit} signatures is reached`;
  return null;
}
