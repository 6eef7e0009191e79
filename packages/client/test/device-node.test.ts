/**
 * Two devices (separate homes and stores) over an in-process dev relay: pairing, then key
 * generation in each scheme and signing, each signature checked by @noble/curves and, for ECDSA,
 * by node:crypto (OpenSSL); a denied request, a replayed room, and a peer that is not paired.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as osslVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { loadRelayConfig, type RunningRelay, startRelay } from '@tessera/relay';
import {
  DeviceHome,
  DeviceNode,
  type DeviceRequest,
  FileShareStore,
  pairAsInitiator,
  pairAsResponder,
  relayWebSocket,
  type ServedRequest,
} from '../src/node.ts';

let relay: RunningRelay;
const dirs: string[] = [];
let alice: DeviceNode;
let bob: DeviceNode;
let aliceStore: FileShareStore;
let bobStore: FileShareStore;
let serving: AbortController;
let served: Promise<void>;
let decide: (r: DeviceRequest) => boolean = () => true;
const seen: DeviceRequest[] = [];
const outcomes: ServedRequest[] = [];
let socketsOpened = 0;

async function device(name: string): Promise<{ home: DeviceHome; store: FileShareStore }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-dev-'));
  dirs.push(dir);
  const home = new DeviceHome(dir);
  home.init(name);
  return { home, store: await FileShareStore.open(dir) };
}

before(async () => {
  relay = await startRelay(loadRelayConfig({ port: 0, dev: true }, {}), {
    logDestination: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  const a = await device('Alice laptop');
  const b = await device('Bob phone');
  let invite!: (s: string) => void;
  const invited = new Promise<string>((r) => {
    invite = r;
  });
  const confirmCode = async () => true as const;
  await Promise.all([
    pairAsInitiator({
      home: a.home,
      device: a.home.load(),
      relay: relay.url,
      confirmCode,
      onInvite: invite,
    }),
    invited.then((inv) =>
      pairAsResponder({ home: b.home, device: b.home.load(), invite: inv, confirmCode })
    ),
  ]);
  aliceStore = a.store;
  bobStore = b.store;
  alice = new DeviceNode({ home: a.home, store: a.store, relay: relay.url });
  // Bob receives over the relay's WebSocket, Alice over SSE: both deliveries are exercised.
  bob = new DeviceNode({
    home: b.home,
    store: b.store,
    relay: relay.url,
    webSocket: (url, protocols) => {
      socketsOpened++;
      return relayWebSocket(url, protocols);
    },
  });
  bob.on('request', (r: DeviceRequest) => seen.push(r));
  bob.on('served', (s: ServedRequest) => outcomes.push(s));
  serving = new AbortController();
  served = bob.serve({
    approve: async (r) => decide(r),
    signal: serving.signal,
    pollMs: 100,
  });
});

after(async () => {
  serving?.abort();
  await served;
  await relay?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
  test(`${scheme}: key generation and signing between two devices, verified independently`, async () => {
    const rounds: string[] = [];
    const onProgress = (p: { op: string; round: number; label: string }) =>
      rounds.push(`${p.op} ${p.round}: ${p.label}`);
    alice.on('progress', onProgress);
    try {
      const key = await alice.keygen({ peer: 'Bob phone', scheme, label: `k-${scheme}` });
      assert.equal(key.scheme, scheme);
      const onBob = await bobStore.getKey(key.keyId);
      assert.equal(onBob?.publicKey, key.publicKey);
      assert.equal(onBob?.peer?.name, 'Alice laptop');
      assert.equal((await aliceStore.getKey(key.keyId))?.peer?.name, 'Bob phone');
      const message = bytesToHex(randomBytes(40));
      const sig = await alice.sign({
        keyId: key.keyId,
        input: { message },
        purpose: 'test payment',
      });
      const pub = hexToBytes(key.publicKey);
      const sigBytes = hexToBytes(sig.signature);
      if (scheme === 'ecdsa') {
        const digest = sha256(hexToBytes(message));
        assert.ok(secp256k1.verify(sigBytes, digest, pub, { prehash: false }));
        // OpenSSL: DER over the same message, SHA-256 hashed by OpenSSL itself.
        const spki = Buffer.concat([
          Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
          Buffer.from(pub),
        ]);
        const k = createPublicKey({ key: spki, format: 'der', type: 'spki' });
        assert.ok(osslVerify('sha256', hexToBytes(message), k, hexToBytes(sig.der as string)));
      } else if (scheme === 'ed25519') {
        assert.ok(ed25519.verify(sigBytes, hexToBytes(message), pub));
      } else {
        assert.ok(schnorr.verify(sigBytes, hexToBytes(message), pub));
      }
      const req = seen.at(-1) as DeviceRequest;
      assert.equal(req.op, 'sign');
      assert.equal(req.purpose, 'test payment');
      assert.equal(req.from.name, 'Alice laptop');
      assert.equal(
        req.signing,
        scheme === 'ecdsa' ? bytesToHex(sha256(hexToBytes(message))) : message
      );
      assert.ok(rounds.includes('keygen 1: commit to a random polynomial'), rounds.join('\n'));
      assert.ok(rounds.includes('sign 1: generate nonce'), rounds.join('\n'));
      assert.ok(socketsOpened > 0, 'the serving device received over WebSocket');
    } finally {
      alice.off('progress', onProgress);
    }
  });
}

test('a denied request: REQUEST_DENIED on the requester, nothing stored on either side', async () => {
  decide = () => false;
  const before = [(await aliceStore.list()).length, (await bobStore.list()).length];
  try {
    await assert.rejects(
      alice.keygen({ peer: 'Bob phone', scheme: 'ed25519' }),
      (e: Error & { code?: string }) => e.code === 'REQUEST_DENIED'
    );
    assert.equal(outcomes.at(-1)?.outcome, 'denied');
    assert.deepEqual([(await aliceStore.list()).length, (await bobStore.list()).length], before);
  } finally {
    decide = () => true;
  }
});

test('a peer that is not paired, and a key of another peer, are refused before anything is sent', async () => {
  await assert.rejects(
    alice.keygen({ peer: 'Mallory', scheme: 'ecdsa' }),
    (e: Error & { code?: string }) => e.code === 'UNKNOWN_PEER'
  );
  await assert.rejects(
    alice.sign({ keyId: 'ab'.repeat(32), input: { digest: 'cd'.repeat(32) }, purpose: 'x' }),
    (e: Error & { code?: string }) => e.code === 'NO_SHARE'
  );
});
