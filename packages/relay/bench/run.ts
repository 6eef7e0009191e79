/**
 * The relay and device-to-device benchmark (`npm run bench`, section "relay"):
 *
 * 1. Device-to-device signing through a relay on loopback, beside the same signature computed
 *    in-process (`local.sign`, both shares in one thread): ECDSA and Ed25519, median and p90.
 *    The relay runs in its own process (`tessera relay start --dev`); both devices run here, and
 *    the serving device polls for rooms every 50 ms.
 * 2. Relay capacity on this machine (2 cores: the relay process, and the load generator here):
 *    messages per second accepted and delivered (1 KiB envelopes, 20 rooms of two, each sender
 *    with up to 8 sends in flight); rooms open at once; memory per idle room (the relay
 *    process's RSS before and after opening them).
 *
 * Bounds are raised for the run with TESSERA_RELAY_LIMITS (one load generator logs in and opens
 * rooms far faster than any real client may).
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { RelayClient } from '@tessera/api/relay';
import {
  DeviceHome,
  DeviceNode,
  FileShareStore,
  pairAsInitiator,
  pairAsResponder,
} from '@tessera/client/node';
import { KeyShare, local, newPartyIdentity, type PartyIdentity } from '@tessera/core';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'relay') process.exit(0);
const BIN = fileURLToPath(new URL('../../cli/bin/tessera.js', import.meta.url));
const SIGNS = Number(process.env.BENCH_RELAY_SIGNS ?? 15);
const dirs: string[] = [];

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const pct = (xs: number[], p: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const f = (n: number, d = 1) => n.toFixed(d);

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** The relay in its own process; `pid` is the Node that serves (the launcher's child in a checkout). */
async function startRelayProcess(): Promise<{ child: ChildProcess; url: string; pid: number }> {
  const child = spawn(process.execPath, [BIN, 'relay', 'start', '--dev', '--port', '0'], {
    env: {
      ...process.env,
      TESSERA_RELAY_LOG_LEVEL: 'warn',
      TESSERA_RELAY_LIMITS: JSON.stringify({
        roomsPerIdentity: 1_000_000,
        roomCreationsPerMinute: 1_000_000,
        challengesPerMinutePerIp: 1_000_000,
        queuePerRecipient: 100_000,
      }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`relay exited (${c})`)));
  });
  // In a checkout the launcher runs the CLI in a child Node: measure that one.
  let pid = child.pid as number;
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    if (kids[0]) pid = Number(kids[0]);
  } catch {}
  return { child, url, pid };
}

async function device(name: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  dirs.push(dir);
  const home = new DeviceHome(dir);
  home.init(name);
  return { home, store: await FileShareStore.open(dir) };
}

async function signingLatency(url: string): Promise<string[]> {
  const a = await device('bench A');
  const b = await device('bench B');
  let invite!: (s: string) => void;
  const invited = new Promise<string>((r) => {
    invite = r;
  });
  const confirmCode = async () => true as const;
  await Promise.all([
    pairAsInitiator({
      home: a.home,
      device: a.home.load(),
      relay: url,
      confirmCode,
      onInvite: invite,
    }),
    invited.then((inv) =>
      pairAsResponder({ home: b.home, device: b.home.load(), invite: inv, confirmCode })
    ),
  ]);
  const alice = new DeviceNode({ home: a.home, store: a.store, relay: url });
  const bob = new DeviceNode({ home: b.home, store: b.store, relay: url });
  const stop = new AbortController();
  const serving = bob.serve({ approve: async () => true, signal: stop.signal, pollMs: 50 });
  const lines: string[] = [];
  try {
    for (const scheme of ['ecdsa', 'ed25519'] as const) {
      const key = await alice.keygen({ peer: 'bench B', scheme });
      const shares = await Promise.all(
        [a.store, b.store].map(async (s) =>
          KeyShare.fromBytes((await s.get(key.keyId)) as Uint8Array)
        )
      );
      const relayed: number[] = [];
      const inProcess: number[] = [];
      for (let i = 0; i < SIGNS; i++) {
        const digest = bytesToHex(randomBytes(32));
        let t = performance.now();
        await alice.sign({
          keyId: key.keyId,
          input: scheme === 'ecdsa' ? { digest } : { message: digest },
          purpose: 'bench',
        });
        relayed.push(performance.now() - t);
        t = performance.now();
        if (scheme === 'ecdsa') await local.sign('ecdsa', shares, randomBytes(32));
        else await local.sign(scheme, shares, randomBytes(32));
        inProcess.push(performance.now() - t);
      }
      lines.push(
        `  ${scheme.padEnd(8)} d2d through the relay  median ${f(pct(relayed, 50)).padStart(7)} ms  p90 ${f(pct(relayed, 90)).padStart(7)} ms   in-process median ${f(pct(inProcess, 50)).padStart(6)} ms  p90 ${f(pct(inProcess, 90)).padStart(6)} ms   (${SIGNS} signatures)`
      );
    }
  } finally {
    stop.abort();
    await serving;
  }
  return lines;
}

const member = (p: PartyIdentity, role: string) => ({
  publicKey: bytesToHex(p.public.publicKey),
  x25519: bytesToHex(p.public.x25519),
  role,
});

async function room(creator: RelayClient, other: PartyIdentity, me: PartyIdentity) {
  const roomId = bytesToHex(randomBytes(16));
  await creator.createRoom({
    v: 1,
    roomId,
    protocol: 'bench',
    members: [member(me, 'a'), member(other, 'b')],
    expiresAt: Date.now() + 30 * 60_000,
    maxBytes: 8 * 1024 * 1024,
  });
  return roomId;
}

async function throughput(url: string): Promise<string> {
  const ROOMS = 20;
  const PER_ROOM = 150;
  const body = randomBytes(1024);
  const pairs = await Promise.all(
    Array.from({ length: ROOMS }, async () => {
      const a = newPartyIdentity();
      const b = newPartyIdentity();
      const ca = new RelayClient({ url, identity: a });
      const cb = new RelayClient({ url, identity: b });
      const id = await room(ca, b, a);
      await cb.login();
      return { ca, cb, id, to: bytesToHex(b.public.publicKey) };
    })
  );
  const t0 = performance.now();
  await Promise.all(
    pairs.map(async (p) => {
      const sub = p.cb.subscribe(p.id);
      const sent = (async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < PER_ROOM) {
              next++;
              await p.ca.send(p.id, p.to, body);
            }
          })
        );
      })();
      for (let got = 0; got < PER_ROOM; got++) await sub.next(60_000);
      await sent;
      await sub.close();
    })
  );
  const s = (performance.now() - t0) / 1000;
  const n = ROOMS * PER_ROOM;
  return `  ${n} messages of 1 KiB in ${ROOMS} rooms: ${f(n / s, 0)} messages/s sent and delivered (${f(s, 2)} s)`;
}

async function idleRooms(url: string, pid: number): Promise<string> {
  const ROOMS = 2000;
  const creators = Array.from({ length: 20 }, () => newPartyIdentity());
  const other = newPartyIdentity();
  const clients = creators.map((c) => new RelayClient({ url, identity: c }));
  await Promise.all(clients.map((c) => c.login()));
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(pid);
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      for (let k = 0; k < ROOMS / clients.length; k++)
        await room(c, other, creators[i] as PartyIdentity);
    })
  );
  const s = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssKiB(pid);
  return [
    `  ${ROOMS} rooms open at once, created at ${f(ROOMS / s, 0)} rooms/s`,
    `  memory per idle room: ${f(((after - before) * 1024) / ROOMS, 0)} bytes (relay RSS ${f(before / 1024)} → ${f(after / 1024)} MiB; in-memory store)`,
  ].join('\n');
}

const relay = await startRelayProcess();
try {
  console.log('\n== relay and device-to-device (loopback; relay in its own process)');
  for (const l of await signingLatency(relay.url)) console.log(l);
  console.log(await throughput(relay.url));
  console.log(await idleRooms(relay.url, relay.pid));
} finally {
  relay.child.kill('SIGTERM');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
