/**
 * What a signing payload means: the bytes the parties sign and the parsed fields a policy checks.
 * The server computes this itself from the typed payload (never trusting a client's digest for a
 * transaction; docs/security.md ), and the client computes the same to check what the
 * server asks it to sign. Hashing and parsing come from viem and noble; none is written here.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  type Hex,
  hashMessage,
  hashTypedData,
  parseTransaction,
  serializeTransaction,
  type TypedDataDefinition,
} from 'viem';
import { PayloadError } from './payload-error.ts';
import type { SignPayload } from './schemas.ts';
import { checkTypedData, hasStandardDomainType } from './typed-data.ts';

export { PayloadError, PayloadTooComplex } from './payload-error.ts';

export type SchemeName = 'ecdsa' | 'ed25519' | 'bip340';

/** The bytes to sign and what a policy needs to know about them. */
export interface SigningInput {
  /** ECDSA: the 32-byte digest. Ed25519 / BIP-340: the message bytes. */
  bytes: Uint8Array;
  /** True when the server cannot know what the bytes authorise (raw digests, unprefixed ECDSA messages). */
  blind: boolean;
  /**
   * BIP-341: both parties sign with their shares tweaked to the Taproot output key (merkle root
   * absent: key path only). Set only for `taproot` payloads of bip340 keys.
   */
  taproot?: { merkleRoot?: Uint8Array };
  /** Parsed fields of a transaction or typed data, for policy and the audit log. */
  chainId?: number;
  to?: string;
  value?: bigint;
  /**
   * Typed data: whether the domain is hashed under the `EIP712Domain` type viem builds from the
   * domain's fields (`standard`), or under one the request defined otherwise (`custom`), which may
   * leave out or rename `chainId`.
   */
  domainType?: 'standard' | 'custom';
}

const fail = (why: string): never => {
  throw new PayloadError(why);
};

/**
 * Refuses a payload whose hashing would cost more than the limits allow (`PayloadTooComplex`,
 * typed data past `TYPED_DATA_LIMITS`), in time linear in its size, hashing nothing.
 * `signingInput` checks the same first.
 */
export function checkPayloadBounds(payload: SignPayload): void {
  if (payload.kind === 'eip712') checkTypedData(payload.typedData);
}

/** The largest chain id read: a uint256 needs 78 decimal digits, a longer string is no chain id. */
const CHAIN_ID_CHARS = 80;

/**
 * `domain.chainId` as viem hashes it (a uint256 read with BigInt, so `"0x1"` and `1` are the same
 * chain), or undefined when absent (undefined or null: viem leaves it out of the domain type).
 */
function typedDataChainId(domain: Record<string, unknown>): number | undefined {
  const c = domain.chainId;
  if (c === undefined || c === null) return undefined;
  let n: bigint | undefined;
  try {
    if (typeof c === 'bigint') n = c;
    else if (typeof c === 'number' && Number.isSafeInteger(c)) n = BigInt(c);
    else if (typeof c === 'string' && c.length <= CHAIN_ID_CHARS) n = BigInt(c);
  } catch {}
  if (n === undefined || n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER))
    return fail('typed data: domain.chainId is not a chain id');
  return Number(n);
}

/** Computes what a payload signs under a key of `scheme`. Throws `PayloadError`. */
export function signingInput(scheme: SchemeName, payload: SignPayload): SigningInput {
  if (scheme !== 'ecdsa') {
    if (payload.kind === 'taproot') {
      if (scheme !== 'bip340') fail('"taproot" payloads are for bip340 keys');
      // A sighash commits to the whole transaction but the server cannot read it: blind.
      return {
        bytes: hexToBytes(payload.sighash),
        blind: true,
        taproot: payload.merkleRoot ? { merkleRoot: hexToBytes(payload.merkleRoot) } : {},
      };
    }
    if (payload.kind !== 'message')
      fail(`${scheme} keys sign message bytes; "${payload.kind}" payloads are for ecdsa keys`);
    return { bytes: hexToBytes((payload as { message: string }).message), blind: false };
  }
  switch (payload.kind) {
    case 'taproot':
      return fail('"taproot" payloads are for bip340 keys');
    case 'digest':
      return { bytes: hexToBytes(payload.digest), blind: true };
    case 'message': {
      // An unprefixed hash of arbitrary bytes could be a transaction's signing hash: blind.
      const m = hexToBytes(payload.message);
      return { bytes: payload.hash === 'keccak256' ? keccak_256(m) : sha256(m), blind: true };
    }
    case 'eip191':
      return {
        bytes: hexToBytes(hashMessage({ raw: `0x${payload.message}` }).slice(2)),
        blind: false,
      };
    case 'eip712': {
      const td = payload.typedData;
      checkTypedData(td);
      const chainId = typedDataChainId(td.domain);
      let digest: Hex;
      try {
        digest = hashTypedData(td as unknown as TypedDataDefinition);
      } catch (e) {
        return fail(`typed data: ${(e as Error).message.split('\n')[0]}`);
      }
      return {
        bytes: hexToBytes(digest.slice(2)),
        blind: false,
        domainType: hasStandardDomainType(td) ? 'standard' : 'custom',
        ...(chainId !== undefined ? { chainId } : {}),
      };
    }
    case 'eip1559':
    case 'eip2930':
    case 'legacy': {
      const hex = `0x${payload.transaction}` as Hex;
      let tx: ReturnType<typeof parseTransaction>;
      try {
        tx = parseTransaction(hex);
      } catch (e) {
        return fail(`transaction: ${(e as Error).message.split('\n')[0]}`);
      }
      if (tx.type !== payload.kind)
        fail(`transaction: expected an ${payload.kind} transaction, got ${tx.type}`);
      if (tx.r !== undefined || tx.s !== undefined || tx.yParity !== undefined)
        fail('transaction: must be unsigned');
      // Legacy: only the EIP-155 form, whose signature cannot be replayed on another chain.
      if (tx.chainId === undefined) fail('transaction: chainId is required');
      // Only the canonical encoding is signed, so what the policy read is what the chain sees.
      if (serializeTransaction(tx) !== hex) fail('transaction: not canonically encoded');
      const out: SigningInput = {
        bytes: keccak_256(hexToBytes(payload.transaction)),
        blind: false,
        chainId: tx.chainId as number,
        value: tx.value ?? 0n,
      };
      if (tx.to) out.to = tx.to.toLowerCase();
      return out;
    }
  }
}

/** A short, secret-free description of a signing input for the audit log. */
export function describeInput(input: SigningInput): Record<string, string | number> {
  const d: Record<string, string | number> = {
    digest: input.bytes.length === 32 ? bytesToHex(input.bytes) : bytesToHex(sha256(input.bytes)),
  };
  if (input.chainId !== undefined) d.chainId = input.chainId;
  if (input.to !== undefined) d.to = input.to;
  if (input.value !== undefined) d.value = input.value.toString();
  if (input.domainType === 'custom') d.domainType = input.domainType;
  return d;
}
