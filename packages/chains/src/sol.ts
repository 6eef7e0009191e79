/**
 * Solana: a SOL transfer signed by a FROST-Ed25519 Tessera key.
 *
 * Everything Solana-specific — addresses (base58), the transaction message, its compilation and
 * the wire format — comes from @solana/kit. The one piece kit 8 does not bundle is the System
 * Program's transfer instruction (that lives in `@solana-program/system`), so its data is
 * assembled here from kit's codecs: `u32 LE 2` (the Transfer index) then `u64 LE lamports`, with
 * the accounts `[from: writable signer, to: writable]`.
 *
 * The backend signs the compiled message bytes (payload `{ kind: 'message' }`): a co-signing
 * server receives the whole transaction but does not parse Solana messages yet, so a key's value
 * and destination policy does not apply to them (the audit log records their hash). Before a signed transaction is handed back, its signature is
 * checked with node:crypto's Ed25519 against the key's public key.
 * @module
 */
import { createPublicKey, verify } from 'node:crypto';
import {
  AccountRole,
  type Address,
  appendTransactionMessageInstruction,
  assertIsTransactionWithinSizeLimit,
  type Base64EncodedWireTransaction,
  compileTransaction,
  createTransactionMessage,
  getAddressDecoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getStructEncoder,
  getU32Encoder,
  getU64Encoder,
  type Instruction,
  isAddress,
  isBlockhash,
  isLamports,
  pipe,
  type Signature,
  type SignatureBytes,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Transaction,
  blockhash as toBlockhash,
} from '@solana/kit';
import type { SigningBackend } from './backend.ts';
import { ChainError } from './errors.ts';

/** The System Program's address. */
export const SYSTEM_PROGRAM_ADDRESS = '11111111111111111111111111111111' as Address;

/** Lamports in one SOL. */
export const LAMPORTS_PER_SOL = 1_000_000_000n;

/** The System Program's `Transfer` instruction index. */
const SYSTEM_TRANSFER_INDEX = 2;

/** A SOL transfer from `from` (also the fee payer) to `to`. */
export interface SolanaTransferParams {
  /** Base58 address of the sender and fee payer. */
  from: string;
  /** Base58 address of the recipient. */
  to: string;
  /** Amount in lamports (1 SOL = 10⁹ lamports); a u64. */
  lamports: bigint;
  /** Base58 recent blockhash (the transaction's lifetime). */
  recentBlockhash: string;
}

/** `signSolanaTransfer`'s parameters: `from` defaults to the key's address and must equal it. */
export type SolanaSignTransferParams = Omit<SolanaTransferParams, 'from'> & { from?: string };

/** A signed SOL transfer. */
export interface SignedSolanaTransfer {
  /** The 64-byte Ed25519 signature over `messageBytes`. */
  signature: Uint8Array;
  /** The signed transaction in wire format, base64 (for `sendTransaction`, encoding base64). */
  transaction: Base64EncodedWireTransaction;
  /** The compiled transaction message the key signed. */
  messageBytes: Uint8Array;
  /** The transaction id: the signature in base58. */
  txid: Signature;
  /** The sender's (fee payer's) address. */
  from: Address;
}

/** The base58 Solana address of a 32-byte Ed25519 public key. */
export function solanaAddress(publicKey: Uint8Array): Address {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new ChainError(
      'INVALID_PARAMS',
      `a Solana address is a 32-byte Ed25519 public key, got ${publicKey?.length ?? 0} bytes`
    );
  return getAddressDecoder().decode(publicKey);
}

/** Checks the caller's input and gives it kit's types. */
function checkTransfer(p: SolanaTransferParams) {
  if (typeof p.from !== 'string' || !isAddress(p.from))
    throw new ChainError('INVALID_PARAMS', 'from: not a base58 Solana address');
  if (typeof p.to !== 'string' || !isAddress(p.to))
    throw new ChainError('INVALID_PARAMS', 'to: not a base58 Solana address');
  if (typeof p.lamports !== 'bigint' || !isLamports(p.lamports) || p.lamports === 0n)
    throw new ChainError('INVALID_PARAMS', 'lamports: a bigint in 1..2^64-1');
  if (typeof p.recentBlockhash !== 'string' || !isBlockhash(p.recentBlockhash))
    throw new ChainError('INVALID_PARAMS', 'recentBlockhash: not a base58 32-byte blockhash');
  return {
    from: p.from,
    to: p.to,
    lamports: p.lamports,
    blockhash: toBlockhash(p.recentBlockhash),
  };
}

/** The System Program transfer instruction (kit 8 does not bundle the System Program client). */
function transferInstruction(from: Address, to: Address, lamports: bigint): Instruction {
  const data = getStructEncoder([
    ['instruction', getU32Encoder()],
    ['lamports', getU64Encoder()],
  ]).encode({ instruction: SYSTEM_TRANSFER_INDEX, lamports });
  return {
    programAddress: SYSTEM_PROGRAM_ADDRESS,
    accounts: [
      { address: from, role: AccountRole.WRITABLE_SIGNER },
      { address: to, role: AccountRole.WRITABLE },
    ],
    data,
  };
}

/** The unsigned transaction (v0 message, no lookup tables): message bytes and an empty signature slot. */
function buildTransferTransaction(params: SolanaTransferParams): Transaction {
  const p = checkTransfer(params);
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(p.from, m),
    // lastValidBlockHeight is kit-side bookkeeping only: it never enters the message bytes.
    (m) =>
      setTransactionMessageLifetimeUsingBlockhash(
        { blockhash: p.blockhash, lastValidBlockHeight: 0n },
        m
      ),
    (m) => appendTransactionMessageInstruction(transferInstruction(p.from, p.to, p.lamports), m)
  );
  const tx = compileTransaction(message);
  assertIsTransactionWithinSizeLimit(tx);
  return tx;
}

/** The compiled transaction message of a SOL transfer: the bytes its sender signs. */
export function buildTransferMessage(params: SolanaTransferParams): Uint8Array {
  return Uint8Array.from(buildTransferTransaction(params).messageBytes);
}

/** Ed25519 verification by node:crypto (OpenSSL), independent of the signing code. */
function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
      format: 'jwk',
    });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Signs a SOL transfer from the key's own address with an ed25519 backend and returns the signed
 * wire transaction. Throws `ChainError`: `UNSUPPORTED_SCHEME` for a non-ed25519 key,
 * `INVALID_PARAMS` for bad input (or a `from` that is not the key's address), `SIGNATURE_INVALID`
 * when the backend's signature does not verify under the key.
 */
export async function signSolanaTransfer(
  backend: SigningBackend,
  params: SolanaSignTransferParams
): Promise<SignedSolanaTransfer> {
  if (backend.scheme !== 'ed25519')
    throw new ChainError(
      'UNSUPPORTED_SCHEME',
      `Solana needs an ed25519 key; this key's scheme is ${backend.scheme}`
    );
  const from = solanaAddress(backend.publicKey);
  if (params.from !== undefined && params.from !== from)
    throw new ChainError(
      'INVALID_PARAMS',
      `from: ${params.from} is not this key's address (${from})`
    );
  const unsigned = buildTransferTransaction({ ...params, from });
  const messageBytes = Uint8Array.from(unsigned.messageBytes);

  const { signature } = await backend.sign({
    kind: 'message',
    message: Buffer.from(messageBytes).toString('hex'),
  });
  if (!verifyEd25519(backend.publicKey, messageBytes, signature))
    throw new ChainError(
      'SIGNATURE_INVALID',
      "the backend's signature does not verify under the key's public key"
    );

  const signed: Transaction = {
    ...unsigned,
    signatures: { ...unsigned.signatures, [from]: Uint8Array.from(signature) as SignatureBytes },
  };
  return {
    signature: Uint8Array.from(signature),
    transaction: getBase64EncodedWireTransaction(signed),
    messageBytes,
    txid: getSignatureFromTransaction(signed),
    from,
  };
}
