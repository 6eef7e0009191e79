/**
 * Ethereum: a Tessera ECDSA key as a viem account (`toAccount`) and as an ethers v6 signer
 * (`AbstractSigner`). Serialisation and hashing are the libraries' own (RLP, keccak, EIP-191,
 * EIP-712); what goes to the key is the typed payload (the unsigned transaction, the message, the
 * typed data), so a co-signing server parses and applies its policy itself. Every signature is
 * checked before it leaves: low s, and the address it recovers to is the key's; a high-s or
 * wrong-v signature is an error, never a transaction.
 * @module
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { SignPayload } from '@tessera/api';
import {
  AbstractSigner,
  Transaction as EthersTransaction,
  type Provider,
  resolveAddress,
  type TransactionLike,
  type TransactionRequest,
  type TypedDataDomain,
  TypedDataEncoder,
  type TypedDataField,
} from 'ethers';
import {
  type Address,
  bytesToHex,
  type Hex,
  hashMessage,
  hashTypedData,
  keccak256,
  type LocalAccount,
  parseTransaction,
  recoverAddress,
  type SerializeTransactionFn,
  type SignableMessage,
  serializeTransaction,
  type TransactionSerializable,
  type TypedDataDefinition,
  toHex,
} from 'viem';
import { publicKeyToAddress, toAccount } from 'viem/accounts';
import type { SigningBackend } from './backend.ts';
import { ChainError } from './errors.ts';

/** The Ethereum address of a secp256k1 public key (compressed or not), checksummed. */
export function ethereumAddress(publicKey: Uint8Array): Address {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return publicKeyToAddress(bytesToHex(uncompressed));
}

/** viem's signature shape: `v` as well as `yParity`, which legacy (EIP-155) serialisers read. */
interface EthSignature {
  r: Hex;
  s: Hex;
  yParity: 0 | 1;
  v: bigint;
}

const TX_KINDS = new Set(['eip1559', 'eip2930', 'legacy']);

/** An ECDSA Tessera key on Ethereum. */
export class EthereumKey {
  readonly address: Address;
  readonly #backend: SigningBackend;

  constructor(backend: SigningBackend) {
    if (backend.scheme !== 'ecdsa')
      throw new ChainError(
        'UNSUPPORTED_SCHEME',
        `Ethereum needs an ecdsa key, not ${backend.scheme}`
      );
    this.#backend = backend;
    this.address = ethereumAddress(backend.publicKey);
  }

  /**
   * Signs `payload`, whose hash the caller computed with the library, and checks the result
   * against that hash: low s and the key's address recovered, or `SIGNATURE_INVALID`.
   */
  async #sign(payload: SignPayload, hash: Hex): Promise<EthSignature> {
    const raw = await this.#backend.sign(payload);
    if (raw.signature.length !== 64 || (raw.recovery !== 0 && raw.recovery !== 1))
      throw new ChainError('SIGNATURE_INVALID', 'the key returned a malformed ECDSA signature');
    const parsed = secp256k1.Signature.fromBytes(raw.signature, 'compact');
    if (parsed.hasHighS())
      throw new ChainError('SIGNATURE_INVALID', 'the key returned a high-s signature');
    const sig: EthSignature = {
      r: toHex(raw.signature.subarray(0, 32)),
      s: toHex(raw.signature.subarray(32)),
      yParity: raw.recovery,
      v: 27n + BigInt(raw.recovery),
    };
    let recovered: Address | null = null;
    try {
      recovered = await recoverAddress({ hash, signature: sig });
    } catch {}
    if (recovered !== this.address)
      throw new ChainError(
        'SIGNATURE_INVALID',
        'the signature does not recover to the key address (wrong hash or wrong v)'
      );
    return sig;
  }

  /** EIP-191 `personal_sign`: 65 bytes `r ‖ s ‖ v` (v = 27 or 28). */
  async signMessage(message: SignableMessage): Promise<Hex> {
    const raw =
      typeof message === 'string'
        ? new TextEncoder().encode(message)
        : typeof message.raw === 'string'
          ? hexBytes(message.raw)
          : message.raw;
    const sig = await this.#sign(
      { kind: 'eip191', message: Buffer.from(raw).toString('hex') },
      hashMessage(message)
    );
    return joinSignature(sig);
  }

  /** EIP-712 typed data: 65 bytes `r ‖ s ‖ v`. */
  async signTypedData(typedData: TypedDataDefinition): Promise<Hex> {
    const hash = hashTypedData(typedData);
    // JSON for the wire: big integers as decimal strings, which EIP-712 hashing accepts alike.
    const plain = JSON.parse(
      JSON.stringify(typedData, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
    ) as {
      domain?: Record<string, unknown>;
      types: Record<string, unknown>;
      primaryType: string;
      message: Record<string, unknown>;
    };
    const { EIP712Domain: _domainType, ...types } = plain.types;
    const sig = await this.#sign(
      {
        kind: 'eip712',
        typedData: {
          domain: plain.domain ?? {},
          types,
          primaryType: plain.primaryType,
          message: plain.message,
        },
      },
      hash
    );
    return joinSignature(sig);
  }

  /** Signs a transaction (legacy with EIP-155, EIP-2930, EIP-1559) and returns it serialised. */
  async signTransaction(
    tx: TransactionSerializable,
    serializer: SerializeTransactionFn<TransactionSerializable> = serializeTransaction
  ): Promise<Hex> {
    const unsigned = await serializer(tx);
    const type = parseTransaction(unsigned).type ?? 'unknown';
    if (!TX_KINDS.has(type))
      throw new ChainError(
        'UNSUPPORTED_TRANSACTION',
        `transaction type ${type}: only legacy (EIP-155), eip2930 and eip1559 are signed`
      );
    const sig = await this.#sign(
      { kind: type as 'eip1559' | 'eip2930' | 'legacy', transaction: unsigned.slice(2) },
      keccak256(unsigned)
    );
    return serializer(tx, sig);
  }

  /** This key as a viem account (for wallet clients, `sendTransaction`, `signTypedData`, …). */
  toViemAccount(): LocalAccount {
    return toAccount({
      address: this.address,
      signMessage: ({ message }) => this.signMessage(message),
      signTypedData: (td) => this.signTypedData(td as TypedDataDefinition),
      signTransaction: (tx, opts) =>
        this.signTransaction(
          tx,
          opts?.serializer as SerializeTransactionFn<TransactionSerializable> | undefined
        ),
    });
  }

  /** This key as an ethers v6 signer. */
  toEthersSigner(provider: Provider | null = null): TesseraEthersSigner {
    return new TesseraEthersSigner(this, provider);
  }
}

/** An ethers v6 signer backed by a Tessera key. */
export class TesseraEthersSigner extends AbstractSigner {
  readonly key: EthereumKey;

  constructor(key: EthereumKey, provider: Provider | null = null) {
    super(provider);
    this.key = key;
  }

  async getAddress(): Promise<string> {
    return this.key.address;
  }

  connect(provider: Provider | null): TesseraEthersSigner {
    return new TesseraEthersSigner(this.key, provider);
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    // ethers resolves names and checks `from`; the unsigned form is ethers' own serialisation.
    const { to, from, ...rest } = request;
    const like: TransactionLike<string> = { ...(rest as TransactionLike<string>) };
    if (to != null) like.to = await resolveAddress(to, this.provider);
    if (from != null) {
      const f = await resolveAddress(from, this.provider);
      if (f.toLowerCase() !== this.key.address.toLowerCase())
        throw new ChainError('INVALID_PARAMS', `transaction from ${f} is not this key's address`);
    }
    const tx = EthersTransaction.from(like);
    const signed = await this.key.signTransaction(
      parseTransaction(tx.unsignedSerialized as Hex) as TransactionSerializable
    );
    return EthersTransaction.from(signed).serialized;
  }

  async signMessage(message: string | Uint8Array): Promise<string> {
    return this.key.signMessage(typeof message === 'string' ? message : { raw: message });
  }

  async signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>
  ): Promise<string> {
    const primaryType = TypedDataEncoder.getPrimaryType(types);
    return this.key.signTypedData({
      domain: domain as TypedDataDefinition['domain'],
      types,
      primaryType,
      message: value,
    } as unknown as TypedDataDefinition);
  }
}

const hexBytes = (h: Hex) => new Uint8Array(Buffer.from(h.slice(2), 'hex'));

function joinSignature(sig: EthSignature): Hex {
  return `${sig.r}${sig.s.slice(2)}${(27 + sig.yParity).toString(16)}` as Hex;
}
