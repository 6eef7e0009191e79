/**
 * The CLI end to end: `runCli` in-process against an in-process dev server, with every signature
 * checked by a verifier that is not Tessera's (node:crypto, i.e. OpenSSL, and @noble/curves), and
 * the real binary once (launcher, signals, exit code).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { devToken, loadConfig, type RunningServer, startServer } from '@tessera/server';
import { runCli } from '../src/index.ts';

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const dirs: string[] = [];
function tmp(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `tessera-cli-${name}-`));
  dirs.push(d);
  return d;
}

let srv: RunningServer;
let token: string;
let data: string;
let home: string;

before(async () => {
  data = tmp('data');
  home = tmp('home');
  srv = await startServer(loadConfig({ data, port: 0, dev: true, logLevel: 'silent' }, {}));
  token = await devToken(data, 'alice');
});

after(async () => {
  await srv?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `tessera ARGS` in-process, with an empty environment unless given one. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { code, stdout, stderr };
}

/** The flags of a client command against the test server. */
const as = (h = home, t = token) => ['--server', srv.url, '--token', t, '--home', h];

/** Runs a command with --json that must succeed; stdout must be exactly one JSON object. */
async function ok<T = Record<string, string>>(
  args: string[],
  env: NodeJS.ProcessEnv = {}
): Promise<T> {
  const r = await cli([...args, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trimEnd().split('\n').length, 1, r.stdout);
  return JSON.parse(r.stdout) as T;
}

/** Runs a command with --json that must fail; stdout must be only the JSON error. */
async function fails(
  args: string[],
  exit: number,
  env: NodeJS.ProcessEnv = {}
): Promise<{ code: string; stderr: string }> {
  const r = await cli([...args, '--json'], env);
  assert.equal(r.code, exit, `${r.stdout}${r.stderr}`);
  const body = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  assert.match(r.stderr, /^error/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return { code: body.error.code, stderr: r.stderr };
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const hex = (s: string) => Buffer.from(s).toString('hex');

function ed25519Ok(publicKey: string, messageHex: string, signature: string): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: b64url(hexToBytes(publicKey)) },
    format: 'jwk',
  });
  return verify(null, hexToBytes(messageHex), key, hexToBytes(signature));
}

interface Key {
  keyId: string;
  scheme: string;
  publicKey: string;
}
interface Sig {
  keyId: string;
  signature: string;
  r?: string;
  s?: string;
  recovery?: number;
  der?: string;
}

let ed: Key;
let bip: Key;

test('keygen ed25519 --json prints keyId, scheme and a 32-byte public key; progress goes to stderr', async () => {
  const r = await cli(['keygen', '--scheme', 'ed25519', '--label', 'cli-ed', ...as(), '--json']);
  assert.equal(r.code, 0, r.stderr);
  ed = JSON.parse(r.stdout) as Key;
  assert.deepEqual(Object.keys(ed).sort(), ['keyId', 'publicKey', 'scheme']);
  assert.equal(ed.scheme, 'ed25519');
  assert.match(ed.keyId, /^[0-9a-f]{64}$/);
  assert.match(ed.publicKey, /^[0-9a-f]{64}$/);
  assert.match(r.stderr, /^keygen: round \d\/\d$/m);
});

test('sign --message with the Ed25519 key verifies with node:crypto', async () => {
  const message = hex('hello from the tessera cli');
  const sig = await ok<Sig>(['sign', '--key', ed.keyId, '--message', message, ...as()]);
  assert.deepEqual(Object.keys(sig).sort(), ['keyId', 'signature']);
  assert.equal(sig.keyId, ed.keyId);
  assert.ok(ed25519Ok(ed.publicKey, message, sig.signature));
});

test('bip340 keygen and sign (over WebSocket, --quiet) verify with schnorr.verify', async () => {
  const r = await cli([
    'keygen',
    '--scheme',
    'bip340',
    ...as(),
    '--transport',
    'ws',
    '--quiet',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', '--quiet prints no progress');
  bip = JSON.parse(r.stdout) as Key;
  assert.equal(bip.scheme, 'bip340');
  const message = hex('taproot');
  const sig = await ok<Sig>([
    'sign',
    '--key',
    bip.keyId,
    '--message',
    message,
    ...as(),
    '--transport',
    'ws',
  ]);
  assert.ok(
    schnorr.verify(hexToBytes(sig.signature), hexToBytes(message), hexToBytes(bip.publicKey))
  );
});

test('keys list and keys show return the server records', async () => {
  const { keys } = await ok<{ keys: Key[] }>(['keys', 'list', ...as()]);
  const ids = keys.map((k) => k.keyId);
  assert.ok(ids.includes(ed.keyId) && ids.includes(bip.keyId));
  const shown = await ok<Key & { label: string }>(['keys', 'show', '--key', ed.keyId, ...as()]);
  assert.equal(shown.publicKey, ed.publicKey);
  assert.equal(shown.label, 'cli-ed');
  const human = await cli(['keys', 'list', ...as()]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, new RegExp(`^${ed.keyId}\\s+ed25519`, 'm'));
});

test('status --json (no token) and token --json', async () => {
  const status = await ok<{ version: string; activeSessions: number }>([
    'status',
    '--server',
    srv.url,
  ]);
  assert.equal(typeof status.version, 'string');
  assert.equal(typeof status.activeSessions, 'number');
  const { token: jwt } = await ok(['token', '--data', data, '--sub', 'bob', '--ttl', '60']);
  assert.match(jwt ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
  // The new token works: bob sees none of alice's keys.
  const { keys } = await ok<{ keys: Key[] }>(['keys', 'list', ...as(home, jwt)]);
  assert.deepEqual(keys, []);
});

test('refresh --json moves to a new epoch and the key still signs', async () => {
  const before = await ok(['keys', 'show', '--key', ed.keyId, ...as()]);
  const r = await ok(['refresh', '--key', ed.keyId, ...as()]);
  assert.deepEqual(Object.keys(r).sort(), ['epoch', 'keyId']);
  assert.equal(r.keyId, ed.keyId);
  assert.notEqual(r.epoch, before.epoch);
  const message = hex('after refresh');
  const sig = await ok<Sig>(['sign', '--key', ed.keyId, '--message', message, ...as()]);
  assert.ok(ed25519Ok(ed.publicKey, message, sig.signature));
});

test('backup export/import restores the share into a second home', async () => {
  const out = join(tmp('backup'), 'ed.backup');
  const env = { TESSERA_BACKUP_PASSPHRASE: 'correct horse battery staple' };
  const exportArgs = ['backup', 'export', '--key', ed.keyId, '--out', out, ...as()];
  assert.equal((await fails(exportArgs, 2)).code, 'USAGE', 'the passphrase is required');
  const written = await ok<{ keyId: string; out: string; bytes: number }>(exportArgs, env);
  assert.equal(written.keyId, ed.keyId);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.match((await fails(exportArgs, 2, env)).stderr, /--force/);
  await ok([...exportArgs, '--force'], env);

  const home2 = tmp('home2');
  const importArgs = ['backup', 'import', '--in', out, ...as(home2)];
  assert.equal(
    (await fails(importArgs, 2, { TESSERA_BACKUP_PASSPHRASE: 'wrong passphrase' })).code,
    'INVALID_INPUT'
  );
  const restored = await ok<Key & { epoch: string }>(importArgs, env);
  assert.equal(restored.keyId, ed.keyId);
  assert.equal(restored.publicKey, ed.publicKey);
  const message = hex('signed from the restored share');
  const sig = await ok<Sig>(['sign', '--key', ed.keyId, '--message', message, ...as(home2)]);
  assert.ok(ed25519Ok(ed.publicKey, message, sig.signature));
});

test('bad input exits 2 before any network call', async () => {
  // An unreachable server: reaching the network would exit 3, not 2.
  const nowhere = ['--server', 'http://127.0.0.1:9', '--token', token, '--home', home];
  const key = ['--key', ed.keyId];
  const cases: string[][] = [
    ['sign', ...key, '--digest', 'ab'.repeat(31)],
    ['sign', ...key, '--digest', 'zz'.repeat(32)],
    ['sign', ...key, '--message', 'abc'],
    ['sign', ...key, '--digest', 'ab'.repeat(32), '--message', 'ab'],
    ['sign', ...key],
    ['sign', ...key, '--digest', 'ab'.repeat(32), '--hash', 'keccak256'],
    ['sign', '--digest', 'ab'.repeat(32)],
    ['sign', '--key', 'not-a-key', '--digest', 'ab'.repeat(32)],
    ['keygen', '--scheme', 'rsa'],
    ['keygen'],
    ['refresh'],
    ['keys', 'show'],
    ['frobnicate'],
  ];
  for (const c of cases) {
    const isClient = c[0] !== 'frobnicate';
    assert.equal((await fails([...c, ...(isClient ? nowhere : [])], 2)).code, 'USAGE', c.join(' '));
  }
  const r = await cli(['frobnicate']);
  assert.deepEqual([r.code, r.stdout], [2, '']);
  assert.match(r.stderr, /^error: unknown command 'frobnicate'/);
  assert.equal((await fails(['keys', 'list', '--server', srv.url], 2)).code, 'USAGE', 'no token');
  assert.equal((await cli([])).code, 2);
  assert.equal((await cli(['--help'])).code, 0);
});

test('a bad token exits 1 with the server code UNAUTHORIZED', async () => {
  const r = await fails(['keys', 'list', ...as(home, 'not.a.token')], 1);
  assert.equal(r.code, 'UNAUTHORIZED');
  assert.match(r.stderr, /^error UNAUTHORIZED: /m);
});

test('an unreachable server exits 3; store problems (no share, wrong passphrase) exit 4', async () => {
  const closed = await startServer(
    loadConfig({ data: tmp('closed'), port: 0, dev: true, logLevel: 'silent' }, {})
  );
  const url = closed.url;
  await closed.close();
  assert.equal((await fails(['status', '--server', url], 3)).code, 'TRANSPORT');
  assert.equal(
    (await fails(['keys', 'list', '--server', url, '--token', token], 3)).code,
    'TRANSPORT'
  );
  const empty = tmp('empty');
  assert.equal(
    (await fails(['sign', '--key', ed.keyId, '--message', 'ab', ...as(empty)], 4)).code,
    'NO_SHARE'
  );
  // A passphrase-protected store refuses the wrong passphrase.
  const locked = tmp('locked');
  const k = await ok<Key>(['keygen', '--scheme', 'bip340', ...as(locked)], {
    TESSERA_PASSPHRASE: 'store passphrase',
  });
  const signArgs = ['sign', '--key', k.keyId, '--message', 'ab', ...as(locked)];
  await ok(signArgs, { TESSERA_PASSPHRASE: 'store passphrase' });
  assert.equal(
    (await fails(signArgs, 4, { TESSERA_PASSPHRASE: 'not the passphrase' })).code,
    'BAD_INPUT'
  );
});

test('ECDSA: keygen, then a blind signature over sha256(message) verifies with noble and OpenSSL', async () => {
  const k = await ok<Key>(['keygen', '--scheme', 'ecdsa', ...as()]);
  assert.equal(k.scheme, 'ecdsa');
  const message = Buffer.from('an ECDSA message, hashed by the caller');
  const digest = createHash('sha256').update(message).digest();
  const sig = await ok<Sig>([
    'sign',
    '--key',
    k.keyId,
    '--digest',
    digest.toString('hex'),
    ...as(),
  ]);
  assert.deepEqual(Object.keys(sig).sort(), ['der', 'keyId', 'r', 'recovery', 's', 'signature']);
  assert.ok(
    secp256k1.verify(hexToBytes(sig.signature), digest, hexToBytes(k.publicKey), { prehash: false })
  );
  const point = secp256k1.Point.fromHex(k.publicKey).toBytes(false);
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv: 'secp256k1',
    x: b64url(point.subarray(1, 33)),
    y: b64url(point.subarray(33)),
  };
  assert.ok(
    verify(
      'sha256',
      message,
      createPublicKey({ key: jwk, format: 'jwk' }),
      hexToBytes(sig.der ?? '')
    )
  );
});

test('the binary: server start prints its URL, status answers, SIGTERM exits 0', async (t) => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_'))
  );
  const child = spawn(
    process.execPath,
    [BIN, 'server', 'start', '--port', '0', '--dev', '--data', tmp('bin')],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no listening line in 30 s: ${stderr}`)),
      30_000
    );
    child.stdout.on('data', (b: Buffer) => {
      stdout += b;
      const m = /^listening on (http:\/\/\S+)\n/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  const status = await promisify(execFile)(
    process.execPath,
    [BIN, 'status', '--json', '--server', url],
    { env }
  );
  assert.equal(typeof (JSON.parse(status.stdout) as { version: string }).version, 'string');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
  assert.equal(stdout, `listening on ${url}\n`, 'stdout carries only the listening line');
  assert.match(stderr, /^data in /m);
});
