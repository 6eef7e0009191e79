/**
 * Solana: a SOL transfer signed by a 2-of-3 FROST-Ed25519 key, checked by node:crypto and by
 * @solana/kit's own verifier and decoders; wrong signatures and wrong keys are refused.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  AccountRole,
  type Address,
  address,
  appendTransactionMessageInstruction,
  compileTransactionMessage,
  createTransactionMessage,
  getAddressDecoder,
  getBase58Decoder,
  getBase64Encoder,
  getCompiledTransactionMessageDecoder,
  getCompiledTransactionMessageEncoder,
  getPublicKeyFromAddress,
  getStructDecoder,
  getTransactionDecoder,
  getU32Decoder,
  getU64Decoder,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  signatureBytes,
  blockhash as toBlockhash,
  verifySignature,
} from '@solana/kit';
import type { SignPayload } from '@tessera/api';
import type { KeyShare } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import { LocalBackend, type SigningBackend } from '../src/backend.ts';
import { ChainError } from '../src/errors.ts';
import {
  buildTransferMessage,
  LAMPORTS_PER_SOL,
  SYSTEM_PROGRAM_ADDRESS,
  signSolanaTransfer,
  solanaAddress,
} from '../src/sol.ts';

const BLOCKHASH = 'EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N';
const HALF_SOL = LAMPORTS_PER_SOL / 2n;

const randomAddress = (): Address => getAddressDecoder().decode(randomBytes(32));

function nodeVerify(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, message, key, sig);
}

/** A backend with the key's public key that answers with whatever `sign` returns. */
function fakeBackend(
  scheme: SigningBackend['scheme'],
  publicKey: Uint8Array,
  sign: (p: SignPayload) => Promise<{ signature: Uint8Array }>
): SigningBackend {
  return { scheme, publicKey, sign };
}

async function expectChainError(p: Promise<unknown>, code: ChainError['code']): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ChainError, `expected ChainError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

describe('solana', () => {
  let shares: KeyShare[];
  let publicKey: Uint8Array;

  before(async () => {
    shares = await simulate.keygen('ed25519', { threshold: 2, parties: 3 });
    publicKey = shares[0]!.publicKey;
    assert.equal(publicKey.length, 32);
  });

  const quorum = (ids: number[]) => shares.filter((s) => ids.includes(s.partyId));

  for (const ids of [
    [1, 3],
    [2, 3],
  ]) {
    test(`a 0.5 SOL transfer signed by parties ${ids.join(',')} verifies and decodes`, async () => {
      const backend = new LocalBackend(quorum(ids));
      const from = solanaAddress(publicKey);
      const to = randomAddress();
      const signed = await signSolanaTransfer(backend, {
        to,
        lamports: HALF_SOL,
        recentBlockhash: BLOCKHASH,
      });

      // (d) The fee payer is the key's address.
      assert.equal(signed.from, from);
      assert.equal(signed.signature.length, 64);
      assert.deepEqual(
        signed.messageBytes,
        buildTransferMessage({ from, to, lamports: HALF_SOL, recentBlockhash: BLOCKHASH })
      );

      // (a) node:crypto (OpenSSL) verifies the signature over the message bytes.
      assert.ok(nodeVerify(publicKey, signed.messageBytes, signed.signature));

      // (b) kit's own verifier (WebCrypto Ed25519; kit asserts the capability itself), with the
      // CryptoKey kit derives from the address.
      const cryptoKey = await getPublicKeyFromAddress(from);
      assert.ok(
        await verifySignature(cryptoKey, signatureBytes(signed.signature), signed.messageBytes)
      );
      const tampered = signed.messageBytes.slice();
      tampered[tampered.length - 1]! ^= 1;
      assert.equal(
        await verifySignature(cryptoKey, signatureBytes(signed.signature), tampered),
        false
      );

      // (c) The wire transaction decodes with kit back to what we asked for.
      const wire = getBase64Encoder().encode(signed.transaction);
      const tx = getTransactionDecoder().decode(wire);
      assert.deepEqual(Uint8Array.from(tx.messageBytes), signed.messageBytes);
      assert.deepEqual(Object.keys(tx.signatures), [from]);
      assert.deepEqual(Uint8Array.from(tx.signatures[from]!), signed.signature);
      assert.equal(signed.txid, getBase58Decoder().decode(signed.signature));

      const msg = getCompiledTransactionMessageDecoder().decode(tx.messageBytes);
      assert.equal(msg.version, 0);
      assert.equal(msg.header.numSignerAccounts, 1);
      assert.equal(msg.header.numReadonlySignerAccounts, 0);
      assert.equal(msg.header.numReadonlyNonSignerAccounts, 1); // the System Program
      assert.equal(msg.staticAccounts[0], from); // fee payer, the only signer
      assert.equal(msg.staticAccounts[1], to);
      assert.equal(msg.staticAccounts[2], SYSTEM_PROGRAM_ADDRESS);
      assert.equal(msg.lifetimeToken, BLOCKHASH);
      assert.equal(msg.instructions.length, 1);
      const ix = msg.instructions[0]!;
      assert.equal(msg.staticAccounts[ix.programAddressIndex], SYSTEM_PROGRAM_ADDRESS);
      assert.deepEqual(ix.accountIndices, [0, 1]);
      const data = getStructDecoder([
        ['instruction', getU32Decoder()],
        ['lamports', getU64Decoder()],
      ]).decode(ix.data!);
      assert.deepEqual(data, { instruction: 2, lamports: HALF_SOL });
      assert.equal(ix.data!.length, 12);
    });
  }

  test('buildTransferMessage is the v0 message kit compiles from an independent transfer', () => {
    const from = solanaAddress(publicKey);
    const to = randomAddress();
    // The System Program Transfer data, written out independently of sol.ts: u32 LE 2, u64 LE
    // lamports. 1 SOL = 10^9 = 0x3b9aca00.
    const data = Buffer.alloc(12);
    data.writeUInt32LE(2, 0);
    data.writeBigUInt64LE(LAMPORTS_PER_SOL, 4);
    assert.equal(data.toString('hex'), '0200000000ca9a3b00000000');
    const expected = getCompiledTransactionMessageEncoder().encode(
      compileTransactionMessage(
        pipe(
          createTransactionMessage({ version: 0 }),
          (m) => setTransactionMessageFeePayer(from, m),
          (m) =>
            setTransactionMessageLifetimeUsingBlockhash(
              { blockhash: toBlockhash(BLOCKHASH), lastValidBlockHeight: 0n },
              m
            ),
          (m) =>
            appendTransactionMessageInstruction(
              {
                programAddress: address('11111111111111111111111111111111'),
                accounts: [
                  { address: from, role: AccountRole.WRITABLE_SIGNER },
                  { address: to, role: AccountRole.WRITABLE },
                ],
                data: new Uint8Array(data),
              },
              m
            )
        )
      )
    );
    assert.deepEqual(
      buildTransferMessage({ from, to, lamports: LAMPORTS_PER_SOL, recentBlockhash: BLOCKHASH }),
      Uint8Array.from(expected)
    );
  });

  test('(e) a backend returning a wrong signature is refused', async () => {
    const honest = new LocalBackend(quorum([1, 2]));
    // A flipped bit in a real signature.
    await expectChainError(
      signSolanaTransfer(
        fakeBackend('ed25519', publicKey, async (p) => {
          const { signature } = await honest.sign(p);
          const bad = signature.slice();
          bad[5]! ^= 0x01;
          return { signature: bad };
        }),
        { to: randomAddress(), lamports: HALF_SOL, recentBlockhash: BLOCKHASH }
      ),
      'SIGNATURE_INVALID'
    );
    // Zeros, a short signature.
    for (const signature of [new Uint8Array(64), new Uint8Array(63)]) {
      await expectChainError(
        signSolanaTransfer(
          fakeBackend('ed25519', publicKey, async () => ({ signature })),
          { to: randomAddress(), lamports: HALF_SOL, recentBlockhash: BLOCKHASH }
        ),
        'SIGNATURE_INVALID'
      );
    }
    // A valid signature, but by another key.
    const other = await simulate.keygen('ed25519', { threshold: 2, parties: 2 });
    const otherBackend = new LocalBackend(other);
    await expectChainError(
      signSolanaTransfer(
        fakeBackend('ed25519', publicKey, (p) => otherBackend.sign(p)),
        { to: randomAddress(), lamports: HALF_SOL, recentBlockhash: BLOCKHASH }
      ),
      'SIGNATURE_INVALID'
    );
  });

  test('the backend is asked for the message bytes, as a message payload', async () => {
    const honest = new LocalBackend(quorum([1, 2]));
    let seen: SignPayload | undefined;
    const signed = await signSolanaTransfer(
      fakeBackend('ed25519', publicKey, (p) => {
        seen = p;
        return honest.sign(p);
      }),
      { to: randomAddress(), lamports: 1n, recentBlockhash: BLOCKHASH }
    );
    assert.deepEqual(seen, {
      kind: 'message',
      message: Buffer.from(signed.messageBytes).toString('hex'),
    });
  });

  test('non-ed25519 backends are refused before anything is signed', async () => {
    for (const scheme of ['ecdsa', 'bip340'] as const) {
      let asked = false;
      await expectChainError(
        signSolanaTransfer(
          fakeBackend(scheme, new Uint8Array(scheme === 'ecdsa' ? 33 : 32), async () => {
            asked = true;
            return { signature: new Uint8Array(64) };
          }),
          { to: randomAddress(), lamports: 1n, recentBlockhash: BLOCKHASH }
        ),
        'UNSUPPORTED_SCHEME'
      );
      assert.equal(asked, false);
    }
  });

  test('bad input is refused', async () => {
    const backend = new LocalBackend(quorum([1, 2]));
    const from = solanaAddress(publicKey);
    const ok = { from, to: randomAddress(), lamports: 1n, recentBlockhash: BLOCKHASH };
    for (const bad of [
      { ...ok, to: 'not-an-address' },
      { ...ok, from: '0x1234' },
      { ...ok, lamports: 0n },
      { ...ok, lamports: -1n },
      { ...ok, lamports: 2n ** 64n },
      { ...ok, lamports: 5 as unknown as bigint },
      { ...ok, recentBlockhash: 'abc' },
    ]) {
      assert.throws(
        () => buildTransferMessage(bad),
        (e: unknown) => e instanceof ChainError && e.code === 'INVALID_PARAMS'
      );
    }
    // `from` must be the key's own address.
    await expectChainError(
      signSolanaTransfer(backend, { ...ok, from: randomAddress() }),
      'INVALID_PARAMS'
    );
    assert.throws(() => solanaAddress(new Uint8Array(33)), ChainError);
  });
});
