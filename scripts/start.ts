/**
 * `npm start`: the embedded default in one command. Starts the co-signing server (SQLite under
 * ./data, dev mode: a local JWT key and blind signing allowed), then runs a self-check as a
 * client over real HTTP and WebSocket: a 2-of-2 ECDSA key and a 2-of-2 Ed25519 key are created,
 * used to sign, and each signature is verified by OpenSSL (node:crypto). The server keeps running
 * afterwards (Ctrl-C stops it); `--once` exits after the check (CI), `--port N` picks the port.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { join } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { TesseraClient } from '@tessera/client';
import { FileShareStore, nodeWebSocket } from '@tessera/client/node';
import { devToken, loadConfig, startServer } from '@tessera/server';
import { ensureWalletBuilt } from '../packages/wallet/build.ts';

const args = process.argv.slice(2);
const once = args.includes('--once');
const portArg = args.indexOf('--port');
const port = portArg >= 0 ? Number(args[portArg + 1]) : undefined;

const config = loadConfig({
  dev: true,
  ...(port !== undefined ? { port } : {}),
  logLevel: 'warn',
  wallet: { dir: await ensureWalletBuilt() },
});
const server = await startServer(config);
console.log(`listening on ${server.url}`);
console.log(
  `wallet at ${server.url}/wallet/ (sign in with a token from: npx tessera token --data ${config.data} --sub you)`
);
console.log(`data in ${config.data} (store ${server.store.description})`);

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const message = new TextEncoder().encode(
  'Tessera self-check: signed by a client and the co-signing server'
);

try {
  const token = await devToken(config.data, 'self-check');
  const store = await FileShareStore.open(join(config.data, 'self-check-client'));
  const client = new TesseraClient({ server: server.url, token, store, webSocket: nodeWebSocket });

  let t = performance.now();
  const ecdsaKey = await client.createKey({ scheme: 'ecdsa', label: 'self-check' });
  const keygenMs = performance.now() - t;
  t = performance.now();
  const ecdsaSig = await client.sign(ecdsaKey.keyId, {
    message: Buffer.from(message).toString('hex'),
    hash: 'sha256',
  });
  const signMs = performance.now() - t;
  const point = secp256k1.Point.fromHex(ecdsaKey.publicKey).toBytes(false);
  const ecdsaJwk = {
    kty: 'EC',
    crv: 'secp256k1',
    x: b64url(point.subarray(1, 33)),
    y: b64url(point.subarray(33)),
  };
  const ecdsaOk = verify(
    'sha256',
    message,
    createPublicKey({ key: ecdsaJwk, format: 'jwk' }),
    fromHex(ecdsaSig.der as string)
  );
  console.log(`\necdsa (DKLs23, 2-of-2)   key ${ecdsaKey.keyId}`);
  console.log(`  public key  ${ecdsaKey.publicKey}`);
  console.log(`  sha256(msg) ${createHash('sha256').update(message).digest('hex')}`);
  console.log(`  signature   ${ecdsaSig.signature} (recovery ${ecdsaSig.recovery}) over HTTP`);
  console.log(
    `  OpenSSL verify: ${ecdsaOk ? 'ok' : 'FAILED'}   keygen ${keygenMs.toFixed(0)} ms, sign ${signMs.toFixed(0)} ms`
  );

  t = performance.now();
  const edKey = await client.createKey({ scheme: 'ed25519', label: 'self-check', transport: 'ws' });
  const edSig = await client.sign(
    edKey.keyId,
    { message: Buffer.from(message).toString('hex') },
    { transport: 'ws' }
  );
  const edMs = performance.now() - t;
  const edJwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(fromHex(edKey.publicKey)) };
  const edOk = verify(
    null,
    message,
    createPublicKey({ key: edJwk, format: 'jwk' }),
    fromHex(edSig.signature)
  );
  console.log(`\ned25519 (FROST, 2-of-2)  key ${edKey.keyId}`);
  console.log(`  public key  ${edKey.publicKey}`);
  console.log(`  signature   ${edSig.signature} over WebSocket`);
  console.log(`  OpenSSL verify: ${edOk ? 'ok' : 'FAILED'}   keygen + sign ${edMs.toFixed(0)} ms`);
  if (!ecdsaOk || !edOk) throw new Error('self-check: a signature did not verify');
  console.log(`\nself-check passed. Server: ${server.url} (docs ${server.url}/docs)`);
} catch (e) {
  console.error(`self-check failed: ${(e as Error).message}`);
  await server.close();
  process.exit(1);
}

if (once) {
  await server.close();
} else {
  console.log('serving; Ctrl-C to stop');
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
