/**
 * The share stores: the same contract for the in-memory and the file store (shares by epoch, the
 * nonce ledger, the pending-check markers), and what only the file store promises: everything
 * survives a reopen, a marker left by a dead process is a ban, a marker of a live process is
 * busy, two processes never both record one id, and sealed shares detect tampering.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryShareStore, type ShareStore } from '@tessera/client';
import { FileShareStore } from '@tessera/client/node';
import { STORE_SECRET } from './fixtures/harness.ts';

const homes: string[] = [];
const home = () => {
  const d = mkdtempSync(join(tmpdir(), 'tessera-store-'));
  homes.push(d);
  return d;
};
after(() => {
  for (const d of homes) rmSync(d, { recursive: true, force: true });
});

const KEY = 'ab'.repeat(32);
const E1 = '01'.repeat(32);
const E2 = '02'.repeat(32);
const record = (epoch: string) => ({
  keyId: KEY,
  scheme: 'ecdsa' as const,
  publicKey: '02'.padEnd(66, '1'),
  label: 'test',
  epoch,
  server: 'http://127.0.0.1:7420',
});

const stores: [string, () => Promise<ShareStore>][] = [
  ['MemoryShareStore', async () => new MemoryShareStore()],
  ['FileShareStore', () => FileShareStore.open(home(), { secret: STORE_SECRET })],
];

for (const [name, open] of stores) {
  describe(`${name}: the ShareStore contract`, () => {
    test('shares by epoch: put, get, prune keeps one', async () => {
      const s = await open();
      await s.put(record(E1), new Uint8Array([1, 2, 3]));
      await s.put(record(E2), new Uint8Array([4, 5]));
      assert.deepEqual(await s.get(KEY, E1), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await s.get(KEY), new Uint8Array([4, 5]), 'the current epoch by default');
      assert.deepEqual((await s.getKey(KEY))?.epochs, [E1, E2]);
      await s.prune(KEY, E2);
      assert.equal(await s.get(KEY, E1), null);
      assert.deepEqual((await s.getKey(KEY))?.epochs, [E2]);
      assert.equal((await s.list()).length, 1);
    });

    test('the ledger: fresh ids are recorded once; a batch with any used id is refused, and its new ids stay used', async () => {
      const s = await open();
      assert.equal(await s.consume(KEY, ['a', 'b']), true);
      assert.equal(await s.consume(KEY, ['b']), false);
      assert.equal(await s.consume(KEY, ['c', 'a']), false);
      assert.equal(await s.consume(KEY, ['c']), false, 'c was recorded by the refused batch');
      assert.equal(await s.consume(KEY, ['d', 'd']), false, 'an id twice in one batch');
      assert.equal(await s.consume('cd'.repeat(32), ['a']), true, 'ledgers are per key');
    });

    test('pending-check markers: begin, busy while held, end, ban', async () => {
      const s = await open();
      assert.equal(await s.pairBegin('p'), 'ok');
      assert.equal(await s.pairBegin('p'), 'busy');
      assert.equal(await s.pairBanned('p'), false, 'a marker this process holds is no ban');
      await s.pairEnd('p');
      assert.equal(await s.pairBegin('p'), 'ok');
      await s.pairBan('p');
      assert.equal(await s.pairBanned('p'), true);
      assert.equal(await s.pairBegin('p'), 'banned');
      assert.equal(await s.pairBegin('q'), 'ok', 'markers are per pair');
    });
  });
}

/** Runs a short script in a process of its own, with the file store opened on `dir`. */
function inChild(dir: string, body: string): Promise<{ code: number | null; out: string }> {
  const script = `
    import { FileShareStore } from '@tessera/client/node';
    const store = await FileShareStore.open(${JSON.stringify(dir)}, { secret: new Uint8Array(32).fill(7) });
    ${body}
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: join(import.meta.dirname, '..'),
      }
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('FileShareStore across processes and restarts', () => {
  test('the ledger and bans survive a reopen', async () => {
    const dir = home();
    const a = await FileShareStore.open(dir, { secret: STORE_SECRET });
    assert.equal(await a.consume(KEY, ['nonce-1']), true);
    await a.pairBan('banned-pair');
    const b = await FileShareStore.open(dir, { secret: STORE_SECRET });
    assert.equal(await b.consume(KEY, ['nonce-1']), false);
    assert.equal(await b.pairBanned('banned-pair'), true);
    assert.equal(await b.pairBegin('banned-pair'), 'banned');
  });

  test('a marker left by a process that died is a ban; one held by a live process is busy', async () => {
    const dir = home();
    const died = await inChild(
      dir,
      `console.log(await store.pairBegin('crashed')); process.exit(0);`
    );
    assert.equal(died.out.trim(), 'ok');
    const s = await FileShareStore.open(dir, { secret: STORE_SECRET });
    assert.equal(await s.pairBanned('crashed'), true, 'the dead process’s marker became a ban');
    assert.equal(await s.pairBegin('crashed'), 'banned');

    // A live process holds a marker until told to stop (it waits for its stdin to close).
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { FileShareStore } from '@tessera/client/node';
         const store = await FileShareStore.open(${JSON.stringify(dir)}, { secret: new Uint8Array(32).fill(7) });
         console.log(await store.pairBegin('held'));
         process.stdin.resume();
         process.stdin.on('end', async () => { await store.pairEnd('held'); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..') }
    );
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    assert.equal(await s.pairBegin('held'), 'busy');
    assert.equal(await s.pairBanned('held'), false);
    holder.stdin.end();
    await new Promise((resolve) => holder.on('close', resolve));
    assert.equal(await s.pairBegin('held'), 'ok', 'ended by its holder: free again');
  });

  test('two processes consuming the same ids at once: exactly one succeeds', async () => {
    const dir = home();
    const ids = Array.from({ length: 20 }, (_, i) => `"id-${i}"`).join(',');
    const runs = await Promise.all(
      [0, 1, 2].map(() =>
        inChild(
          dir,
          `let n = 0; for (const id of [${ids}]) if (await store.consume('${KEY}', [id])) n++; console.log(n);`
        )
      )
    );
    const total = runs.reduce((sum, r) => sum + Number(r.out.trim()), 0);
    assert.equal(total, 20, 'each id was fresh for exactly one process');
  });

  test('two store instances of one process share its markers: a marker of the first is busy for the second, never a ban', async () => {
    const dir = home();
    const a = await FileShareStore.open(dir, { secret: STORE_SECRET });
    const b = await FileShareStore.open(dir, { secret: STORE_SECRET });
    assert.equal(await a.pairBegin('shared'), 'ok');
    assert.equal(await b.pairBanned('shared'), false);
    assert.equal(await b.pairBegin('shared'), 'busy');
    await a.pairEnd('shared');
    assert.equal(await b.pairBegin('shared'), 'ok');
    await b.pairEnd('shared');
  });

  test('a marker under our own pid that this process does not hold (a restarted container reuses its pid) is held until its lease ends, then a ban', async () => {
    const dir = home();
    const s = await FileShareStore.open(dir, { secret: STORE_SECRET });
    // Learn the marker's file name from a marker of our own, then leave a predecessor's there.
    assert.equal(await s.pairBegin('reused'), 'ok');
    const [name] = readdirSync(join(dir, 'guard'));
    await s.pairEnd('reused');
    const path = join(dir, 'guard', name as string);
    const predecessor = { pid: process.pid, host: hostname(), token: 'old' };
    writeFileSync(path, JSON.stringify({ ...predecessor, at: Date.now() }));
    assert.equal(await s.pairBanned('reused'), false);
    assert.equal(await s.pairBegin('reused'), 'busy');
    writeFileSync(path, JSON.stringify({ ...predecessor, at: Date.now() - 11 * 60_000 }));
    assert.equal(await s.pairBanned('reused'), true);
  });

  test('the ledger lock: one left by a crashed predecessor (our pid, or empty) is broken, not waited for', async () => {
    const dir = home();
    const s = await FileShareStore.open(dir, { secret: STORE_SECRET });
    const lock = join(dir, 'ledger', `${KEY}.log.lock`);
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }));
    assert.equal(await s.consume(KEY, ['after-a-crash']), true);
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 5_000);
    utimesSync(lock, old, old);
    assert.equal(await s.consume(KEY, ['after-a-torn-lock']), true);
  });

  test('a ledger whose last line was torn by a crash keeps the ids appended after it', async () => {
    const dir = home();
    const s = await FileShareStore.open(dir, { secret: STORE_SECRET });
    await s.consume(KEY, ['first']);
    appendFileSync(join(dir, 'ledger', `${KEY}.log`), '0123abc'); // a torn line, no newline
    assert.equal(await s.consume(KEY, ['second']), true);
    const reopened = await FileShareStore.open(dir, { secret: STORE_SECRET });
    assert.equal(await reopened.consume(KEY, ['second']), false, 'still recorded after a restart');
    assert.equal(await reopened.consume(KEY, ['first']), false);
  });

  test('a sealed share that was tampered with is refused; the ledger holds hashes, not ids', async () => {
    const dir = home();
    const s = await FileShareStore.open(dir, { secret: STORE_SECRET });
    await s.put(record(E1), new Uint8Array(64).fill(9));
    await s.consume(KEY, ['ecdsa.rid:visible']);
    const file = join(dir, 'keys', `${KEY}.json`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as { shares: Record<string, string> };
    const sealed = json.shares[E1] as string;
    json.shares[E1] = `${sealed.slice(0, -2)}${sealed.endsWith('00') ? '01' : '00'}`;
    writeFileSync(file, JSON.stringify(json));
    await assert.rejects(s.get(KEY, E1), /failed authentication/);
    const ledger = readFileSync(
      join(dir, 'ledger', readdirSync(join(dir, 'ledger'))[0] as string),
      'utf8'
    );
    assert.ok(!ledger.includes('visible') && /^[0-9a-f]{32}\n$/.test(ledger));
  });
});
