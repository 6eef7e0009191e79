/**
 * End to end over real sockets on 127.0.0.1: the client SDK and the server create, sign with and
 * refresh ECDSA, Ed25519 and BIP-340 keys; every signature is verified independently.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { keccak_256 } from '@noble/hashes/sha3.js';
import type { TesseraClient } from '@tessera/client';
import { recoverPublicKey } from 'viem';
import {
  fromHex,
  nobleVerify,
  opensslVerifyEcdsa,
  opensslVerifyEd25519,
  type TestServer,
  testServer,
  toHex,
} from './helpers.ts';

const message = new TextEncoder().encode('pay 1 coin to bob');
const msgHex = toHex(message);

describe('client ↔ server end to end', () => {
  let t: TestServer;
  let http: TesseraClient;
  before(async () => {
    t = await testServer();
    http = await t.client('alice');
  });
  after(() => t.close());

  test('ECDSA: keygen, sign (message, digest, keccak), refresh, sign again — OpenSSL, noble, viem recovery', async () => {
    const progress: string[] = [];
    const key = await http.createKey({
      scheme: 'ecdsa',
      label: 'e2e',
      onProgress: (p) => progress.push(`${p.phase}:${p.round}/${p.totalRounds}`),
    });
    assert.match(key.publicKey, /^0[23][0-9a-f]{64}$/);
    assert.ok(progress.includes('keygen:4/4'), progress.join(' '));
    const check = async (
      sig: { signature: string; der?: string; recovery?: 0 | 1 },
      digest: Uint8Array
    ) => {
      assert.ok(nobleVerify.ecdsa(key.publicKey, digest, sig.signature));
      const recovered = await recoverPublicKey({
        hash: `0x${toHex(digest)}`,
        signature: `0x${sig.signature}${sig.recovery === 1 ? '1c' : '1b'}`,
      });
      const uncompressed = (await import('@noble/curves/secp256k1.js')).secp256k1.Point.fromHex(
        key.publicKey
      ).toHex(false);
      assert.equal(recovered.slice(2), uncompressed);
    };
    const s1 = await http.sign(key.keyId, { message: msgHex, hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, s1.der as string), 'OpenSSL verifies');
    await check(s1, createHash('sha256').update(message).digest());
    const digest = keccak_256(message);
    const s2 = await http.sign(key.keyId, { digest: toHex(digest) }, { transport: 'ws' });
    await check(s2, digest);
    const s3 = await http.sign(key.keyId, { message: msgHex, hash: 'keccak256' });
    await check(s3, digest);
    assert.notEqual(s2.signature, s3.signature, 'fresh nonces every time');
    const before = await http.getKey(key.keyId);
    const r = await http.refresh(key.keyId);
    assert.notEqual(r.epoch, before.epoch);
    const afterInfo = await http.getKey(key.keyId);
    assert.equal(afterInfo.epoch, r.epoch);
    assert.equal(afterInfo.publicKey, key.publicKey);
    assert.equal(afterInfo.pendingEpoch, undefined);
    const s4 = await http.sign(key.keyId, { message: msgHex, hash: 'sha256' });
    assert.ok(opensslVerifyEcdsa(key.publicKey, message, s4.der as string));
  });

  for (const scheme of ['ed25519', 'bip340'] as const) {
    for (const transport of ['http', 'ws'] as const) {
      test(`${scheme} over ${transport}: keygen, sign, refresh, sign`, async () => {
        const c = await t.client(`user-${scheme}-${transport}`, { transport });
        const key = await c.createKey({ scheme });
        assert.equal(key.publicKey.length, 64);
        const verifyBoth = (sig: string) => {
          assert.ok(nobleVerify[scheme](key.publicKey, message, sig));
          if (scheme === 'ed25519') assert.ok(opensslVerifyEd25519(key.publicKey, message, sig));
        };
        verifyBoth((await c.sign(key.keyId, { message: msgHex })).signature);
        await c.refresh(key.keyId);
        verifyBoth((await c.sign(key.keyId, { message: msgHex })).signature);
        const list = await c.listKeys();
        assert.deepEqual(
          list.map((k) => k.keyId),
          [key.keyId]
        );
      });
    }
  }

  test('OpenAPI 3 at /openapi.json and Swagger UI at /docs; health and status without a token', async () => {
    const spec = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    assert.match(spec.openapi, /^3\./);
    for (const p of [
      '/v1/keys',
      '/v1/keys/{keyId}/sign',
      '/v1/sessions/{sid}/messages',
      '/v1/health',
    ])
      assert.ok(spec.paths[p], `${p} documented`);
    const ui = await fetch(`${t.url}/docs`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
    const css = await fetch(`${t.url}/docs/static/swagger-ui.css`);
    assert.equal(css.status, 200);
    const status = (await (await fetch(`${t.url}/v1/status`)).json()) as { version: string };
    assert.equal(status.version, '0.1.0');
  });

  test('a backup restored into a fresh client store does not sign until recover retires it', async () => {
    const c = await t.client('backup-user');
    const key = await c.createKey({ scheme: 'ed25519' });
    const blob = await c.exportBackup(key.keyId, 'correct horse battery');
    const restored = await t.client('backup-user');
    await restored.importBackup(blob, 'correct horse battery');
    await assert.rejects(restored.sign(key.keyId, { message: msgHex }), {
      code: 'REFRESH_REQUIRED',
    });
    // Recover: the restored client proves possession and both shares are replaced.
    const before = await restored.getKey(key.keyId);
    const r = await restored.recover(key.keyId);
    assert.notEqual(r.epoch, before.epoch);
    const sig = await restored.sign(key.keyId, { message: msgHex });
    assert.ok(opensslVerifyEd25519(key.publicKey, message, sig.signature));
    await assert.rejects(restored.importBackup(blob, 'correct horse battery'), /refreshed since/);
  });

  test('typed payloads: EIP-191 and an EIP-1559 transaction are hashed by the server', async () => {
    const c = await t.client('typed');
    const key = await c.createKey({ scheme: 'ecdsa' });
    const { hashMessage, serializeTransaction, keccak256 } = await import('viem');
    const s = await c.sign(key.keyId, { kind: 'eip191', message: msgHex });
    assert.ok(
      nobleVerify.ecdsa(key.publicKey, fromHex(hashMessage({ raw: message }).slice(2)), s.signature)
    );
    const tx = serializeTransaction({
      type: 'eip1559',
      chainId: 1,
      nonce: 0,
      to: '0x000000000000000000000000000000000000dEaD',
      value: 10n,
      maxFeePerGas: 2n,
      maxPriorityFeePerGas: 1n,
      gas: 21000n,
    });
    const s2 = await c.sign(key.keyId, { kind: 'eip1559', transaction: tx.slice(2) });
    assert.ok(nobleVerify.ecdsa(key.publicKey, fromHex(keccak256(tx).slice(2)), s2.signature));
  });
});
