/**
 * `tessera attest verify` on the real AWS documents the client's tests carry (their source is
 * noted in packages/client/test/fixtures/nitro.ts): base64 and raw files, `--at` in unix seconds
 * and ISO form, pinned PCRs and nonce, and the JSON refusal with exit code 1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { runJson } from './run-json.ts';

const NITRO = new URL('../../client/test/fixtures/nitro/', import.meta.url);
const RELEASE_B64 = new URL('nitro-release.b64', NITRO).pathname;
const DEBUG_B64 = new URL('nitro-debug.b64', NITRO).pathname;
const RELEASE_PCR0 =
  'e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a';
const dir = mkdtempSync(join(tmpdir(), 'tessera-attest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('attest verify: the release document at its time, from base64 and from raw bytes', async () => {
  const raw = join(dir, 'release.cbor');
  writeFileSync(raw, Buffer.from(readFileSync(RELEASE_B64, 'utf8').trim(), 'base64'));
  for (const [doc, at] of [
    [RELEASE_B64, '1725719859.545'],
    [raw, '2024-09-07T14:37:39.545Z'],
  ] as const) {
    const { code, json } = await runJson(
      [
        'attest',
        'verify',
        '--doc',
        doc,
        '--at',
        at,
        '--pcr0',
        RELEASE_PCR0,
        '--nonce',
        '01'.repeat(1024),
      ],
      {}
    );
    assert.equal(code, 0, JSON.stringify(json));
    assert.equal(json.valid, true);
    assert.equal(json.moduleId, 'i-0a22e5c5f24d22174-enc0191cceb4289903f');
    assert.equal(json.timestamp, 1725719859545);
    assert.equal((json.pcrs as Record<string, string>)['0'], RELEASE_PCR0);
    for (const f of ['userData', 'nonce', 'publicKey']) assert.equal(json[f], '01'.repeat(1024));
  }
});

test('attest verify: refusals are one JSON error and exit code 1', async () => {
  const cases: [string[], string][] = [
    [['--doc', RELEASE_B64], 'ATTESTATION_EXPIRED'],
    [['--doc', RELEASE_B64, '--at', '1725719859.545', '--nonce', 'abcd'], 'ATTESTATION_NONCE'],
    [
      ['--doc', DEBUG_B64, '--at', '2024-09-07T14:38:06.508Z', '--pcr0', RELEASE_PCR0],
      'ATTESTATION_PCR',
    ],
  ];
  const garbage = join(dir, 'garbage.b64');
  writeFileSync(garbage, Buffer.from('not a document').toString('base64'));
  cases.push([['--doc', garbage], 'ATTESTATION_FORMAT']);
  cases.push([['--doc', join(dir, 'missing')], 'BAD_DOCUMENT']);
  for (const [args, want] of cases) {
    const { code, json } = await runJson(['attest', 'verify', ...args], {});
    assert.equal(code, 1, `${args.join(' ')}: ${JSON.stringify(json)}`);
    assert.equal(json.error?.code, want);
  }
  const bad = await runJson(['attest', 'verify', '--doc', RELEASE_B64, '--pcr0', 'abcd'], {});
  assert.equal(bad.code, 2);
});

test('the binary: attest verify prints the JSON answer', async () => {
  const bin = new URL('../bin/tessera.js', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [bin, 'attest', 'verify', '--doc', RELEASE_B64, '--at', '1725719859.545', '--json'],
    { env: { ...process.env, NODE_OPTIONS: '' } }
  );
  const json = JSON.parse(stdout) as { valid: boolean; pcrs: Record<string, string> };
  assert.equal(json.valid, true);
  assert.equal(json.pcrs['0'], RELEASE_PCR0);
});
