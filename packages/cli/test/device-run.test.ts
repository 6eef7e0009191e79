/**
 * `tessera device keygen | sign | serve` as real processes through a real relay process: two
 * paired devices generate a key in each scheme and sign with it, one serving (`--approve`), the
 * other requesting; every signature is verified by @noble/curves and ECDSA also by OpenSSL
 * (node:crypto). Progress per round on stderr; a denied request; the contract's JSON fields.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as osslVerify } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  cleanUp,
  cli,
  type Json,
  killGroup,
  Pairer,
  pairedDevices,
  startRelayProcess,
} from './fixtures/devices.ts';

let relayUrl = '';
let a = '';
let b = '';
let server: Pairer;

before(async () => {
  relayUrl = await startRelayProcess();
  ({ a, b } = await pairedDevices(relayUrl, 'run'));
  server = new Pairer(['--relay', relayUrl, '--home', b, '--approve'], ['device', 'serve']);
});

after(cleanUp);

/** The serving device's next `served` line (its `request` line comes first). */
async function served(): Promise<Json> {
  for (;;) {
    const l = await server.line();
    if (l.served) return l.served as Json;
  }
}

const SPKI_SECP256K1 = '3036301006072a8648ce3d020106052b8104000a032200';

for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
  test(`${scheme}: device keygen and device sign through the relay, verified independently`, async () => {
    const kg = await cli(
      [
        'device',
        'keygen',
        '--peer',
        'Bob phone',
        '--scheme',
        scheme,
        '--relay',
        relayUrl,
        '--home',
        a,
      ],
      120_000
    );
    assert.equal(kg.code, 0, kg.stderr);
    assert.deepEqual(Object.keys(kg.json).sort(), ['keyId', 'publicKey', 'scheme']);
    assert.equal(kg.json.scheme, scheme);
    assert.match(kg.stderr, /Round 1: commit to a random polynomial/);
    assert.match(kg.stderr, /Round 4: confirm the key/);
    const s1 = await served();
    assert.equal(s1.outcome, 'done');
    const keyId = kg.json.keyId as string;
    const pub = hexToBytes(kg.json.publicKey as string);
    const message = bytesToHex(randomBytes(33));
    const sg = await cli(
      [
        'device',
        'sign',
        '--peer',
        'Bob phone',
        '--key',
        keyId,
        '--message',
        message,
        '--purpose',
        'pay Carol 0.1',
        '--relay',
        relayUrl,
        '--home',
        a,
      ],
      120_000
    );
    assert.equal(sg.code, 0, sg.stderr);
    assert.match(sg.stderr, /Round 1: generate nonce/);
    const sig = hexToBytes(sg.json.signature as string);
    if (scheme === 'ecdsa') {
      assert.deepEqual(Object.keys(sg.json).sort(), [
        'der',
        'keyId',
        'r',
        'recovery',
        's',
        'signature',
      ]);
      const digest = sha256(hexToBytes(message));
      assert.ok(secp256k1.verify(sig, digest, pub, { prehash: false }));
      const spki = Buffer.concat([Buffer.from(SPKI_SECP256K1, 'hex'), Buffer.from(pub)]);
      const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
      // OpenSSL hashes the message itself and checks the DER signature.
      assert.ok(osslVerify('sha256', hexToBytes(message), key, hexToBytes(sg.json.der as string)));
      assert.match(sg.stderr, /Round 3: combine partial signatures/);
    } else if (scheme === 'ed25519') {
      assert.ok(ed25519.verify(sig, hexToBytes(message), pub));
    } else {
      assert.ok(schnorr.verify(sig, hexToBytes(message), pub));
    }
    const s2 = await served();
    assert.equal(s2.outcome, 'done');
    const req = s2.request as Json;
    assert.equal(req.purpose, 'pay Carol 0.1', JSON.stringify(s2));
    assert.equal((req.from as Json).name, "Alice's laptop");
    assert.equal(
      req.signing,
      scheme === 'ecdsa' ? bytesToHex(sha256(hexToBytes(message))) : message
    );
  });
}

test('a request the user denies: exit 1 with REQUEST_DENIED; a key of no peer: NO_SHARE', async () => {
  const asker = new Pairer(['--relay', relayUrl, '--home', b], ['device', 'serve']);
  try {
    // A second device server on the same home that denies: typed "n".
    killGroup(server.child);
    const kg = cli([
      'device',
      'keygen',
      '--peer',
      'Bob phone',
      '--scheme',
      'ed25519',
      '--relay',
      relayUrl,
      '--home',
      a,
    ]);
    const r = await asker.line();
    assert.equal((r.request as Json).op, 'keygen');
    asker.type('n');
    const res = await kg;
    assert.equal(res.code, 1);
    assert.equal(res.json.error?.code, 'REQUEST_DENIED');
    const none = await cli([
      'device',
      'sign',
      '--key',
      'ab'.repeat(32),
      '--digest',
      'cd'.repeat(32),
      '--purpose',
      'x',
      '--relay',
      relayUrl,
      '--home',
      a,
    ]);
    assert.equal(none.code, 4);
    assert.equal(none.json.error?.code, 'NO_SHARE');
    const unknown = await cli([
      'device',
      'keygen',
      '--peer',
      'Mallory',
      '--scheme',
      'ecdsa',
      '--relay',
      relayUrl,
      '--home',
      a,
    ]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.json.error?.code, 'UNKNOWN_PEER');
  } finally {
    killGroup(asker.child);
  }
});
