/**
 * The client's `attestation` option against a real server whose attestation provider signs
 * synthetic documents with a test PKI (no enclave runs here): keys are created, signed and
 * refreshed only with an enclave that verifies, every session reply is signed by the attested
 * identity key, and a server that fails any of it is refused before a share is used.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AttestationError, type AttestationOptions, TesseraClient } from '@tessera/client';
import { FileShareStore, nodeWebSocket } from '@tessera/client/node';
import { decodeEnvelope, newPartyIdentity } from '@tessera/core';
import {
  type AttestationProvider,
  devToken,
  loadConfig,
  type RunningServer,
  startServer,
} from '@tessera/server';
import { editingFetch, STORE_SECRET } from './fixtures/harness.ts';
import { makeDocument, makePki, PCR0, RELEASE_DOC, T0 } from './fixtures/nitro.ts';

const pki = makePki();
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-attest-'));
  dirs.push(d);
  return d;
};

/** An enclave stand-in: a synthetic document for each nonce, as the NSM would make it. */
const synthetic: AttestationProvider = {
  description: 'synthetic test PKI',
  document: async (nonce, userData) =>
    makeDocument(pki, { nonce: nonce.slice(), user_data: userData.slice() }),
};

async function serve(provider: AttestationProvider | null) {
  const data = temp();
  const server = await startServer(loadConfig({ data, port: 0, dev: true, logLevel: 'warn' }, {}), {
    logDestination: { write: () => {} },
    ...(provider ? { attestationProvider: provider } : {}),
  });
  return { server, data };
}

const POLICY: AttestationOptions = {
  pcrs: { 0: Buffer.from(PCR0).toString('hex') },
  root: pki.root,
  now: () => T0,
};

async function clientOf(
  s: { server: RunningServer; data: string },
  o: { attestation?: AttestationOptions; fetch?: typeof fetch; transport?: 'http' | 'ws' } = {}
): Promise<TesseraClient> {
  return new TesseraClient({
    server: s.server.url,
    token: await devToken(s.data, 'alice'),
    store: await FileShareStore.open(temp(), { secret: STORE_SECRET }),
    webSocket: nodeWebSocket,
    ...o,
  });
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AttestationError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('the attestation option against an attesting server', () => {
  let attested: { server: RunningServer; data: string };
  before(async () => {
    attested = await serve(synthetic);
  });
  after(async () => {
    await attested.server.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('creates, signs over HTTP and WebSocket, and refreshes with a verified enclave', async () => {
    const seen: string[] = [];
    const client = await clientOf(attested, {
      attestation: POLICY,
      fetch: editingFetch(() => {}, seen),
    });
    const key = await client.createKey({ scheme: 'ecdsa' });
    const message = new TextEncoder().encode('attested');
    for (const transport of ['http', 'ws'] as const) {
      const sig = await client.sign(
        key.keyId,
        { message: Buffer.from(message).toString('hex') },
        { transport }
      );
      const spki = createPublicKey({
        key: Buffer.concat([
          Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
          Buffer.from(key.publicKey, 'hex'),
        ]),
        format: 'der',
        type: 'spki',
      });
      assert.ok(
        verify(
          'sha256',
          message,
          { key: spki, dsaEncoding: 'der' },
          Buffer.from(sig.der ?? '', 'hex')
        )
      );
    }
    await client.refresh(key.keyId);
    await client.sign(key.keyId, { message: 'abcd' });
    const attestations = seen.filter((r) => r === 'GET /v1/attestation').length;
    assert.equal(attestations, 5, seen.join('\n'));
  });

  it('refuses an enclave whose PCR0 is not the pinned one, before any session starts', async () => {
    const seen: string[] = [];
    const client = await clientOf(attested, {
      attestation: { ...POLICY, pcrs: { 0: 'ee'.repeat(48) } },
      fetch: editingFetch(() => {}, seen),
    });
    await refusedWith(client.createKey({ scheme: 'ed25519' }), 'ATTESTATION_PCR');
    assert.deepEqual(seen, ['GET /v1/attestation']);
  });

  it('refuses a document made for another nonce (a replayed document)', async () => {
    let saved: string | null = null;
    const client = await clientOf(attested, {
      attestation: POLICY,
      fetch: editingFetch((path, body) => {
        if (path !== '/v1/attestation') return;
        if (saved) body.document = saved;
        else saved = body.document as string;
      }),
    });
    await client.createKey({ scheme: 'ed25519' });
    await refusedWith(client.createKey({ scheme: 'ed25519' }), 'ATTESTATION_NONCE');
  });

  it('refuses an identity key the document does not vouch for', async () => {
    const client = await clientOf(attested, {
      attestation: POLICY,
      fetch: editingFetch((path, body) => {
        if (path === '/v1/attestation') {
          const other = newPartyIdentity().public;
          body.identity = {
            publicKey: Buffer.from(other.publicKey).toString('hex'),
            x25519: Buffer.from(other.x25519).toString('hex'),
          };
        }
      }),
    });
    await refusedWith(client.createKey({ scheme: 'ecdsa' }), 'ATTESTATION_USER_DATA');
  });

  it('refuses a session reply changed on the way (the parent host edits it)', async () => {
    for (const field of ['expiresAt', 'messages'] as const) {
      let steps = 0;
      const client = await clientOf(attested, {
        attestation: POLICY,
        fetch: editingFetch((path, body) => {
          if (field === 'expiresAt' && path === '/v1/keys')
            body.expiresAt = Number(body.expiresAt) + 1;
          if (field === 'messages' && path.endsWith('/messages') && steps++ === 0)
            body.messages = [...(body.messages as string[])].reverse();
        }),
      });
      await refusedWith(client.createKey({ scheme: 'ecdsa' }), 'ATTESTATION_SIGNATURE');
    }
  });

  it('refuses a reply without the server signature', async () => {
    const client = await clientOf(attested, {
      attestation: POLICY,
      fetch: editingFetch((path, body) => {
        if (path.endsWith('/messages')) delete body.serverSignature;
      }),
    });
    await refusedWith(client.createKey({ scheme: 'ed25519' }), 'ATTESTATION_SIGNATURE');
  });

  it('seals every envelope both ways: the host sees no core envelope, plain sessions it does', async () => {
    const bodies = (attestation: boolean) => {
      const seen: string[] = [];
      const spy: typeof fetch = async (input, init) => {
        if (typeof init?.body === 'string') seen.push(init.body);
        const res = await fetch(input, init);
        const text = await res.clone().text();
        seen.push(text);
        return res;
      };
      return { seen, spy, attestation };
    };
    const envelopesIn = (texts: string[]) =>
      texts.flatMap((t) => {
        const m = (JSON.parse(t) as { messages?: unknown }).messages;
        return Array.isArray(m) ? (m as string[]) : [];
      });
    const decodes = (m: string) => {
      try {
        decodeEnvelope(new Uint8Array(Buffer.from(m, 'base64')));
        return true;
      } catch {
        return false;
      }
    };
    for (const run of [bodies(true), bodies(false)]) {
      const client = await clientOf(attested, {
        ...(run.attestation ? { attestation: POLICY } : {}),
        fetch: run.spy,
      });
      await client.createKey({ scheme: 'ecdsa' });
      const messages = envelopesIn(run.seen.filter((t) => t.startsWith('{')));
      assert.ok(messages.length >= 8, `${messages.length} messages`);
      assert.equal(messages.filter(decodes).length, run.attestation ? 0 : messages.length);
    }
  });

  it('a changed byte in a sealed request ends that session only: no ban, the key signs next', async () => {
    const client = await clientOf(attested, { attestation: POLICY });
    const key = await client.createKey({ scheme: 'ecdsa' });
    let tampered = 0;
    const tampering: typeof fetch = async (input, init) => {
      if (tampered === 0 && String(input).endsWith('/messages') && typeof init?.body === 'string') {
        const body = JSON.parse(init.body) as { messages: string[] };
        const wire = Buffer.from(body.messages[0] as string, 'base64');
        wire[wire.length - 80] = (wire[wire.length - 80] as number) ^ 1;
        body.messages[0] = wire.toString('base64');
        tampered++;
        return fetch(input, { ...init, body: JSON.stringify(body) });
      }
      return fetch(input, init);
    };
    const [home] = dirs.slice(-1);
    const victim = new TesseraClient({
      server: attested.server.url,
      token: await devToken(attested.data, 'alice'),
      store: await FileShareStore.open(home as string, { secret: STORE_SECRET }),
      attestation: POLICY,
      fetch: tampering,
    });
    await assert.rejects(victim.sign(key.keyId, { message: 'abcd' }), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'PROTOCOL_VIOLATION', String(e));
      return true;
    });
    assert.equal(tampered, 1);
    const again = await victim.sign(key.keyId, { message: 'abcd' });
    assert.ok(again.der);
  });

  it('needs the image pinned: PCR0 or PCR8, 48 bytes, not a debug enclave', async () => {
    for (const pcrs of [{}, { 3: 'aa'.repeat(48) }, { 0: '00'.repeat(48) }, { 0: 'abcd' }]) {
      const client = await clientOf(attested, { attestation: { ...POLICY, pcrs } });
      await assert.rejects(client.createKey({ scheme: 'ecdsa' }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'BAD_INPUT', String(e));
        return true;
      });
    }
  });

  it('refuses 2-of-3 operations it does not attest, rather than skip the check', async () => {
    const client = await clientOf(attested, { attestation: POLICY });
    const nodes = {
      node1: { url: attested.server.url, fingerprint: 'ab'.repeat(32) },
      node2: { url: attested.server.url, fingerprint: 'cd'.repeat(32) },
    };
    await assert.rejects(
      client.createKey({ scheme: 'ecdsa', topology: '2-of-3', nodes }),
      /not covered by the attestation option/
    );
  });

  it('calls that start together share one attestation and all succeed', async () => {
    const seen: string[] = [];
    const client = await clientOf(attested, {
      attestation: POLICY,
      fetch: editingFetch(() => {}, seen),
    });
    // Calls on three keys (one key signs one session at a time).
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await client.createKey({ scheme: 'ed25519' }));
    seen.length = 0;
    const sigs = await Promise.all(keys.map((k) => client.sign(k.keyId, { message: 'aa' })));
    assert.equal(sigs.length, 3);
    assert.equal(seen.filter((r) => r === 'GET /v1/attestation').length, 1);
  });
});

describe('GET /v1/attestation', () => {
  it('refuses a sealed session on a server without attestation', async () => {
    const plain = await serve(null);
    try {
      const id = newPartyIdentity().public;
      const r = await fetch(`${plain.server.url}/v1/keys`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await devToken(plain.data, 'alice')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          scheme: 'ed25519',
          nonce: 'ab'.repeat(16),
          timestamp: Date.now(),
          sealed: {
            publicKey: Buffer.from(id.publicKey).toString('hex'),
            x25519: Buffer.from(id.x25519).toString('hex'),
          },
        }),
      });
      assert.equal(r.status, 404);
      assert.equal(
        ((await r.json()) as { error: { code: string } }).error.code,
        'ATTESTATION_DISABLED'
      );
    } finally {
      await plain.server.close();
    }
  });

  it('serves what the provider makes, and ATTESTATION_DISABLED without one', async () => {
    const fixture: AttestationProvider = {
      description: 'the real AWS release document',
      document: async () => RELEASE_DOC,
    };
    const withFixture = await serve(fixture);
    const without = await serve(null);
    try {
      const get = async (s: typeof withFixture, query: string) =>
        fetch(`${s.server.url}/v1/attestation${query}`, {
          headers: { authorization: `Bearer ${await devToken(s.data, 'alice')}` },
        });
      const ok = await get(withFixture, `?nonce=${'ab'.repeat(32)}`);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      const body = (await ok.json()) as {
        document: string;
        identity: { publicKey: string; x25519: string };
      };
      assert.deepEqual(new Uint8Array(Buffer.from(body.document, 'base64')), RELEASE_DOC);
      assert.match(body.identity.publicKey, /^[0-9a-f]{64}$/);
      assert.match(body.identity.x25519, /^[0-9a-f]{64}$/);
      for (const q of ['', '?nonce=ab', `?nonce=${'ab'.repeat(65)}`, `?nonce=${'AB'.repeat(32)}`]) {
        const r = await get(withFixture, q);
        assert.equal(r.status, 400, q);
      }
      const anonymous = await fetch(
        `${withFixture.server.url}/v1/attestation?nonce=${'ab'.repeat(32)}`
      );
      assert.equal(anonymous.status, 401);
      const off = await get(without, `?nonce=${'ab'.repeat(32)}`);
      assert.equal(off.status, 404);
      assert.equal(
        ((await off.json()) as { error: { code: string } }).error.code,
        'ATTESTATION_DISABLED'
      );
    } finally {
      await withFixture.server.close();
      await without.server.close();
    }
  });

  it('answers 503 UNAVAILABLE when the provider fails, and names nothing secret', async () => {
    const broken = await serve({
      description: 'broken',
      document: async () => {
        throw new Error('/dev/nsm: no such device');
      },
    });
    try {
      const r = await fetch(`${broken.server.url}/v1/attestation?nonce=${'ab'.repeat(16)}`, {
        headers: { authorization: `Bearer ${await devToken(broken.data, 'alice')}` },
      });
      assert.equal(r.status, 503);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'UNAVAILABLE');
      assert.doesNotMatch(body.error.message, /nsm/);
    } finally {
      await broken.server.close();
    }
  });

  it('holds one request per subject at the NSM: a second waits its turn (429), others go on', async () => {
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const atNsm = new Promise<void>((r) => {
      entered = r;
    });
    const slow = await serve({
      description: 'slow',
      document: async () => {
        entered();
        await gate;
        return RELEASE_DOC;
      },
    });
    try {
      const get = async (sub: string) =>
        fetch(`${slow.server.url}/v1/attestation?nonce=${'cd'.repeat(16)}`, {
          headers: { authorization: `Bearer ${await devToken(slow.data, sub)}` },
        });
      const first = get('alice');
      await atNsm;
      const second = await get('alice');
      assert.equal(second.status, 429);
      assert.equal(second.headers.get('retry-after'), '1');
      const other = get('bob');
      release();
      assert.equal((await first).status, 200);
      assert.equal((await other).status, 200);
    } finally {
      await slow.server.close();
    }
  });
});
