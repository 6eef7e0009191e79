/**
 * `tessera relay start` as a real process (the launcher in packages/cli/bin): `--dev --port 0`
 * prints `listening on URL` and answers health; without `--dev` a Redis URL is required (a usage
 * error, no stack trace); SIGTERM exits cleanly.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { BIN, killGroup, startCli } from './helpers.ts';

const run = promisify(execFile);
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) killGroup(c, 'SIGKILL');
});

test('tessera relay start --dev --port 0 answers health, metrics and the OpenAPI document', async () => {
  const { child, url } = await startCli(['--dev'], {}, children);
  const health = await fetch(`${url}/v1/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true, store: 'memory' });
  const metrics = await fetch(`${url}/metrics`);
  assert.match(await metrics.text(), /tessera_relay_messages_total/);
  const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: object };
  assert.ok('/rooms/{id}/subscribe' in doc.paths);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});

test('without --dev a Redis URL is required: a usage error naming it', async () => {
  const env = { ...process.env, TESSERA_RELAY_REDIS: '' };
  const r = await run(process.execPath, [BIN, 'relay', 'start', '--port', '0'], { env }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /TESSERA_RELAY_REDIS/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
