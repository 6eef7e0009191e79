/**
 * libsecp256k1 as core's secp256k1 backend: byte-identical to @noble/curves on random inputs for
 * every operation it provides, strict about what it decodes, loud about what it cannot do, and the
 * whole ECDSA suite of core passing with it installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { nobleSecp256k1, secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import {
  BackendUnavailable,
  installSecp256k1Backend,
  libsecp256k1Built,
  loadLibsecp256k1,
  SECP256K1_BACKENDS,
} from '@tessera/secp256k1-node';
import {
  describeSameAsNoble,
  runCoreEcdsaSuiteWith,
} from '../../core/test/fixtures/secp256k1-backend-suite.ts';

const Point = secp256k1.Point;
const PKG = fileURLToPath(new URL('..', import.meta.url));
const built = libsecp256k1Built();
/** Outside CI a machine without libsecp256k1 skips what needs the addon; CI must have it. */
const needsAddon = {
  skip:
    built || process.env.CI === 'true'
      ? false
      : 'libsecp256k1 addon not built (apt install libsecp256k1-dev, then npm rebuild @tessera/secp256k1-node)',
};
const lib = built || process.env.CI === 'true' ? loadLibsecp256k1() : nobleSecp256k1;

test('@tessera/secp256k1-node exports', async () => {
  assert.deepEqual(Object.keys(await import('@tessera/secp256k1-node')).sort(), [
    'BackendUnavailable',
    'SECP256K1_BACKENDS',
    'installSecp256k1Backend',
    'libsecp256k1Built',
    'loadLibsecp256k1',
    'startCoreWorkers',
  ]);
});

describeSameAsNoble(() => lib, needsAddon);

describe('installation', () => {
  test(
    'auto is libsecp256k1 when built, noble on request, an unknown name refused',
    needsAddon,
    () => {
      try {
        assert.deepEqual(SECP256K1_BACKENDS, [
          'auto',
          'libsecp256k1',
          'libsecp256k1-wasm',
          'noble',
        ]);
        assert.equal(libsecp256k1Built(), true, 'the install step built the addon');
        assert.deepEqual(installSecp256k1Backend(undefined), { backend: 'libsecp256k1' });
        assert.equal(secp256k1Backend().name, 'libsecp256k1-node');
        assert.deepEqual(installSecp256k1Backend('noble'), { backend: 'noble' });
        assert.equal(secp256k1Backend(), nobleSecp256k1);
        assert.deepEqual(installSecp256k1Backend('libsecp256k1-wasm'), {
          backend: 'libsecp256k1-wasm',
        });
        assert.equal(secp256k1Backend().name, 'libsecp256k1-wasm');
        assert.deepEqual(installSecp256k1Backend('libsecp256k1'), { backend: 'libsecp256k1' });
        assert.throws(
          () => installSecp256k1Backend('elliptic'),
          (e: unknown) => e instanceof BackendUnavailable && e.code === 'BACKEND_UNAVAILABLE'
        );
        assert.equal(
          secp256k1Backend().name,
          'libsecp256k1-node',
          'a refused choice changes nothing'
        );
      } finally {
        useSecp256k1Backend(nobleSecp256k1);
      }
    }
  );

  test('a backend whose results differ from noble is refused at installation', () => {
    const offByG = (s: Uint8Array, out: Uint8Array) => {
      lib.mulBase(s, out);
      out.set(Point.fromBytes(out).add(Point.BASE).toBytes(false));
    };
    for (const broken of [
      { ...lib, name: 'off-by-G', mulBase: offByG },
      { ...lib, name: 'lenient', decode: () => true },
    ]) {
      assert.throws(() => useSecp256k1Backend(broken), /differs from @noble\/curves/);
      assert.equal(secp256k1Backend(), nobleSecp256k1);
    }
  });

  /**
   * The package's sources in a directory of their own, with the addon missing or broken: what a
   * machine without libsecp256k1, or with a damaged build, runs.
   */
  function packageCopy(addon: 'missing' | 'garbage'): string {
    const root = mkdtempSync(join(PKG, '.install-'));
    cpSync(join(PKG, 'src'), join(root, 'src'), { recursive: true });
    if (addon === 'garbage') {
      mkdirSync(join(root, 'build', 'Release'), { recursive: true });
      writeFileSync(join(root, 'build', 'Release', 'tessera_secp256k1.node'), 'not an ELF file');
    }
    return root;
  }

  function installIn(root: string, choice: string): Record<string, unknown> {
    const script = `
      const { installSecp256k1Backend } = await import(${JSON.stringify(join(root, 'src', 'index.ts'))});
      try { console.log(JSON.stringify(installSecp256k1Backend(${JSON.stringify(choice)}))); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hints: e.hints })); }
    `;
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: PKG,
        encoding: 'utf8',
      }
    );
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  }

  test('no addon: auto runs libsecp256k1 in WebAssembly and says why; libsecp256k1 refuses, naming the way out', () => {
    const root = packageCopy('missing');
    try {
      const auto = installIn(root, 'auto');
      assert.equal(auto.backend, 'libsecp256k1-wasm');
      assert.match(String(auto.warning), /not built at install.*WebAssembly/);
      const strict = installIn(root, 'libsecp256k1');
      assert.equal(strict.code, 'BACKEND_UNAVAILABLE');
      assert.match(String(strict.message), /libsecp256k1-dev/);
      assert.ok(
        (strict.hints as string[]).some((h) => h.includes('TESSERA_SECP256K1=libsecp256k1-wasm'))
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a built addon that does not load is an error, even under auto: no fallback', () => {
    const root = packageCopy('garbage');
    try {
      for (const choice of ['auto', 'libsecp256k1']) {
        const r = installIn(root, choice);
        assert.equal(r.code, 'BACKEND_UNAVAILABLE', choice);
        assert.match(String(r.message), /did not load/);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

test(
  'core ECDSA suite with libsecp256k1 and a core worker thread installed (vectors, frozen transcripts, adversarial, properties)',
  needsAddon,
  () =>
    runCoreEcdsaSuiteWith(
      new URL('./use-libsecp256k1.ts', import.meta.url),
      'secp256k1 backend: libsecp256k1-node, core workers: 1'
    )
);
