/**
 * Ethereum with a key shared with the co-signing server (RemoteBackend over the client SDK): the
 * ethers signer and the viem account sign every transaction type and typed data; the server
 * parses each transaction itself and its policy refuses a transfer above the key's limit before
 * round 1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChainError, EthereumKey, RemoteBackend } from '@tessera/chains';
import { MemoryShareStore, ServerError, type StoredKey } from '@tessera/client';
import { Transaction, verifyMessage } from 'ethers';
import { parseEther, parseGwei, verifyTypedData } from 'viem';
import { type TestServer, testServer } from '../../server/test/helpers.ts';

const to = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as const;

describe('Ethereum with a key shared with the co-signing server', () => {
  let t: TestServer;
  let key: EthereumKey;
  let keyId: string;
  let record: StoredKey;
  let share: Uint8Array;
  const store = new MemoryShareStore();

  before(async () => {
    t = await testServer({
      policy: { blindSigning: false, maxValueWei: parseEther('1').toString() },
    });
    const client = await t.client('remote-eth', { store });
    const k = await client.createKey({ scheme: 'ecdsa' });
    key = new EthereumKey(await RemoteBackend.open(client, k.keyId));
    keyId = k.keyId;
    record = await client.localKey(k.keyId);
    share = (await store.get(k.keyId, record.epoch)) as Uint8Array;
  });
  after(async () => {
    await t.close();
  });

  test('ethers signer: legacy (EIP-155), EIP-2930 and EIP-1559 transactions and a message', async () => {
    const signer = key.toEthersSigner();
    const base = { to, value: 1000n, nonce: 4, gasLimit: 21_000n };
    for (const tx of [
      { ...base, type: 0, chainId: 56, gasPrice: parseGwei('5') },
      { ...base, type: 1, chainId: 1, gasPrice: parseGwei('5'), accessList: [] },
      { ...base, type: 2, chainId: 10, maxFeePerGas: parseGwei('3'), maxPriorityFeePerGas: 1n },
    ]) {
      const parsed = Transaction.from(await signer.signTransaction(tx));
      assert.equal(parsed.from, key.address, `type ${tx.type}`);
      assert.equal(parsed.type, tx.type);
      assert.equal(Number(parsed.chainId), tx.chainId);
    }
    assert.equal(verifyMessage('remote gm', await signer.signMessage('remote gm')), key.address);
  });

  test('viem account: typed data verifies with verifyTypedData', async () => {
    const typedData = {
      domain: { name: 'Remote', version: '1', chainId: 1 },
      types: { Ping: [{ name: 'n', type: 'uint256' }] },
      primaryType: 'Ping',
      message: { n: 7n },
    } as const;
    const signature = await key.toViemAccount().signTypedData(typedData);
    assert.ok(await verifyTypedData({ address: key.address, ...typedData, signature }));
  });

  test("addresses come from the client's own record; a server record that differs is refused", async () => {
    const other = new MemoryShareStore();
    const { epochs: _, ...rest } = record;
    await other.put({ ...rest, publicKey: `03${'11'.repeat(32)}` }, share);
    const client = await t.client('remote-eth', { store: other });
    await assert.rejects(
      RemoteBackend.open(client, keyId),
      (e: unknown) => e instanceof ChainError && e.code === 'KEY_MISMATCH'
    );
  });

  test("the server's policy refuses a transfer above the key's limit before round 1", async () => {
    await assert.rejects(
      key.toViemAccount().signTransaction({
        type: 'eip1559',
        chainId: 1,
        to,
        value: parseEther('2'),
        gas: 21_000n,
        maxFeePerGas: 1n,
        maxPriorityFeePerGas: 1n,
      }),
      (e: unknown) => e instanceof ServerError && e.code === 'POLICY_DENIED'
    );
  });
});
