/**
 * libsecp256k1 as core's secp256k1 backend: byte-identical to @noble/curves on random inputs for
 * every operation it provides, strict about what it decodes, loud about what it cannot do, and the
 * whole ECDSA suite of core passing with it installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  nobleSecp256k1,
  type Secp256k1Backend,
  secp256k1Backend,
  useSecp256k1Backend,
} from '@tessera/core';
import {
  BackendUnavailable,
  installSecp256k1Backend,
  loadLibsecp256k1,
  SECP256K1_BACKENDS,
} from '@tessera/secp256k1-node';
import fc from 'fast-check';

const Point = secp256k1.Point;
const n = Point.Fn.ORDER;
const lib = loadLibsecp256k1();

/** A scalar 1 ≤ s < n as 32 big-endian bytes. */
const scalar = fc.bigInt({ min: 1n, max: n - 1n }).map((s) => Point.Fn.toBytes(s));
/** A valid point as its compressed and uncompressed encodings. */
const point = fc
  .bigInt({ min: 1n, max: n - 1n })
  .map((s) => Point.BASE.multiply(s))
  .map((P) => ({ c: P.toBytes(true), u: P.toBytes(false) }));

function both(op: (b: Secp256k1Backend, out: Uint8Array) => unknown): [Uint8Array, Uint8Array] {
  const a = new Uint8Array(65);
  const b = new Uint8Array(65);
  const ra = op(lib, a);
  const rb = op(nobleSecp256k1, b);
  assert.equal(ra, rb);
  return [a, b];
}

test('@tessera/secp256k1-node exports', async () => {
  assert.deepEqual(Object.keys(await import('@tessera/secp256k1-node')).sort(), [
    'BackendUnavailable',
    'SECP256K1_BACKENDS',
    'installSecp256k1Backend',
    'loadLibsecp256k1',
    'startCoreWorkers',
  ]);
});

describe('byte-identical to noble on random inputs', () => {
  test('mulBase: s·G', () => {
    fc.assert(
      fc.property(scalar, (s) => {
        const [a, b] = both((be, out) => be.mulBase(s, out));
        assert.deepEqual(a, b);
      }),
      { numRuns: 2000 }
    );
  });

  test('mulPoint: s·P', () => {
    fc.assert(
      fc.property(point, scalar, (P, s) => {
        const [a, b] = both((be, out) => be.mulPoint(P.u, s, out));
        assert.deepEqual(a, b);
      }),
      { numRuns: 500 }
    );
  });

  test('mulPoint and mulBase at the ends of the scalar range', () => {
    for (const v of [1n, 2n, 3n, n - 3n, n - 2n, n - 1n, 1n << 128n, (1n << 255n) - 1n]) {
      const s = Point.Fn.toBytes(v);
      const P = Point.BASE.multiply(0xc0ffeen).toBytes(false);
      const [a, b] = both((be, out) => be.mulPoint(P, s, out));
      assert.deepEqual(a, b);
      const [c, d] = both((be, out) => be.mulBase(s, out));
      assert.deepEqual(c, d);
    }
  });

  test('decode: valid points, and random 33-byte strings accepted or refused alike', () => {
    fc.assert(
      fc.property(point, (P) => {
        const [a, b] = both((be, out) => be.decode(P.c, out));
        assert.deepEqual(a, P.u);
        assert.deepEqual(b, P.u);
      }),
      { numRuns: 1000 }
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 33, maxLength: 33 }),
        fc.constantFrom(0x02, 0x03),
        (raw, prefix) => {
          raw[0] = prefix;
          both((be, out) => be.decode(raw, out));
        }
      ),
      { numRuns: 2000 }
    );
  });

  test('decode refuses x ≥ p, a missing point, other prefixes and other lengths', () => {
    const p = Point.Fp.ORDER;
    const out = new Uint8Array(65);
    const G = Point.BASE;
    for (const bad of [
      Uint8Array.of(0x02, ...Point.Fp.toBytes(p - 1n)).map((b, i) => (i === 32 ? b + 1 : b)),
      Uint8Array.of(0x03, ...new Uint8Array(32).fill(0xff)),
      Uint8Array.of(0x02, ...Point.Fp.toBytes(5n)),
      Uint8Array.of(0x04, ...G.toBytes(true).subarray(1)),
      Uint8Array.of(0x06, ...G.toBytes(true).subarray(1)),
      G.toBytes(false),
      G.toBytes(true).subarray(0, 32),
      new Uint8Array(33),
    ]) {
      assert.equal(lib.decode(bad, out), false);
      assert.equal(nobleSecp256k1.decode(bad, out), false);
    }
  });
});

describe('installation', () => {
  test('libsecp256k1 by default, noble on request, an unknown name refused', () => {
    try {
      assert.deepEqual(SECP256K1_BACKENDS, ['libsecp256k1', 'noble']);
      assert.equal(installSecp256k1Backend(undefined), 'libsecp256k1');
      assert.equal(secp256k1Backend().name, 'libsecp256k1-node');
      assert.equal(installSecp256k1Backend('noble'), 'noble');
      assert.equal(secp256k1Backend(), nobleSecp256k1);
      assert.throws(
        () => installSecp256k1Backend('elliptic'),
        (e: unknown) => e instanceof BackendUnavailable && e.code === 'BACKEND_UNAVAILABLE'
      );
      assert.equal(secp256k1Backend(), nobleSecp256k1, 'a refused choice changes nothing');
    } finally {
      useSecp256k1Backend(nobleSecp256k1);
    }
  });

  test('a backend whose results differ from noble is refused at installation', () => {
    for (const broken of [
      {
        ...lib,
        name: 'off-by-G',
        mulBase: (s: Uint8Array, out: Uint8Array) => {
          lib.mulBase(s, out);
          out.set(Point.fromBytes(out).add(Point.BASE).toBytes(false));
        },
      },
      { ...lib, name: 'lenient', decode: () => true },
    ]) {
      assert.throws(() => useSecp256k1Backend(broken), /differs from @noble\/curves/);
      assert.equal(secp256k1Backend(), nobleSecp256k1);
    }
  });

  test('an addon that does not load fails loudly, naming the way out', () => {
    // A child process whose module resolution cannot find the addon's package.
    const script = `
      import { createRequire } from 'node:module';
      const req = createRequire(import.meta.url);
      const Module = req('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (id, ...rest) {
        if (id === 'secp256k1/package.json') throw new Error('gone');
        return resolve.call(this, id, ...rest);
      };
      const { installSecp256k1Backend } = await import('@tessera/secp256k1-node');
      try { installSecp256k1Backend('libsecp256k1'); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hints: e.hints })); }
    `;
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        encoding: 'utf8',
      }
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { code: string; message: string; hints: string[] };
    assert.equal(out.code, 'BACKEND_UNAVAILABLE');
    assert.match(out.message, /did not load/);
    assert.ok(out.hints.some((h) => h.includes('TESSERA_SECP256K1=noble')));
  });
});

test('core ECDSA suite with libsecp256k1 and a core worker thread installed (vectors, frozen transcripts, adversarial, properties)', () => {
  const core = new URL('../../core/test/', import.meta.url);
  const files = [
    'ecdsa.test.ts',
    'ecdsa-adversarial.test.ts',
    'ot-setup.test.ts',
    'ote-rvole.test.ts',
    'reshare.test.ts',
    'hd.test.ts',
  ].map((f) => fileURLToPath(new URL(f, core)));
  const preload = fileURLToPath(new URL('./use-libsecp256k1.ts', import.meta.url));
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', preload, '--test', '--test-concurrency=1', ...files],
    // Without NODE_TEST_CONTEXT the inner runner reports in TAP, not to this runner's channel.
    { encoding: 'utf8', maxBuffer: 64 << 20, env }
  );
  const summary = r.stdout.split('\n').filter((l) => /^# (tests|pass|fail|skipped)/.test(l));
  assert.equal(
    r.status,
    0,
    `${summary.join('\n')}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`
  );
  assert.ok(summary.includes('# fail 0'), summary.join('\n'));
  // Each file runs in its own process; each announces the backend it ran on.
  const announced =
    r.stdout.match(/^# secp256k1 backend: libsecp256k1-node, core workers: 1$/gm) ?? [];
  assert.equal(announced.length, files.length, 'every file ran on libsecp256k1 and a worker');
});
