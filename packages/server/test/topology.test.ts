/**
 * The 2-of-3 topology through the SDK, with both nodes as real servers in this process: key
 * generation among the client and both nodes, signing with node 1 alone, refresh with all
 * three, recovery (new key id, same public key, the old key id retired), node 2's refusal to
 * sign, a cancelled recovery, and a client that tampers with a relayed node envelope.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MemoryShareStore, type NodeSet, ServerError, TesseraClient } from '@tessera/client';
import { devKey } from '@tessera/server';
import { importJWK, SignJWT } from 'jose';
import { call, fresh, fromHex, nobleVerify, type TestServer, testServer } from './helpers.ts';

const SCHEMES = ['ecdsa', 'ed25519', 'bip340'] as const;

describe('2-of-3 topology (SDK, two nodes in process)', () => {
  let node1: TestServer;
  let node2: TestServer;
  let nodes: NodeSet;
  const client = async (sub: string, o: { fetch?: typeof fetch } = {}) =>
    new TesseraClient({
      server: node1.url,
      token: await node1.token(sub),
      store: new MemoryShareStore(),
      ...o,
    });

  before(async () => {
    ({ node1, node2, nodes } = await nodePair());
  });
  after(async () => {
    await node1?.close();
    await node2?.close();
  });

  test('node 2 refuses to sign with a 2-of-3 key, in every scheme (ROLE_FORBIDDEN)', async () => {
    const bob = await client('bob');
    for (const scheme of SCHEMES) {
      const key = await bob.createKey({ scheme, topology: '2-of-3', nodes });
      const payload =
        scheme === 'ecdsa'
          ? { kind: 'digest', digest: '11'.repeat(32) }
          : { kind: 'message', message: '11'.repeat(32) };
      const r = await call(node2.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
        token: await node1.token('bob'),
        body: { payload, ...fresh() },
      });
      assert.equal(r.status, 403);
      assert.equal(r.json?.error?.code, 'ROLE_FORBIDDEN');
    }
  });

  test("a key's public facts: for its owner and for a token with the public-read scope, 404 for anyone else", async () => {
    const carol = await client('carol');
    const key = await carol.createKey({ scheme: 'ed25519', topology: '2-of-3', nodes });
    const path = `/v1/keys/${key.keyId}/public`;
    const facts = {
      keyId: key.keyId,
      scheme: 'ed25519',
      publicKey: key.publicKey,
      topology: '2-of-3',
    };
    const owner = await call(node1.url, 'GET', path, { token: await node1.token('carol') });
    assert.deepEqual(owner.json, facts);
    const other = await call(node1.url, 'GET', path, { token: await node1.token('dave') });
    assert.equal(other.status, 404);
    const { privateJwk } = await devKey(node1.data);
    const scoped = (scope: string) =>
      importJWK(privateJwk, 'EdDSA').then((k) =>
        new SignJWT({ scope })
          .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid as string })
          .setSubject('tessera gateway')
          .setIssuer('tessera')
          .setAudience('tessera')
          .setIssuedAt()
          .setExpirationTime('2m')
          .sign(k)
      );
    const reader = await call(node1.url, 'GET', path, {
      token: await scoped('openid tessera:keys.public'),
    });
    assert.deepEqual(reader.json, facts);
    // The scope reads public facts only: the owner's record stays the owner's.
    const full = await call(node1.url, 'GET', `/v1/keys/${key.keyId}`, {
      token: await scoped('tessera:keys.public'),
    });
    assert.equal(full.status, 404);
    const wrongScope = await call(node1.url, 'GET', path, { token: await scoped('tessera:keys') });
    assert.equal(wrongScope.status, 404);
  });

  test('node 2 makes no 2-of-2 key (it would co-sign with it)', async () => {
    const r = await call(node2.url, 'POST', '/v1/keys', {
      token: await node1.token('bob'),
      body: { scheme: 'ed25519', ...fresh() },
    });
    assert.equal(r.status, 403);
    assert.equal(r.json?.error?.code, 'ROLE_FORBIDDEN');
  });

  test('a client that alters a relayed node envelope is named the culprit', async () => {
    // Flips one byte of the first envelope node 2 sent node 1, as the client relays it.
    const tampering: typeof fetch = async (input, init) => {
      const url = String(input);
      if (url.startsWith(node1.url) && url.endsWith('/messages') && init?.body) {
        const body = JSON.parse(String(init.body)) as { relay?: string[] };
        if (body.relay?.[0]) {
          const raw = Buffer.from(body.relay[0], 'base64');
          raw[raw.length - 70] = (raw[raw.length - 70] ?? 0) ^ 1;
          body.relay[0] = raw.toString('base64');
          return fetch(input, { ...init, body: JSON.stringify(body) });
        }
      }
      return fetch(input, init);
    };
    const mallory = await client('mallory', { fetch: tampering });
    const err = await mallory.createKey({ scheme: 'ed25519', topology: '2-of-3', nodes }).then(
      () => null,
      (e: unknown) => e
    );
    assert.ok(err instanceof ServerError, String(err));
    assert.equal(err.code, 'PROTOCOL_ABORT');
    assert.equal(err.culprit, 1);
    assert.equal(err.details?.check, 'NodeEnvelope');
  });

  for (const scheme of SCHEMES)
    test(`${scheme}: keygen, sign with node 1, refresh, recover to a new key id`, async () => {
      const alice = await client(`alice-${scheme}`);
      const key = await alice.createKey({ scheme, topology: '2-of-3', nodes });
      const bytes = 'ab'.repeat(32);
      // ECDSA signs a digest; EdDSA and BIP-340 sign message bytes.
      const input = scheme === 'ecdsa' ? { digest: bytes } : { message: bytes };
      const sig = await alice.sign(key.keyId, input);
      assert.ok(nobleVerify[scheme](key.publicKey, fromHex(bytes), sig.signature));
      const refreshed = await alice.refresh(key.keyId);
      assert.equal(refreshed.keyId, key.keyId);
      await alice.sign(key.keyId, input);
      // A new device: an empty store.
      const device = await client(`alice-${scheme}`);
      const recovered = await device.recoverKey({ nodes, keyId: key.keyId });
      assert.notEqual(recovered.keyId, key.keyId);
      assert.equal(recovered.publicKey, key.publicKey);
      const again = await device.sign(recovered.keyId, input);
      assert.ok(nobleVerify[scheme](key.publicKey, fromHex(bytes), again.signature));
      await assert.rejects(alice.sign(key.keyId, input), { code: 'KEY_RETIRED' });
    });
});

describe('2-of-3 recovery with a delay (node 2: 1 h)', () => {
  test('a recovery cancelled within its delay issues nothing, and the key signs again; requests and cancels are charged to a quota', async () => {
    const events: { event: string; node: string }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        events.push(JSON.parse(body) as { event: string; node: string });
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const notifyUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
    const { node1, node2, nodes } = await nodePair({
      recovery: { delay: '1h', notifyUrl },
      limits: { keygensPerHourPerSubject: 5 },
    });
    try {
      const alice = new TesseraClient({
        server: node1.url,
        token: await node1.token('alice'),
        store: new MemoryShareStore(),
      });
      const key = await alice.createKey({ scheme: 'ed25519', topology: '2-of-3', nodes });
      const message = { message: '22'.repeat(32) };
      await alice.sign(key.keyId, message);
      const device = new TesseraClient({
        server: node1.url,
        token: await node1.token('alice'),
        store: new MemoryShareStore(),
      });
      const pending = await device.recoverKey({ nodes, keyId: key.keyId }).then(
        () => null,
        (e: unknown) => e as { code: string; details?: { readyAt?: number } }
      );
      assert.equal(pending?.code, 'RECOVERY_PENDING');
      assert.ok((pending?.details?.readyAt ?? 0) > Date.now() + 3_500_000);
      // While the recovery is pending the old share does not sign.
      await assert.rejects(alice.sign(key.keyId, message), { code: 'RECOVERY_PENDING' });
      const cancelled = await alice.cancelRecovery({ nodes, keyId: key.keyId });
      assert.deepEqual(
        cancelled.map((c) => c.state),
        ['cancelled', 'cancelled']
      );
      await assert.rejects(device.recoverKey({ nodes, keyId: key.keyId }), {
        code: 'RECOVERY_PENDING',
      });
      await alice.cancelRecovery({ nodes, keyId: key.keyId });
      // Nothing was issued: the key's id is still the only one, and it signs.
      const keys = await alice.listKeys();
      assert.deepEqual(
        keys.map((k) => k.keyId),
        [key.keyId]
      );
      await alice.sign(key.keyId, message);
      const run = await call(node2.url, 'POST', `/v1/keys/${key.keyId}/recovery/run`, {
        token: await node1.token('alice'),
        body: { sid0: '33'.repeat(32), nodes: await identities(node1, node2), ...fresh() },
      });
      assert.equal(run.json?.error?.code, 'NO_RECOVERY');
      const seen = events.filter((e) => e.node === 'node2').map((e) => e.event);
      assert.ok(
        seen.includes('recovery.requested') && seen.includes('recovery.cancelled'),
        String(seen)
      );
      // Requests and cancels are charged: two of each so far, one more of five, then 429.
      const token = await node1.token('alice');
      const recovery = `/v1/keys/${key.keyId}/recovery`;
      assert.equal((await call(node2.url, 'POST', recovery, { token })).status, 200);
      const over = await call(node2.url, 'POST', `${recovery}/cancel`, { token });
      assert.equal(over.json?.error?.code, 'RATE_LIMITED');
      assert.equal(
        (await call(node2.url, 'GET', recovery, { token })).json?.state,
        'pending',
        'a refused cancel changed nothing'
      );
    } finally {
      await node1.close();
      await node2.close();
      hook.close();
    }
  });
});

async function identities(node1: TestServer, node2: TestServer) {
  const id = async (n: TestServer) =>
    (await (await fetch(`${n.url}/v1/node/identity`)).json()) as {
      nodeId: 'node1' | 'node2';
      fingerprint: string;
      ed25519: string;
      x25519: string;
    };
  return { node1: await id(node1), node2: await id(node2) };
}

/** Node 1 and node 2 in this process; node 2 trusts node 1's dev tokens (as --trust-jwks). */
async function nodePair(node2Config: Parameters<typeof testServer>[0] = {}) {
  const node1 = await testServer({ node: { id: 'node1' } });
  const jwks = join(mkdtempSync(join(tmpdir(), 'tessera-jwks-')), 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [(await devKey(node1.data)).publicJwk] }));
  const node2 = await testServer({
    node: { id: 'node2' },
    auth: { trustJwks: [jwks] },
    ...node2Config,
  });
  const ids = await identities(node1, node2);
  const nodes: NodeSet = {
    node1: { url: node1.url, fingerprint: ids.node1.fingerprint },
    node2: { url: node2.url, fingerprint: ids.node2.fingerprint },
  };
  return { node1, node2, nodes };
}
