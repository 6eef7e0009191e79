/**
 * Sign payloads cannot stall the server (docs/security.md A-71). Typed data past its limits is refused before
 * any hashing, with an audit row and no job for the workers; typed data within them is hashed on
 * a worker, while the event loop keeps answering, within a time budget whose overrun terminates
 * the worker and refuses the request; real dApp typed data still signs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { TypedDataInput } from '@tessera/api';
import type { TesseraClient } from '@tessera/client';
import { type TypedDataDefinition, verifyTypedData } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import {
  nestedChain,
  permit2Batch,
  seaportBulkOrder,
  seaportOrder,
  slowTypedData,
  uniswapXOrder,
} from '../../api/test/fixtures/typed-data.ts';
import type { Dispatch } from '../src/compute.ts';
import { call, fresh, opensslVerifyEcdsa, type TestServer, testServer, toHex } from './helpers.ts';

/** The Ethereum address of a compressed secp256k1 public key (hex). */
const addressOf = (publicKey: string) =>
  publicKeyToAddress(`0x${secp256k1.Point.fromHex(publicKey).toHex(false)}`);

describe('sign payload bounds', () => {
  let t: TestServer;
  let c: TesseraClient;
  let token: string;
  let key: { keyId: string; publicKey: string };
  const dispatched: Dispatch[] = [];
  before(async () => {
    // A generous budget: here the point is where the hashing runs, not how long it may take.
    t = await testServer({ workers: 1, limits: { payloadHashMs: 30_000 } });
    t.srv.compute.onDispatch = (d) => void dispatched.push(d);
    c = await t.client('mallory');
    token = await t.token('mallory');
    key = await c.createKey({ scheme: 'ecdsa' });
  });
  after(() => t.close());

  const signTyped = (typedData: TypedDataInput) =>
    call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token,
      body: { payload: { kind: 'eip712', typedData }, ...fresh() },
    });

  test('the oversized typed-data request is refused before any hashing, audited, while health is answered', async () => {
    const probe = nestedChain(1000, 30);
    assert.ok(JSON.stringify(probe).length > 200 * 1024, 'the probe size: 211 KiB');
    const before = dispatched.length;
    const [refused, health] = await Promise.all([
      signTyped(probe),
      call(t.url, 'GET', '/v1/health'),
    ]);
    assert.equal(health.status, 200);
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.error?.code, 'PAYLOAD_TOO_COMPLEX');
    assert.equal(refused.json.error?.details?.limit, 'types');
    assert.equal(
      dispatched.slice(before).filter((d) => d.kind === 'payload').length,
      0,
      'nothing was hashed: no payload job reached a worker'
    );
    const [row] = await t.srv.store.listAudit({ keyId: key.keyId, limit: 1 });
    assert.equal(row?.action, 'sign.refused');
    assert.equal(row?.subject, 'mallory');
    assert.deepEqual(
      { ...row?.details, reason: undefined },
      { code: 'PAYLOAD_TOO_COMPLEX', kind: 'eip712', limit: 'types', reason: undefined }
    );
    assert.match(String(row?.details?.reason), /struct types/);
  });

  test('typed data within the limits is hashed on a worker: health is answered meanwhile', async () => {
    let signAnswered = false;
    const payloadDispatched = new Promise<void>((resolve) => {
      const previous = t.srv.compute.onDispatch;
      t.srv.compute.onDispatch = (d) => {
        previous?.(d);
        if (d.kind === 'payload') resolve();
      };
    });
    const signing = signTyped(slowTypedData()).then((r) => {
      signAnswered = true;
      return r;
    });
    await payloadDispatched;
    const health = await call(t.url, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    assert.equal(signAnswered, false, 'health was answered while the payload was being hashed');
    const started = await signing;
    assert.equal(started.status, 201, started.text);
    // The session this left open keeps the key busy: a second request is refused before hashing.
    const before = dispatched.length;
    const busy = await signTyped(slowTypedData());
    assert.equal(busy.json.error?.code, 'KEY_BUSY');
    assert.equal(dispatched.slice(before).filter((d) => d.kind === 'payload').length, 0);
  });

  test('Seaport, Permit2 and UniswapX typed data sign through the SDK; viem verifies them', async () => {
    const signer = await t.client('alice');
    const k = await signer.createKey({ scheme: 'ecdsa' });
    const address = addressOf(k.publicKey);
    for (const typedData of [
      seaportOrder(),
      seaportBulkOrder(4),
      permit2Batch(5),
      uniswapXOrder(),
    ]) {
      const sig = await signer.sign(k.keyId, { kind: 'eip712', typedData });
      const signature = `0x${sig.signature}${sig.recovery === 1 ? '1c' : '1b'}` as const;
      assert.ok(
        await verifyTypedData({
          address,
          signature,
          ...(typedData as unknown as TypedDataDefinition),
        }),
        typedData.primaryType
      );
    }
  });
});

describe('the hashing budget', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer({ workers: 1, limits: { payloadHashMs: 5 } });
  });
  after(() => t.close());

  test('a payload over its budget terminates its worker and is refused; the next job gets a new worker', async () => {
    const c = await t.client('bob');
    const key = await c.createKey({ scheme: 'ecdsa' });
    const r = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token: await t.token('bob'),
      body: { payload: { kind: 'eip712', typedData: slowTypedData() }, ...fresh() },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error?.code, 'PAYLOAD_TOO_COMPLEX');
    assert.equal(r.json.error?.details?.limit, 'budget');
    const [row] = await t.srv.store.listAudit({ keyId: key.keyId, limit: 1 });
    assert.equal(row?.action, 'sign.refused');
    assert.equal(row?.details?.limit, 'budget');
    // The signing steps of the next request run on the replacement worker.
    const message = new TextEncoder().encode('after the budget');
    const sig = await c.sign(key.keyId, { message: toHex(message), hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, sig.der as string));
  });
});
