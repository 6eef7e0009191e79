/**
 * libsecp256k1's `secp256k1_ecdh` and `secp256k1_ec_pubkey_create`, as the system's library was
 * built, take no branch and read no memory at an index that depends on the secret scalar
 * (valgrind memcheck with the scalar marked undefined, as libsecp256k1's ctime tests do). The
 * `secp256k1` npm package's 2019 snapshot fails this check in `ecmult_const`; that is why the
 * addon links the system's library instead.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const ready =
  has('valgrind', ['--version']) &&
  has('cc', ['--version']) &&
  has('pkg-config', ['--exists', 'libsecp256k1']);

test('no secret-dependent branch or index in secp256k1_ecdh and secp256k1_ec_pubkey_create (valgrind)', {
  skip:
    ready || process.env.CI === 'true'
      ? false
      : 'needs valgrind, a C compiler and libsecp256k1-dev (pkg-config)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ct-'));
  try {
    const source = fileURLToPath(new URL('./fixtures/ct-check.c', import.meta.url));
    const bin = join(dir, 'ct-check');
    const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'libsecp256k1'], {
      encoding: 'utf8',
    });
    assert.equal(flags.status, 0, 'pkg-config finds libsecp256k1');
    const cc = spawnSync(
      'cc',
      ['-O2', '-g', '-o', bin, source, ...flags.stdout.trim().split(/\s+/).filter(Boolean)],
      { encoding: 'utf8' }
    );
    assert.equal(cc.status, 0, cc.stderr);
    const vg = spawnSync('valgrind', ['--error-exitcode=42', '--track-origins=yes', bin], {
      encoding: 'utf8',
    });
    assert.equal(vg.stdout.trim(), 'checked');
    assert.doesNotMatch(vg.stderr, /Conditional jump|uninitialised value|Invalid read/);
    assert.equal(vg.status, 0, vg.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
