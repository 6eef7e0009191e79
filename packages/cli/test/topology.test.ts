/**
 * The 2-of-3 topology through the CLI: both nodes are real `tessera server start --node-id`
 * processes, their identities come from `tessera node identity`, and the client commands
 * (`keygen --topology 2-of-3`, `sign`, `recover`) run as the CLI runs them. Signatures are
 * checked by node:crypto (OpenSSL).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli } from '../src/index.ts';
import { lockDist } from './fixtures/dist-lock.ts';

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];
const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `tessera-2of3-${name}-`));
  dirs.push(d);
  return d;
};

/** `tessera server start …` as its own process; resolves with the URL it prints. */
async function startNode(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [BIN, 'server', 'start', '--port', '0', ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b));
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no listening line in 30 s: ${stderr}`)),
      30_000
    );
    child.stdout?.on('data', (b: Buffer) => {
      stdout += b;
      const m = /^listening on (http:\/\/\S+)\n/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`node exited ${code}: ${stderr}`)));
  });
}

/** `tessera ARGS --json` in this process; must succeed with one JSON object. */
async function ok<T = Record<string, string>>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  let stdout = '';
  let stderr = '';
  const code = await runCli([...args, '--json'], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as T;
}

let env: NodeJS.ProcessEnv;
const d1 = tmp('node1');
const d2 = tmp('node2');

let unlockDist: (() => void) | undefined;

before(async () => {
  // The nodes run the built CLI: dist/ must not be rebuilt meanwhile (install.test.ts).
  unlockDist = await lockDist();
  // Node 2 trusts the tokens of node 1's dev key (`tessera token --data D1`), as both nodes trust
  // a gateway's key in production.
  const node1 = await startNode(['--node-id', 'node1', '--dev', '--data', d1]);
  const dev = JSON.parse(readFileSync(join(d1, 'dev-jwt-key.json'), 'utf8')) as {
    publicJwk: unknown;
  };
  const jwks = join(tmp('jwks'), 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [dev.publicJwk] }));
  const node2 = await startNode([
    '--node-id',
    'node2',
    '--dev',
    '--data',
    d2,
    '--trust-jwks',
    jwks,
  ]);
  const identity = async (data: string) => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      BIN,
      'node',
      'identity',
      '--data',
      data,
      '--json',
    ]);
    const id = JSON.parse(stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(id).sort(), ['ed25519', 'fingerprint', 'x25519']);
    return id.fingerprint as string;
  };
  const { token } = await ok<{ token: string }>(['token', '--data', d1, '--sub', 'carol'], {});
  env = {
    TESSERA_SERVER: node1,
    TESSERA_TOKEN: token,
    TESSERA_NODE2_URL: node2,
    TESSERA_NODE1_FINGERPRINT: await identity(d1),
    TESSERA_NODE2_FINGERPRINT: await identity(d2),
    TESSERA_PASSPHRASE: 'correct horse battery staple 2-of-3',
  };
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  unlockDist?.();
});

const ed25519Ok = (publicKey: string, message: string, signature: string) =>
  verify(
    null,
    Buffer.from(message, 'hex'),
    createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'hex').toString('base64url') },
      format: 'jwk',
    }),
    Buffer.from(signature, 'hex')
  );

test('keygen --topology 2-of-3, sign, recover on an empty device, and the old key id is retired', async () => {
  const home = tmp('home');
  const key = await ok<{ keyId: string; publicKey: string }>(
    ['keygen', '--scheme', 'ed25519', '--topology', '2-of-3', '--home', home],
    env
  );
  const message = Buffer.from('2-of-3 from the cli').toString('hex');
  const sig = await ok<{ signature: string }>(
    ['sign', '--key', key.keyId, '--message', message, '--home', home],
    env
  );
  assert.ok(ed25519Ok(key.publicKey, message, sig.signature));

  const device = tmp('device');
  const recovered = await ok<{ keyId: string; publicKey: string }>(
    ['recover', '--public-key', key.publicKey, '--home', device],
    env
  );
  assert.notEqual(recovered.keyId, key.keyId);
  assert.equal(recovered.publicKey, key.publicKey);
  const again = await ok<{ signature: string }>(
    ['sign', '--key', recovered.keyId, '--message', message, '--home', device],
    env
  );
  assert.ok(ed25519Ok(key.publicKey, message, again.signature));

  let stdout = '';
  const code = await runCli(
    ['sign', '--key', key.keyId, '--message', message, '--home', home, '--json'],
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, env }
  );
  assert.notEqual(code, 0);
  assert.equal((JSON.parse(stdout) as { error: { code: string } }).error.code, 'KEY_RETIRED');
});
