/**
 * Bans outlive the request and the process: written to DATA/bans/ before the call returns,
 * seen by a second instance on the same directory; a marker left by a dead process reads as a
 * ban; a live one as busy.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { MemoryShareStore } from '@tessera/client';
import { BanBook, RequestStore } from '../src/bans.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-gw-bans-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a ban is on disk when pairBan resolves and every instance on the directory sees it', async () => {
  const a = new RequestStore(new MemoryShareStore(), new BanBook(dir));
  assert.equal(await a.pairBegin('pair-1'), 'ok');
  assert.equal(await new BanBook(dir).begin('pair-1'), 'busy', 'held by a live check');
  await a.pairBan('pair-1');
  assert.ok(readdirSync(join(dir, 'bans')).some((f) => f.endsWith('.banned')));
  const b = new RequestStore(new MemoryShareStore(), new BanBook(dir));
  assert.equal(await b.pairBanned('pair-1'), true);
  assert.equal(await b.pairBegin('pair-1'), 'banned');
});

test('a check that passed leaves nothing behind', async () => {
  const a = new BanBook(dir);
  assert.equal(await a.begin('pair-2'), 'ok');
  await a.end('pair-2');
  assert.equal(await a.banned('pair-2'), false);
  assert.equal(await new BanBook(dir).begin('pair-2'), 'ok');
});

test('a marker left by a process that died mid-check is a ban', async () => {
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const pid = Number(String(dead.stdout));
  const name = `${bytesToHex(sha256(utf8ToBytes('pair-3'))).slice(0, 40)}.pending`;
  writeFileSync(
    join(dir, 'bans', name),
    JSON.stringify({ pid, host: hostname(), at: Date.now(), token: 'x' })
  );
  const b = new BanBook(dir);
  assert.equal(await b.banned('pair-3'), true);
  assert.equal(await b.begin('pair-3'), 'banned');
});

test('the request store keeps shares in memory only and wipes them', async () => {
  const s = new RequestStore(new MemoryShareStore(), new BanBook(dir));
  const key = {
    keyId: 'ab'.repeat(32),
    scheme: 'ed25519' as const,
    publicKey: '',
    label: '',
    epoch: 'cd'.repeat(32),
    server: 'x',
  };
  await s.put(key, new Uint8Array([1, 2, 3]));
  assert.deepEqual(await s.get(key.keyId), new Uint8Array([1, 2, 3]));
  await s.wipe();
  assert.equal(await s.get(key.keyId), null);
  assert.ok(!readdirSync(join(dir, 'bans')).some((f) => f.includes(key.keyId)));
});
