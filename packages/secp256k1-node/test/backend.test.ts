/**
 * libsecp256k1 as core's secp256k1 backend: byte-identical to @noble/curves on random inputs for
 * every operation it provides, strict about what it decodes, loud about what it cannot do, and the
 * whole ECDSA suite of core passing with it installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { secp256k1, secp256k1_hasher } from '@noble/curves/secp256k1.js';
import {
  nobleSecp256k1,
  type Secp256k1Backend,
  secp256k1Backend,
  useSecp256k1Backend,
} from '@tessera/core';
import {
  BackendUnavailable,
  installSecp256k1Backend,
  libsecp256k1Built,
  loadLibsecp256k1,
  SECP256K1_BACKENDS,
} from '@tessera/secp256k1-node';
import fc from 'fast-check';
import { hashToCurveSecp256k1Many } from '../../core/src/math/h2c-secp256k1.ts';

const Point = secp256k1.Point;
const PKG = fileURLToPath(new URL('..', import.meta.url));
const n = Point.Fn.ORDER;
const built = libsecp256k1Built();
/** Outside CI a machine without libsecp256k1 skips what needs the addon; CI must have it. */
const needsAddon = {
  skip:
    built || process.env.CI === 'true'
      ? false
      : 'libsecp256k1 addon not built (apt install libsecp256k1-dev, then npm rebuild @tessera/secp256k1-node)',
};
const lib = built || process.env.CI === 'true' ? loadLibsecp256k1() : nobleSecp256k1;

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
    'libsecp256k1Built',
    'loadLibsecp256k1',
    'startCoreWorkers',
  ]);
});

describe('byte-identical to noble on random inputs', needsAddon, () => {
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

  test('hash to curve, square roots from libsecp256k1: RFC 9380 J.8.1 and 10,000 random inputs', () => {
    const v = JSON.parse(
      readFileSync(join(PKG, '../core/test/vectors/h2c-secp256k1.json'), 'utf8')
    ) as {
      dst: string;
      vectors: { msg: string; P: { x: string; y: string } }[];
    };
    const utf8 = (x: string) => new TextEncoder().encode(x);
    const msgs = v.vectors.map((t) => utf8(t.msg));
    const dsts = [utf8(v.dst), randomBytes(1), randomBytes(40), randomBytes(300)];
    for (let i = 0; i < 10_000; i++) msgs.push(randomBytes(randomInt(0, 201)));
    useSecp256k1Backend(lib);
    try {
      for (const [d, dst] of dsts.entries()) {
        const part = d === 0 ? msgs : msgs.slice(0, 200);
        const got = hashToCurveSecp256k1Many(part, dst as Uint8Array);
        part.forEach((m, i) => {
          const want = secp256k1_hasher.hashToCurve(m, { DST: dst as Uint8Array });
          assert.ok((got[i] as InstanceType<typeof Point>).equals(want), `msg ${i}, dst ${d}`);
        });
      }
      const rfc = hashToCurveSecp256k1Many(msgs.slice(0, v.vectors.length), utf8(v.dst));
      v.vectors.forEach((t, i) => {
        const { x, y } = (rfc[i] as InstanceType<typeof Point>).toAffine();
        assert.equal(x.toString(16).padStart(64, '0'), t.P.x);
        assert.equal(y.toString(16).padStart(64, '0'), t.P.y);
      });
    } finally {
      useSecp256k1Backend(nobleSecp256k1);
    }
  });
});

describe('installation', () => {
  test(
    'auto is libsecp256k1 when built, noble on request, an unknown name refused',
    needsAddon,
    () => {
      try {
        assert.deepEqual(SECP256K1_BACKENDS, ['auto', 'libsecp256k1', 'noble']);
        assert.equal(libsecp256k1Built(), true, 'the install step built the addon');
        assert.deepEqual(installSecp256k1Backend(undefined), { backend: 'libsecp256k1' });
        assert.equal(secp256k1Backend().name, 'libsecp256k1-node');
        assert.deepEqual(installSecp256k1Backend('noble'), { backend: 'noble' });
        assert.equal(secp256k1Backend(), nobleSecp256k1);
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

  test('no addon: auto runs noble and says why; libsecp256k1 refuses, naming the way out', () => {
    const root = packageCopy('missing');
    try {
      const auto = installIn(root, 'auto');
      assert.equal(auto.backend, 'noble');
      assert.match(String(auto.warning), /not built at install/);
      const strict = installIn(root, 'libsecp256k1');
      assert.equal(strict.code, 'BACKEND_UNAVAILABLE');
      assert.match(String(strict.message), /libsecp256k1-dev/);
      assert.ok((strict.hints as string[]).some((h) => h.includes('TESSERA_SECP256K1=noble')));
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
  () => {
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
  }
);
