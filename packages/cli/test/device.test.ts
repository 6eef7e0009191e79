/**
 * `tessera device init | pair | peers` as real processes (the launcher in bin/) against a real
 * `tessera relay start --dev` process: a pairing that succeeds, a mismatch and a refusal that
 * leave nothing stored on either side, and the lockout after three failures.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  cleanUp,
  cli,
  type Json,
  killGroup,
  Pairer,
  startPair,
  startRelayProcess,
  tmp,
  twoDevices,
} from './fixtures/devices.ts';

let relayUrl = '';

before(async () => {
  relayUrl = await startRelayProcess();
});

after(cleanUp);

async function peers(home: string): Promise<Json[]> {
  const r = await cli(['device', 'peers', '--home', home]);
  assert.equal(r.code, 0);
  return r.json.peers as Json[];
}

test('device init creates the identity (0600) and refuses to overwrite it', async () => {
  const h = tmp('init');
  const r = await cli(['device', 'init', '--name', "Alice's laptop", '--home', h]);
  assert.equal(r.code, 0);
  assert.equal(r.json.name, "Alice's laptop");
  assert.match(String(r.json.fingerprint), /^[0-9a-f]{64}$/);
  assert.match(String(r.json.publicKey), /^[0-9a-f]{64}$/);
  assert.equal(statSync(join(h, 'device.json')).mode & 0o777, 0o600);
  const again = await cli(['device', 'init', '--name', 'other', '--home', h]);
  assert.equal(again.code, 1);
  assert.equal(again.json.error?.code, 'DEVICE_EXISTS');
  const none = await cli(['device', 'pair', '--relay', relayUrl, '--home', tmp('none')]);
  assert.equal(none.json.error?.code, 'NO_DEVICE');
  assert.deepEqual(await peers(tmp('empty')), []);
});

test('two devices pair over the relay: equal codes, each pins the other', async () => {
  const { a, b, fa, fb } = await twoDevices('ok');
  const { init, resp, codeI, codeR } = await startPair(relayUrl, a, b);
  assert.equal(codeI, codeR);
  init.type(codeR);
  resp.type(codeI);
  const [ri, rr] = await Promise.all([init.end(), resp.end()]);
  assert.equal(ri.code, 0, JSON.stringify(ri.json));
  assert.equal(rr.code, 0, JSON.stringify(rr.json));
  assert.deepEqual(ri.json, { peer: 'Bob phone', fingerprint: fb });
  assert.deepEqual(rr.json, { peer: "Alice's laptop", fingerprint: fa });
  const pa = await peers(a);
  const pb = await peers(b);
  assert.deepEqual(
    pa.map((p) => [p.name, p.fingerprint]),
    [['Bob phone', fb]]
  );
  assert.deepEqual(
    pb.map((p) => [p.name, p.fingerprint]),
    [["Alice's laptop", fa]]
  );
  assert.equal(typeof pa[0]?.pairedAt, 'number');
});

/** One failed attempt: `wrongSide` types `answer`, the other side types the right code. */
async function failedAttempt(a: string, b: string, wrongSide: 'init' | 'resp', answer: string) {
  const { init, resp, codeI, codeR } = await startPair(relayUrl, a, b);
  init.type(wrongSide === 'init' ? answer : codeR);
  resp.type(wrongSide === 'resp' ? answer : codeI);
  return Promise.all([init.end(), resp.end()]);
}

test('a mismatch on one side: both exit 1 and nothing is stored on either', async () => {
  const { a, b } = await twoDevices('mismatch');
  const [ri, rr] = await failedAttempt(a, b, 'resp', '000000x');
  assert.equal(ri.code, 1);
  assert.equal(rr.code, 1);
  assert.equal(rr.json.error?.code, 'CODE_MISMATCH');
  assert.equal(ri.json.error?.code, 'PEER_REFUSED');
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});

test('a refusal (n): both exit 1 and nothing is stored on either', async () => {
  const { a, b } = await twoDevices('refuse');
  const [ri, rr] = await failedAttempt(a, b, 'init', 'n');
  assert.equal(ri.code, 1);
  assert.equal(rr.code, 1);
  assert.equal(ri.json.error?.code, 'PAIRING_REFUSED');
  assert.equal(rr.json.error?.code, 'PEER_REFUSED');
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});

test('three failures in 10 minutes lock pairing: PAIRING_LOCKED on both devices', async () => {
  const { a, b } = await twoDevices('lock');
  for (let i = 0; i < 3; i++) {
    const [ri, rr] = await failedAttempt(a, b, i % 2 ? 'init' : 'resp', 'n');
    assert.equal(ri.code, 1);
    assert.equal(rr.code, 1);
  }
  const ri = await cli(['device', 'pair', '--relay', relayUrl, '--home', a]);
  assert.equal(ri.code, 1);
  assert.equal(ri.json.error?.code, 'PAIRING_LOCKED');
  // The responder is locked too: it refuses before joining (the invite is not even used).
  const other = tmp('lock-c');
  await cli(['device', 'init', '--name', 'Carol', '--home', other]);
  const c = new Pairer(['--relay', relayUrl, '--home', other]);
  const { invite } = await c.line();
  const rr = await cli(['device', 'pair', '--home', b, '--join', invite as string]);
  assert.equal(rr.code, 1);
  assert.equal(rr.json.error?.code, 'PAIRING_LOCKED');
  killGroup(c.child);
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});

test('a man in the middle who holds the invite pairs with each side: the two codes differ, so nothing is paired', async () => {
  // The worst case for the relay path: the attacker read the invite (a QR code over a shoulder)
  // and runs the pairing as the other device with each side, with identities of his own, so he
  // can swap every ephemeral key. The commitment makes each side's code a fresh random value he
  // cannot steer: the codes the two users compare differ (equal with probability 10^-6).
  const { a, b } = await twoDevices('mitm');
  const { DeviceHome, pairAsInitiator, pairAsResponder } = await import('@tessera/client/node');
  const m1 = new DeviceHome(tmp('mitm-m1'));
  const m2 = new DeviceHome(tmp('mitm-m2'));
  m1.init('Bob phone');
  m2.init("Alice's laptop");
  const init = new Pairer(['--relay', relayUrl, '--home', a]);
  const { invite } = await init.line();
  const attackerCodes: string[] = [];
  // Toward A: the attacker answers A's invite as "Bob phone".
  const towardA = pairAsResponder({
    home: m1,
    device: m1.load(),
    invite: invite as string,
    timeoutMs: 60_000,
    confirmCode: async (code) => {
      attackerCodes.push(code);
      return true;
    },
  }).catch((e: Error) => e);
  // Toward B: the attacker starts a pairing of his own as "Alice's laptop" and hands B its invite.
  let inviteB!: (s: string) => void;
  const gotInviteB = new Promise<string>((r) => {
    inviteB = r;
  });
  const towardB = pairAsInitiator({
    home: m2,
    device: m2.load(),
    relay: relayUrl,
    timeoutMs: 60_000,
    onInvite: inviteB,
    confirmCode: async (code) => {
      attackerCodes.push(code);
      return true;
    },
  }).catch((e: Error) => e);
  const resp = new Pairer(['--relay', relayUrl, '--home', b, '--join', await gotInviteB]);
  const codeA = (await init.line()).code as string;
  const codeB = (await resp.line()).code as string;
  assert.match(codeA, /^\d{6}$/);
  assert.match(codeB, /^\d{6}$/);
  assert.notEqual(codeA, codeB, 'the codes the two users compare differ');
  // Each user types the code the other device shows: both refuse, nothing is stored.
  init.type(codeB);
  resp.type(codeA);
  const [ri, rr] = await Promise.all([init.end(), resp.end()]);
  assert.equal(ri.code, 1);
  assert.equal(rr.code, 1);
  assert.equal(ri.json.error?.code, 'CODE_MISMATCH');
  assert.equal(rr.json.error?.code, 'CODE_MISMATCH');
  await Promise.all([towardA, towardB]);
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});
