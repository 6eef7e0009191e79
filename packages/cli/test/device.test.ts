/**
 * `tessera device init | pair | peers` as real processes (the launcher in bin/) against a real
 * `tessera relay start --dev` process: a pairing that succeeds, a mismatch and a refusal that
 * leave nothing stored on either side, and the lockout after three failures.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dirs: string[] = [];
let relayUrl = '';

function tmp(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `tessera-device-${name}-`));
  dirs.push(d);
  return d;
}

function killGroup(c: ChildProcess): void {
  if (c.pid !== undefined && c.exitCode === null && c.signalCode === null)
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {}
}

before(async () => {
  const relay = spawn(process.execPath, [BIN, 'relay', 'start', '--dev', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  children.push(relay);
  relayUrl = await new Promise<string>((resolve, reject) => {
    createInterface({ input: relay.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve(m[1]);
    });
    relay.once('exit', (code) => reject(new Error(`relay exited early (${code})`)));
  });
});

after(() => {
  for (const c of children) killGroup(c);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function cli(args: string[]): Promise<{ code: number; json: Json }> {
  const r = await run(process.execPath, [BIN, ...args, '--json'], { timeout: 60_000 }).then(
    (x) => ({ code: 0, stdout: x.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout })
  );
  return { code: r.code, json: JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') };
}

/** A `device pair` process whose stdout JSON lines arrive in order through `line()`. */
class Pairer {
  readonly child: ChildProcess;
  readonly #lines: Json[] = [];
  #waiters: (() => void)[] = [];
  readonly exit: Promise<number>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, 'device', 'pair', ...args, '--json'], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    children.push(this.child);
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      this.#lines.push(JSON.parse(l) as Json);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.exit = new Promise((resolve) => this.child.once('exit', (c) => resolve(c ?? -1)));
  }

  async line(): Promise<Json> {
    const deadline = Date.now() + 60_000;
    while (this.#lines.length === 0) {
      if (this.child.exitCode !== null) throw new Error('device pair exited');
      if (Date.now() > deadline) throw new Error('no line from device pair in time');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.#lines.shift() as Json;
  }

  type(s: string): void {
    this.child.stdin?.write(`${s}\n`);
  }

  /** The exit code and the last JSON line. */
  async end(): Promise<{ code: number; json: Json }> {
    const code = await this.exit;
    await new Promise((r) => setImmediate(r));
    return { code, json: this.#lines.pop() ?? {} };
  }
}

async function twoDevices(tag: string) {
  const a = tmp(`${tag}-a`);
  const b = tmp(`${tag}-b`);
  const ia = await cli(['device', 'init', '--name', "Alice's laptop", '--home', a]);
  const ib = await cli(['device', 'init', '--name', 'Bob phone', '--home', b]);
  assert.equal(ia.code, 0, JSON.stringify(ia.json));
  assert.equal(ib.code, 0, JSON.stringify(ib.json));
  return { a, b, fa: ia.json.fingerprint as string, fb: ib.json.fingerprint as string };
}

/** Starts both sides and returns them once each printed its code. */
async function startPair(a: string, b: string) {
  const init = new Pairer(['--relay', relayUrl, '--home', a]);
  const first = await init.line();
  assert.equal(typeof first.invite, 'string', JSON.stringify(first));
  const resp = new Pairer(['--relay', relayUrl, '--home', b, '--join', first.invite as string]);
  const ci = await init.line();
  const cr = await resp.line();
  assert.match(String(ci.code), /^\d{6}$/);
  return { init, resp, codeI: ci.code as string, codeR: cr.code as string };
}

async function peers(home: string): Promise<Json[]> {
  const r = await cli(['device', 'peers', '--home', home]);
  assert.equal(r.code, 0);
  return r.json.peers as Json[];
}

test('device init creates the identity (0600) and refuses to overwrite it', async () => {
  const h = tmp('init');
  const r = await cli(['device', 'init', '--name', "Alice's laptop", '--home', h]);
  assert.equal(r.code, 0);
  assert.equal(r.json.name, "Alice's laptop");
  assert.match(String(r.json.fingerprint), /^[0-9a-f]{64}$/);
  assert.match(String(r.json.publicKey), /^[0-9a-f]{64}$/);
  assert.equal(statSync(join(h, 'device.json')).mode & 0o777, 0o600);
  const again = await cli(['device', 'init', '--name', 'other', '--home', h]);
  assert.equal(again.code, 1);
  assert.equal(again.json.error?.code, 'DEVICE_EXISTS');
  const none = await cli(['device', 'pair', '--relay', relayUrl, '--home', tmp('none')]);
  assert.equal(none.json.error?.code, 'NO_DEVICE');
  assert.deepEqual(await peers(tmp('empty')), []);
});

test('two devices pair over the relay: equal codes, each pins the other', async () => {
  const { a, b, fa, fb } = await twoDevices('ok');
  const { init, resp, codeI, codeR } = await startPair(a, b);
  assert.equal(codeI, codeR);
  init.type(codeR);
  resp.type(codeI);
  const [ri, rr] = await Promise.all([init.end(), resp.end()]);
  assert.equal(ri.code, 0, JSON.stringify(ri.json));
  assert.equal(rr.code, 0, JSON.stringify(rr.json));
  assert.deepEqual(ri.json, { peer: 'Bob phone', fingerprint: fb });
  assert.deepEqual(rr.json, { peer: "Alice's laptop", fingerprint: fa });
  const pa = await peers(a);
  const pb = await peers(b);
  assert.deepEqual(
    pa.map((p) => [p.name, p.fingerprint]),
    [['Bob phone', fb]]
  );
  assert.deepEqual(
    pb.map((p) => [p.name, p.fingerprint]),
    [["Alice's laptop", fa]]
  );
  assert.equal(typeof pa[0]?.pairedAt, 'number');
});

/** One failed attempt: `wrongSide` types `answer`, the other side types the right code. */
async function failedAttempt(a: string, b: string, wrongSide: 'init' | 'resp', answer: string) {
  const { init, resp, codeI, codeR } = await startPair(a, b);
  init.type(wrongSide === 'init' ? answer : codeR);
  resp.type(wrongSide === 'resp' ? answer : codeI);
  return Promise.all([init.end(), resp.end()]);
}

test('a mismatch on one side: both exit 1 and nothing is stored on either', async () => {
  const { a, b } = await twoDevices('mismatch');
  const [ri, rr] = await failedAttempt(a, b, 'resp', '000000x');
  assert.equal(ri.code, 1);
  assert.equal(rr.code, 1);
  assert.equal(rr.json.error?.code, 'CODE_MISMATCH');
  assert.equal(ri.json.error?.code, 'PEER_REFUSED');
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});

test('a refusal (n): both exit 1 and nothing is stored on either', async () => {
  const { a, b } = await twoDevices('refuse');
  const [ri, rr] = await failedAttempt(a, b, 'init', 'n');
  assert.equal(ri.code, 1);
  assert.equal(rr.code, 1);
  assert.equal(ri.json.error?.code, 'PAIRING_REFUSED');
  assert.equal(rr.json.error?.code, 'PEER_REFUSED');
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});

test('three failures in 10 minutes lock pairing: PAIRING_LOCKED on both devices', async () => {
  const { a, b } = await twoDevices('lock');
  for (let i = 0; i < 3; i++) {
    const [ri, rr] = await failedAttempt(a, b, i % 2 ? 'init' : 'resp', 'n');
    assert.equal(ri.code, 1);
    assert.equal(rr.code, 1);
  }
  const ri = await cli(['device', 'pair', '--relay', relayUrl, '--home', a]);
  assert.equal(ri.code, 1);
  assert.equal(ri.json.error?.code, 'PAIRING_LOCKED');
  // The responder is locked too: it refuses before joining (the invite is not even used).
  const other = tmp('lock-c');
  await cli(['device', 'init', '--name', 'Carol', '--home', other]);
  const c = new Pairer(['--relay', relayUrl, '--home', other]);
  const { invite } = await c.line();
  const rr = await cli(['device', 'pair', '--home', b, '--join', invite as string]);
  assert.equal(rr.code, 1);
  assert.equal(rr.json.error?.code, 'PAIRING_LOCKED');
  killGroup(c.child);
  assert.deepEqual(await peers(a), []);
  assert.deepEqual(await peers(b), []);
});
