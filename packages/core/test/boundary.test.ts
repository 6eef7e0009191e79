/** Core depends on nothing but the audited primitives, and has no I/O, clock or PRNG of its own. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '../src');
const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));

test('every import in packages/core/src is relative, @noble/*, or hash-wasm in backup.ts only', () => {
  for (const f of files) {
    const text = readFileSync(join(src, f), 'utf8');
    for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
      const spec = m[1] as string;
      assert.ok(
        /^\.\.?\//.test(spec) ||
          /^@noble\/(curves|hashes|ciphers)\//.test(spec) ||
          (spec === 'hash-wasm' && f === 'backup.ts'),
        `${f} imports ${spec}`
      );
    }
  }
});

test('core source has no Math.random, Date.now, console or timers', () => {
  for (const f of files) {
    const text = readFileSync(join(src, f), 'utf8');
    assert.ok(!/Math\.random|Date\.now|console\.|setTimeout|setInterval/.test(text), f);
  }
});

// hash-wasm: Argon2id for backups (docs/backup.md); pure-JS Argon2 at 64 MiB is far too slow.
test('core package.json depends only on the audited primitives and hash-wasm', () => {
  const pkg = JSON.parse(readFileSync(join(src, '../package.json'), 'utf8')) as {
    dependencies?: object;
  };
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}).sort(), [
    '@noble/ciphers',
    '@noble/curves',
    '@noble/hashes',
    'hash-wasm',
  ]);
});
