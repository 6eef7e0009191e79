/**
 * Ethereum with a local key (all shares in this process): viem account and ethers signer sign
 * every transaction type, EIP-191 and EIP-712; the libraries' own verifiers accept the results;
 * derived addresses match @scure/bip32 + viem from the xpub; a high-s or wrong-v signature never
 * leaves the adapter.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HDKey } from '@scure/bip32';
import type { SignPayload } from '@tessera/api';
import {
  ChainError,
  EthereumKey,
  LocalBackend,
  type RawSignature,
  type SigningBackend,
} from '@tessera/chains';
import { deriveChild, type KeyShare } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import {
  verifyMessage as ethersVerifyMessage,
  verifyTypedData as ethersVerifyTypedData,
  Transaction,
} from 'ethers';
import {
  bytesToHex,
  type Hex,
  parseEther,
  parseGwei,
  recoverTransactionAddress,
  verifyMessage,
  verifyTypedData,
} from 'viem';
import { publicKeyToAddress } from 'viem/accounts';

const typedData = {
  domain: {
    name: 'Tessera Mail',
    version: '1',
    chainId: 1,
    verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC',
  },
  types: {
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
      { name: 'amount', type: 'uint256' },
    ],
  },
  primaryType: 'Mail',
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
    amount: 123456789012345678901234567890n,
  },
} as const;

const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as const;
const transactions = {
  eip1559: {
    type: 'eip1559',
    chainId: 1,
    nonce: 3,
    to,
    value: parseEther('0.5'),
    gas: 21_000n,
    maxFeePerGas: parseGwei('30'),
    maxPriorityFeePerGas: parseGwei('1'),
  },
  eip2930: {
    type: 'eip2930',
    chainId: 5,
    nonce: 1,
    to,
    value: 1n,
    gas: 30_000n,
    gasPrice: parseGwei('20'),
    accessList: [{ address: to, storageKeys: [`0x${'00'.repeat(31)}01` as Hex] }],
  },
  legacy: {
    type: 'legacy',
    chainId: 137,
    nonce: 0,
    to,
    value: 42n,
    gas: 21_000n,
    gasPrice: parseGwei('50'),
  },
} as const;

/** A backend that returns what a cheating or broken signer would. */
class Tampering implements SigningBackend {
  readonly scheme = 'ecdsa' as const;
  readonly publicKey: Uint8Array;
  constructor(
    readonly inner: SigningBackend,
    readonly tamper: (s: RawSignature) => RawSignature
  ) {
    this.publicKey = inner.publicKey;
  }
  async sign(p: SignPayload): Promise<RawSignature> {
    return this.tamper(await this.inner.sign(p));
  }
}

describe('Ethereum with a local 2-of-3 key', () => {
  let shares: KeyShare[];
  let key: EthereumKey;
  before(async () => {
    shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 3 });
    key = new EthereumKey(new LocalBackend([shares[0], shares[2]] as KeyShare[]));
  });

  test('the address is the public key’s, as viem computes it', () => {
    const pk = secp256k1.Point.fromBytes(shares[0]?.groupKey as Uint8Array).toBytes(false);
    assert.equal(key.address, publicKeyToAddress(bytesToHex(pk)));
  });

  test('viem account: EIP-191 verifies with viem and ethers', async () => {
    const account = key.toViemAccount();
    const sig = await account.signMessage({ message: 'hello tessera' });
    assert.equal(sig.length, 2 + 130, '65 bytes');
    assert.ok(
      await verifyMessage({ address: key.address, message: 'hello tessera', signature: sig })
    );
    assert.equal(ethersVerifyMessage('hello tessera', sig), key.address);
    const raw = await account.signMessage({ message: { raw: new Uint8Array([0, 1, 2, 255]) } });
    assert.ok(
      await verifyMessage({
        address: key.address,
        message: { raw: new Uint8Array([0, 1, 2, 255]) },
        signature: raw,
      })
    );
  });

  test('viem account: EIP-712 verifies with viem’s verifyTypedData and ethers', async () => {
    const sig = await key.toViemAccount().signTypedData(typedData);
    assert.ok(await verifyTypedData({ address: key.address, ...typedData, signature: sig }));
    const { EIP712Domain: _, ...types } = { ...typedData.types, EIP712Domain: null };
    assert.equal(
      ethersVerifyTypedData(typedData.domain, types as never, typedData.message, sig),
      key.address
    );
  });

  for (const [kind, tx] of Object.entries(transactions))
    test(`viem account: a signed ${kind} transaction recovers to the key (viem and ethers)`, async () => {
      const signed = await key.toViemAccount().signTransaction(tx);
      assert.equal(
        await recoverTransactionAddress({ serializedTransaction: signed as never }),
        key.address
      );
      const parsed = Transaction.from(signed);
      assert.equal(parsed.from, key.address);
      assert.equal(Number(parsed.chainId), tx.chainId, 'EIP-155 chain id kept');
      assert.ok(BigInt(parsed.signature?.s ?? 0) <= secp256k1.Point.CURVE().n / 2n, 'low s');
    });

  test('ethers signer: message, typed data and transaction', async () => {
    const signer = key.toEthersSigner();
    assert.equal(await signer.getAddress(), key.address);
    const m = await signer.signMessage('gm');
    assert.equal(ethersVerifyMessage('gm', m), key.address);
    const { Person, Mail } = typedData.types;
    const t = await signer.signTypedData(
      typedData.domain,
      { Person: [...Person], Mail: [...Mail] },
      typedData.message
    );
    assert.equal(
      ethersVerifyTypedData(
        typedData.domain,
        { Person: [...Person], Mail: [...Mail] },
        typedData.message,
        t
      ),
      key.address
    );
    const signed = await signer.signTransaction({
      type: 2,
      chainId: 10,
      nonce: 7,
      to,
      value: 1000n,
      gasLimit: 21_000n,
      maxFeePerGas: 2_000_000_000n,
      maxPriorityFeePerGas: 1_000_000n,
    });
    const parsed = Transaction.from(signed);
    assert.equal(parsed.from, key.address);
    assert.equal(parsed.to, to);
    await assert.rejects(
      signer.signTransaction({
        type: 2,
        chainId: 1,
        from: to,
        to,
        nonce: 0,
        gasLimit: 21_000n,
        maxFeePerGas: 1n,
        maxPriorityFeePerGas: 1n,
      }),
      (e: unknown) => e instanceof ChainError && e.code === 'INVALID_PARAMS'
    );
  });

  test('derived addresses match @scure/bip32 + viem from the xpub', async () => {
    const first = shares[0] as KeyShare;
    const xpub = new HDKey({ publicKey: first.groupKey, chainCode: first.chainCode });
    for (const path of ['m/0', 'm/0/7', 'm/44/60/0/0/3']) {
      const child = new EthereumKey(
        new LocalBackend([
          deriveChild(shares[1] as KeyShare, path),
          deriveChild(shares[2] as KeyShare, path),
        ])
      );
      const expected = publicKeyToAddress(
        bytesToHex(
          secp256k1.Point.fromBytes(xpub.derive(path).publicKey as Uint8Array).toBytes(false)
        )
      );
      assert.equal(child.address, expected, path);
    }
    const child = new EthereumKey(
      new LocalBackend([
        deriveChild(shares[0] as KeyShare, 'm/0/7'),
        deriveChild(shares[1] as KeyShare, 'm/0/7'),
      ])
    );
    const sig = await child.signMessage('derived');
    assert.equal(ethersVerifyMessage('derived', sig), child.address);
  });

  test('a high-s or wrong-v signature never leaves the adapter', async () => {
    const inner = new LocalBackend([shares[0], shares[1]] as KeyShare[]);
    const n = secp256k1.Point.CURVE().n;
    const highS = new EthereumKey(
      new Tampering(inner, (r) => {
        const sig = secp256k1.Signature.fromBytes(r.signature, 'compact');
        const flipped = new secp256k1.Signature(sig.r, n - sig.s).toBytes('compact');
        return { signature: flipped, recovery: (1 - (r.recovery ?? 0)) as 0 | 1 };
      })
    );
    const wrongV = new EthereumKey(
      new Tampering(inner, (r) => ({
        signature: r.signature,
        recovery: (1 - (r.recovery ?? 0)) as 0 | 1,
      }))
    );
    const otherKey = new EthereumKey(
      new Tampering(inner, (r) => ({
        ...r,
        signature: r.signature.map((b, i) => (i === 40 ? b ^ 1 : b)),
      }))
    );
    for (const [name, k] of [
      ['high s', highS],
      ['wrong v', wrongV],
      ['changed s', otherKey],
    ] as const) {
      await assert.rejects(
        k.signMessage('x'),
        (e: unknown) => e instanceof ChainError && e.code === 'SIGNATURE_INVALID',
        name
      );
      await assert.rejects(
        k.signTransaction(transactions.eip1559),
        (e: unknown) => e instanceof ChainError && e.code === 'SIGNATURE_INVALID',
        name
      );
    }
  });

  test('an ed25519 key is refused', async () => {
    const ed = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    assert.throws(
      () => new EthereumKey(new LocalBackend(ed)),
      (e: unknown) => e instanceof ChainError && e.code === 'UNSUPPORTED_SCHEME'
    );
  });
});
