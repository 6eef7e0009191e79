/**
 * `tessera gateway init` and `tessera gateway start` as real processes (the launcher in
 * packages/cli/bin): init's JSON line and key file, its refusal to replace a key, start's usage
 * errors, two instances on one data directory answering the same requests alike, and a clean
 * exit on SIGTERM.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bytesToHex } from '@noble/hashes/utils.js';
import { local } from '@tessera/core';
import { sealedShare } from './fixtures.ts';
import { flipByte } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../cli/bin/tessera.js', import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tessera-gw-cli-'));
const data = join(dir, 'dg');
const children: ChildProcess[] = [];

const ENV = {
  TESSERA_GATEWAY_NODE1_URL: 'http://127.0.0.1:9',
  TESSERA_GATEWAY_NODE2_URL: 'http://127.0.0.1:9',
  TESSERA_GATEWAY_NODE1_FINGERPRINT: 'ab'.repeat(32),
  TESSERA_GATEWAY_NODE2_FINGERPRINT: 'cd'.repeat(32),
  TESSERA_GATEWAY_API_KEYS: 'k1,k2',
};

/** `tessera ARGS`, its exit code and output, never throwing on a failure exit. */
async function tessera(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** `tessera gateway start` in the background, once it printed `listening on URL`. */
function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'gateway', 'start', '--data', data, '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited early (${code})`)));
  });
}

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('init --json prints exactly {"jwks": DG/gateway.jwks.json} and writes a 0600 key; a second init is refused', async () => {
  const r = await tessera(['gateway', 'init', '--data', data, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${JSON.stringify({ jwks: join(data, 'gateway.jwks.json') })}\n`);
  assert.equal(statSync(join(data, 'gateway-key.json')).mode & 0o777, 0o600);
  const again = await tessera(['gateway', 'init', '--data', data, '--json']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--force/);
});

test('start without its environment is a usage error naming what is missing', async () => {
  const { TESSERA_GATEWAY_API_KEYS: _, ...noKeys } = ENV;
  const r = await tessera(['gateway', 'start', '--data', data, '--port', '0'], noKeys);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TESSERA_GATEWAY_API_KEYS/);
  const r2 = await tessera(['gateway', 'start', '--data', data, '--port', '0'], {
    ...ENV,
    TESSERA_GATEWAY_NODE2_URL: '',
  });
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /TESSERA_GATEWAY_NODE2_URL/);
  assert.doesNotMatch(r2.stderr, /\n\s+at /, 'no stack trace');
});

let a: { child: ChildProcess; url: string };
let b: { child: ChildProcess; url: string };

test('two instances on one data directory: health, OpenAPI, docs, and the validate routes answer alike', async () => {
  [a, b] = await Promise.all([start(ENV), start(ENV)]);
  const password = 'the user password';
  const [share] = await local.keygen('ed25519', { threshold: 2, parties: 3 });
  const s = share as NonNullable<typeof share>;
  const sealed = await sealedShare(s.toBytes(), {
    scheme: 'ed25519',
    keyId: s.keyIdHex,
    epoch: bytesToHex(s.epoch),
    password,
  });
  const post = async (url: string, path: string, body: unknown, key = 'k2') => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  for (const { url } of [a, b]) {
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: object };
    assert.ok('/v3/wallet/sign/mta' in spec.paths);
    const docs = await fetch(`${url}/docs/`);
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.deepEqual(
      (
        await post(url, '/v3/wallet/validate/password', {
          secretStore: sealed.secretStore,
          password,
        })
      ).body,
      { valid: true }
    );
    assert.deepEqual(
      (
        await post(url, '/v3/wallet/validate/password', {
          secretStore: sealed.secretStore,
          password: 'nope',
        })
      ).body,
      { valid: false }
    );
    const shareBody = {
      encryptedShare: sealed.encryptedShare,
      secretStore: sealed.secretStore,
      password,
    };
    assert.deepEqual((await post(url, '/v3/wallet/validate/share', shareBody)).body, {
      valid: true,
    });
    assert.deepEqual(
      (
        await post(url, '/v3/wallet/validate/share', {
          ...shareBody,
          encryptedShare: flipByte(sealed.encryptedShare, 1000, 4),
        })
      ).body,
      { valid: false, reason: 'SHARE_CORRUPTED' }
    );
    const denied = await post(url, '/v3/wallet/validate/share', shareBody, 'k3');
    assert.equal(denied.status, 401);
  }
});

test('while passwords are hashed, /health answers at once (Argon2id runs on worker threads)', async () => {
  const { url } = a;
  const sealed = await sealedShare(new Uint8Array(64), {
    scheme: 'ed25519',
    password: 'x'.repeat(8),
  });
  const hashing = Array.from({ length: 6 }, (_, i) =>
    fetch(`${url}/v3/wallet/validate/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k1' },
      body: JSON.stringify({ secretStore: sealed.secretStore, password: `guess ${i}` }),
    }).then((r) => r.json())
  );
  let worst = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    assert.equal((await fetch(`${url}/health`)).status, 200);
    worst = Math.max(worst, performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(await Promise.all(hashing), Array(6).fill({ valid: false }));
  assert.ok(worst < 150, `/health took ${worst.toFixed(0)} ms while hashing`);
});

test('SIGTERM stops an instance cleanly (exit 0)', async () => {
  for (const { child } of [a, b]) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  }
});
