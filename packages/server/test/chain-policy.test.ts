/**
 * `allowedChainIds` binds EIP-712 typed data (docs/security.md A-69): the chain the policy reads is the chain
 * that is signed. Typed data without `domain.chainId`, or with a domain type of the request's own
 * that leaves it out or renames it, is refused; so is another chain, however it is written. Every
 * refusal leaves an audit row describing the payload, never holding it (docs/security.md A-77).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { TypedDataInput } from '@tessera/api';
import type { TesseraClient } from '@tessera/client';
import { type TypedDataDefinition, verifyTypedData } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { seaportOrder } from '../../api/test/fixtures/typed-data.ts';
import { call, fresh, type TestServer, testServer } from './helpers.ts';

const field = (name: string, type: string) => ({ name, type });

/** A Seaport order with its domain changed, and its own EIP712Domain type if given. */
function order(
  domain: Record<string, unknown>,
  domainType?: { name: string; type: string }[]
): TypedDataInput {
  const td = seaportOrder();
  return {
    ...td,
    domain,
    types: domainType ? { ...td.types, EIP712Domain: domainType } : td.types,
  };
}

const CONTRACT = '0x0000000000000068F116a894984e2DB1123eB395';

describe('a key restricted to chain 1 and EIP-712', () => {
  let t: TestServer;
  let token: string;
  let c: TesseraClient;
  let key: { keyId: string; publicKey: string };
  before(async () => {
    t = await testServer({ policy: { blindSigning: false, allowedChainIds: [1] } });
    token = await t.token('carol');
    c = await t.client('carol');
    key = await c.createKey({ scheme: 'ecdsa' });
  });
  after(() => t.close());

  const sign = (typedData: TypedDataInput) =>
    call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token,
      body: { payload: { kind: 'eip712', typedData }, ...fresh() },
    });

  const refused: [string, TypedDataInput][] = [
    ['a domain without chainId', order({ name: 'Seaport', verifyingContract: CONTRACT })],
    [
      'chainId 1, and an EIP712Domain type with only the name',
      order({ name: 'Seaport', chainId: 1 }, [field('name', 'string')]),
    ],
    [
      'chainId 1 for the policy, chainID 5 under a renamed domain field',
      order({ chainId: 1, chainID: 5 }, [field('chainID', 'uint256')]),
    ],
    [
      'chainId 1 under a domain type of another order',
      order({ chainId: 1, verifyingContract: CONTRACT }, [
        field('verifyingContract', 'address'),
        field('chainId', 'uint256'),
      ]),
    ],
    ['chain 5', order({ name: 'Seaport', chainId: 5, verifyingContract: CONTRACT })],
    ['chain "5"', order({ name: 'Seaport', chainId: '5', verifyingContract: CONTRACT })],
    ['chain "0x5"', order({ name: 'Seaport', chainId: '0x5', verifyingContract: CONTRACT })],
  ];
  for (const [name, typedData] of refused)
    test(`refused: ${name}`, async () => {
      const r = await sign(typedData);
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.error?.code, 'POLICY_DENIED');
      const [row] = await t.srv.store.listAudit({ keyId: key.keyId, limit: 1 });
      assert.equal(row?.action, 'sign.refused');
      assert.equal(row?.outcome, 'refused');
      assert.equal(row?.subject, 'carol');
      assert.equal(row?.details?.code, 'POLICY_DENIED');
      assert.equal(row?.details?.kind, 'eip712');
      assert.match(String(row?.details?.digest), /^[0-9a-f]{64}$/);
      assert.equal(row?.details?.reason, r.json.error?.message);
      // A description of the payload, not the payload.
      const text = JSON.stringify(row);
      for (const secretish of ['Seaport', 'OrderComponents', 'conduitKey', 'BC4CA0'])
        assert.ok(!text.includes(secretish), `${secretish} is not in the audit row`);
    });

  test('a blind digest is refused and audited too', async () => {
    const r = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token,
      body: { payload: { kind: 'digest', digest: 'ab'.repeat(32) }, ...fresh() },
    });
    assert.equal(r.json.error?.code, 'POLICY_DENIED');
    const [row] = await t.srv.store.listAudit({ keyId: key.keyId, limit: 1 });
    assert.equal(row?.action, 'sign.refused');
    assert.equal(row?.details?.kind, 'digest');
    assert.equal(row?.details?.digest, 'ab'.repeat(32));
  });

  test('standard chain-1 typed data signs (also with chainId "0x1"); viem verifies', async () => {
    const address = publicKeyToAddress(`0x${secp256k1.Point.fromHex(key.publicKey).toHex(false)}`);
    const standard = [
      field('name', 'string'),
      field('version', 'string'),
      field('chainId', 'uint256'),
      field('verifyingContract', 'address'),
    ];
    for (const typedData of [
      seaportOrder(1),
      order({ ...seaportOrder().domain, chainId: '0x1' }),
      order(seaportOrder().domain, standard),
    ]) {
      const sig = await c.sign(key.keyId, { kind: 'eip712', typedData });
      assert.ok(
        await verifyTypedData({
          address,
          signature: `0x${sig.signature}${sig.recovery === 1 ? '1c' : '1b'}`,
          ...(typedData as unknown as TypedDataDefinition),
        })
      );
    }
  });
});
