/**
 * `tessera sol` and `tessera btc` end to end (in-process CLI, in-process dev server): a Solana
 * transfer signed with a server key, decoded and verified with node:crypto; PSBTs signed for a
 * P2WPKH output of a server ECDSA key and a P2TR output of a local BIP-340 key, each final
 * witness verified against a sighash the library recomputes.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { Address, OutScript, p2wpkh, SigHash, Transaction } from '@scure/btc-signer';
import {
  getBase58Encoder,
  getCompiledTransactionMessageDecoder,
  getTransactionDecoder,
} from '@solana/kit';
import { btcNetwork } from '@tessera/chains';
import { devToken, loadConfig, type RunningServer, startServer } from '@tessera/server';
import { runJson } from './run-json.ts';

const REGTEST = btcNetwork('regtest');
let srv: RunningServer;
let env: NodeJS.ProcessEnv;
const dirs: string[] = [];
const tmp = (n: string) => {
  const d = mkdtempSync(join(tmpdir(), `tessera-chains-${n}-`));
  dirs.push(d);
  return d;
};

const cli = (args: string[]) => runJson(args, env);

before(async () => {
  const data = tmp('data');
  srv = await startServer(loadConfig({ data, port: 0, dev: true, logLevel: 'silent' }, {}));
  env = {
    TESSERA_SERVER: srv.url,
    TESSERA_TOKEN: await devToken(data, 'chains-user'),
    TESSERA_HOME: tmp('home'),
    TESSERA_PASSPHRASE: 'correct horse battery staple',
  };
});
after(async () => {
  await srv.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('sol: a transfer signed with a server key verifies and decodes', async () => {
  const k = await cli(['keygen', '--scheme', 'ed25519']);
  const keyId = k.json.keyId as string;
  const { address } = (await cli(['sol', 'address', '--key', keyId])).json as { address: string };
  const to = (await cli(['sol', 'address', '--key', keyId])).json.address as string;
  const blockhash = 'EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N';
  const r = await cli([
    'sol',
    'sign',
    '--key',
    keyId,
    '--to',
    to,
    '--amount',
    '0.5',
    '--blockhash',
    blockhash,
  ]);
  assert.equal(r.code, 0, JSON.stringify(r.json));
  assert.equal(r.json.from, address);
  const tx = getTransactionDecoder().decode(Buffer.from(r.json.transaction as string, 'base64'));
  const message = getCompiledTransactionMessageDecoder().decode(tx.messageBytes);
  assert.equal(message.staticAccounts[0], address, 'the key pays the fee');
  assert.equal(message.lifetimeToken, blockhash);
  const sig = tx.signatures[address as keyof typeof tx.signatures] as Uint8Array;
  const pk = getBase58Encoder().encode(address);
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk).toString('base64url') };
  assert.ok(
    verify(null, new Uint8Array(tx.messageBytes), createPublicKey({ key: jwk, format: 'jwk' }), sig)
  );
});

/** A PSBT spending one fake UTXO of `script` to a foreign regtest address. */
function psbtSpending(script: Uint8Array): string {
  const tx = new Transaction();
  tx.addInput({
    txid: new Uint8Array(32).fill(7),
    index: 0,
    witnessUtxo: { script, amount: 50_000n },
  });
  const other = p2wpkh(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey()), REGTEST);
  tx.addOutputAddress(other.address, 49_000n, REGTEST);
  return Buffer.from(tx.toPSBT()).toString('base64');
}

test('btc: P2WPKH with a server ECDSA key, P2TR with a local BIP-340 key', async () => {
  const k = await cli(['keygen', '--scheme', 'ecdsa']);
  const keyId = k.json.keyId as string;
  const a = await cli(['btc', 'address', '--key', keyId, '--network', 'regtest']);
  assert.match(a.json.address as string, /^bcrt1q/);
  assert.equal(a.json.type, 'p2wpkh');
  const script = OutScript.encode(Address(REGTEST).decode(a.json.address as string));
  const s = await cli([
    'btc',
    'sign-psbt',
    '--key',
    keyId,
    '--psbt',
    psbtSpending(script),
    '--network',
    'regtest',
  ]);
  assert.equal(s.code, 0, JSON.stringify(s.json));
  assert.equal(s.json.complete, true);
  const tx = Transaction.fromRaw(Buffer.from(s.json.tx as string, 'hex'), {
    allowUnknownOutputs: true,
  });
  const [der, pub] = tx.getInput(0).finalScriptWitness as Uint8Array[];
  const sighash = tx.preimageWitnessV0(
    0,
    OutScript.encode({ type: 'pkh', hash: p2wpkh(pub as Uint8Array).hash }),
    SigHash.ALL,
    50_000n
  );
  assert.ok(
    secp256k1.verify((der as Uint8Array).subarray(0, -1), sighash, pub as Uint8Array, {
      prehash: false,
      format: 'der',
    })
  );

  // P2TR with a local key, then with a key shared with the server (both sides tweak: a taproot
  // payload); each witness verified against the sighash the library recomputes.
  const file = join(tmp('local'), 'taproot.json');
  assert.equal((await cli(['keygen', '--scheme', 'bip340', '--local', file])).code, 0);
  const remote = (await cli(['keygen', '--scheme', 'bip340'])).json.keyId as string;
  for (const key of [
    ['--local', file],
    ['--key', remote],
  ]) {
    const t = await cli(['btc', 'address', ...key, '--network', 'regtest']);
    assert.match(t.json.address as string, /^bcrt1p/);
    const trScript = OutScript.encode(Address(REGTEST).decode(t.json.address as string));
    const psbt = psbtSpending(trScript);
    const ts = await cli(['btc', 'sign-psbt', ...key, '--psbt', psbt, '--network', 'regtest']);
    assert.equal(ts.code, 0, JSON.stringify(ts.json));
    const ttx = Transaction.fromRaw(Buffer.from(ts.json.tx as string, 'hex'), {
      allowUnknownOutputs: true,
    });
    const [sig] = ttx.getInput(0).finalScriptWitness as Uint8Array[];
    const trSighash = ttx.preimageWitnessV1(0, [trScript], SigHash.DEFAULT, [50_000n]);
    assert.ok(schnorr.verify((sig as Uint8Array).subarray(0, 64), trSighash, trScript.subarray(2)));
  }
  const audit = await srv.store.listAudit({ keyId: remote, limit: 5 });
  assert.ok(audit.some((e) => e.action === 'sign.start' && e.details?.kind === 'taproot'));
});
