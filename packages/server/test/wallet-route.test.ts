/**
 * The web wallet's files at /wallet/ (routes/wallet.ts): served from memory with a strict CSP,
 * nothing outside the build reachable, a build without index.html refused at start-up.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig, startServer } from '../src/index.ts';
import { testServer } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-wallet-build-'));
mkdirSync(join(dir, 'assets'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>w</title>');
writeFileSync(join(dir, 'assets', 'app-1234.js'), 'export {}');
writeFileSync(join(dir, 'secret.key'), 'not a wallet file');
after(() => rmSync(dir, { recursive: true, force: true }));

test('the wallet build is served at /wallet/ with its CSP; other paths are 404s', async (t) => {
  const s = await testServer({ wallet: { dir } });
  t.after(() => s.close());
  const redirect = await fetch(`${s.url}/wallet`, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), '/wallet/');

  const index = await fetch(`${s.url}/wallet/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const csp = index.headers.get('content-security-policy') ?? '';
  for (const d of [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "frame-ancestors 'none'",
  ])
    assert.ok(csp.includes(d), `${d} in ${csp}`);
  assert.equal(await index.text(), '<!doctype html><title>w</title>');

  const js = await fetch(`${s.url}/wallet/assets/app-1234.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(js.headers.get('cache-control') ?? '', /immutable/);
  const etag = js.headers.get('etag') ?? '';
  const again = await fetch(`${s.url}/wallet/assets/app-1234.js`, {
    headers: { 'if-none-match': etag },
  });
  assert.equal(again.status, 304);

  for (const path of [
    'secret.key',
    '%2e%2e/%2e%2e/package.json',
    'assets/../index.html.bak',
    'missing.js',
  ]) {
    const r = await fetch(`${s.url}/wallet/${path}`);
    assert.equal(r.status, 404, path);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  }
});

test('without wallet.dir there is no /wallet; a directory without index.html is refused', async (t) => {
  const s = await testServer();
  t.after(() => s.close());
  assert.equal((await fetch(`${s.url}/wallet/`)).status, 404);
  const empty = mkdtempSync(join(tmpdir(), 'tessera-wallet-empty-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const config = loadConfig(
    { data: join(empty, 'data'), port: 0, dev: true, wallet: { dir: empty } },
    {}
  );
  await assert.rejects(startServer(config), /no index\.html/);
});
