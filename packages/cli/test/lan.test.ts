/**
 * Two devices on a LAN with no relay: two network namespaces joined by a veth pair (mDNS does not
 * work over loopback). Device A pairs with `--lan` (it listens and advertises `available`), B finds
 * it with `device discover` and joins; A then serves with `--lan` (advertised `ready`) and B
 * generates a key in each scheme and signs with it, finding A by mDNS; every signature is verified
 * by @noble/curves. Needs root (network namespaces): under CI=true it must run; elsewhere it is
 * skipped when namespaces cannot be made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { cleanUp, cli, type Json, Pairer, tmp } from './fixtures/devices.ts';

const CI = process.env.CI === 'true';
const tag = randomBytes(3).toString('hex');
const NS_A = `tsa-${tag}`;
const NS_B = `tsb-${tag}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** Makes the two namespaces and the veth pair between them; false if this host cannot. */
function makeLan(): boolean {
  try {
    ip('netns', 'add', NS_A);
    ip('netns', 'add', NS_B);
    ip('link', 'add', `va-${tag}`, 'type', 'veth', 'peer', 'name', `vb-${tag}`);
    ip('link', 'set', `va-${tag}`, 'netns', NS_A);
    ip('link', 'set', `vb-${tag}`, 'netns', NS_B);
    for (const [ns, dev, addr] of [
      [NS_A, `va-${tag}`, '10.77.0.1/24'],
      [NS_B, `vb-${tag}`, '10.77.0.2/24'],
    ] as const) {
      ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up', 'multicast', 'on');
      // mDNS goes to 224.0.0.251: without a default route it needs one of its own.
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev);
    }
    return true;
  } catch (e) {
    if (CI) throw e;
    return false;
  }
}

const lan = makeLan();
const skip = lan
  ? false
  : 'cannot create network namespaces here (needs root; CI=true requires it)';

let a = '';
let b = '';

before(() => {
  if (!lan) return;
  a = tmp('lan-a');
  b = tmp('lan-b');
});

after(() => {
  cleanUp();
  for (const ns of [NS_A, NS_B])
    try {
      ip('netns', 'del', ns);
    } catch {}
});

test('LAN: discover, pair, key generation in three schemes and signing, no relay', {
  skip,
}, async () => {
  assert.equal((await cli(['device', 'init', '--name', 'Alice desk', '--home', a])).code, 0);
  assert.equal((await cli(['device', 'init', '--name', 'Bob phone', '--home', b])).code, 0);

  // A listens and advertises "available"; B sees it on the LAN, then joins its invite.
  const init = new Pairer(['--lan', '--home', a], ['device', 'pair'], NS_A);
  const { invite } = await init.line();
  assert.equal(typeof invite, 'string');
  const seen = await cli(['device', 'discover', '--timeout', '3', '--home', b], 30_000, NS_B);
  assert.equal(seen.code, 0, seen.stderr);
  const offered = (seen.json.devices as Json[]).find((d) => d.name === 'Alice desk');
  assert.ok(offered, JSON.stringify(seen.json));
  assert.equal(offered.status, 'available');
  assert.match(String(offered.url), /^http:\/\/10\.77\.0\.1:\d+$/);
  assert.equal(offered.paired, false);
  const resp = new Pairer(
    ['--lan', '--home', b, '--join', invite as string],
    ['device', 'pair'],
    NS_B
  );
  const ci = await init.line();
  const cr = await resp.line();
  assert.equal(ci.code, cr.code);
  init.type(cr.code as string);
  resp.type(ci.code as string);
  const [ri, rr] = await Promise.all([init.end(), resp.end()]);
  assert.equal(ri.code, 0, JSON.stringify(ri.json));
  assert.equal(rr.code, 0, JSON.stringify(rr.json));

  // A serves on the LAN; B finds it (paired now) and runs key generation and signing with it.
  const server = new Pairer(['--lan', '--approve', '--home', a], ['device', 'serve'], NS_A);
  const listening = await server.line();
  assert.match(String(listening.listening), /^http:\/\/10\.77\.0\.1:\d+$/);
  const ready = await cli(['device', 'discover', '--home', b], 30_000, NS_B);
  const alice = (ready.json.devices as Json[]).find((d) => d.name === 'Alice desk');
  assert.equal(alice?.status, 'ready');
  assert.equal(alice?.paired, true);
  for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
    const kg = await cli(
      ['device', 'keygen', '--lan', '--peer', 'Alice desk', '--scheme', scheme, '--home', b],
      120_000,
      NS_B
    );
    assert.equal(kg.code, 0, kg.stderr);
    assert.equal(kg.json.scheme, scheme);
    const message = bytesToHex(randomBytes(32));
    const sg = await cli(
      [
        'device',
        'sign',
        '--lan',
        '--key',
        kg.json.keyId as string,
        '--message',
        message,
        '--purpose',
        'LAN test',
        '--home',
        b,
      ],
      120_000,
      NS_B
    );
    assert.equal(sg.code, 0, sg.stderr);
    const sig = hexToBytes(sg.json.signature as string);
    const pub = hexToBytes(kg.json.publicKey as string);
    const m = hexToBytes(message);
    assert.ok(
      scheme === 'ecdsa'
        ? secp256k1.verify(sig, sha256(m), pub, { prehash: false })
        : scheme === 'ed25519'
          ? ed25519.verify(sig, m, pub)
          : schnorr.verify(sig, m, pub),
      `${scheme} signature verifies`
    );
  }
  // Not on this LAN: a clear refusal, not a hang.
  server.child.kill('SIGTERM');
  await server.exit;
  const gone = await cli(
    ['device', 'keygen', '--lan', '--peer', 'Alice desk', '--scheme', 'ed25519', '--home', b],
    60_000,
    NS_B
  );
  assert.equal(gone.code, 1);
  assert.equal(gone.json.error?.code, 'PEER_NOT_FOUND');
});
