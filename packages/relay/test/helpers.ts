/**
 * Test helpers: a relay on a free port (memory store, injectable clock, captured logs), Ed25519
 * identities that log in and sign manifests, and a small SSE reader over fetch.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  DEFAULT_LIMITS,
  loadRelayConfig,
  loginMessage,
  manifestMessage,
  type RelayLimits,
  type RoomStore,
  type RunningRelay,
  startRelay,
} from '@tessera/relay';

export interface TestRelay extends RunningRelay {
  logs: string[];
  clock: { offset: number };
}

export async function relay(
  o: { limits?: Partial<RelayLimits>; store?: RoomStore; redis?: string } = {}
): Promise<TestRelay> {
  const config = loadRelayConfig(
    o.redis ? { port: 0, redis: o.redis } : { port: 0, dev: true },
    {}
  );
  config.limits = { ...DEFAULT_LIMITS, ...o.limits };
  config.logLevel = 'debug';
  const logs: string[] = [];
  const clock = { offset: 0 };
  const r = await startRelay(config, {
    now: () => Date.now() + clock.offset,
    ...(o.store ? { store: o.store } : {}),
    logDestination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  });
  return Object.assign(r, { logs, clock });
}

export class Identity {
  readonly secret = ed25519.utils.randomSecretKey();
  readonly publicKey = bytesToHex(ed25519.getPublicKey(this.secret));
  readonly x25519 = bytesToHex(randomBytes(32));
  token = '';

  sign(message: Uint8Array): string {
    return bytesToHex(ed25519.sign(message, this.secret));
  }

  async login(r: { url: string; origin: string }): Promise<string> {
    const c = await post(r.url, '/v1/relay/challenge', {});
    const l = await post(r.url, '/v1/relay/login', {
      publicKey: this.publicKey,
      challenge: c.body.challenge,
      signature: this.sign(loginMessage(r.origin, hexToBytes(c.body.challenge))),
    });
    if (l.status !== 200) throw new Error(`login ${l.status} ${JSON.stringify(l.body)}`);
    this.token = l.body.token;
    return this.token;
  }
}

export const roomId = () => randomBytes(16).toString('hex');

export function manifestOf(
  members: Identity[],
  o: { roomId?: string; expiresAt?: number; maxBytes?: number; extra?: object } = {}
) {
  return {
    v: 1,
    roomId: o.roomId ?? roomId(),
    protocol: 'frost-ed25519',
    members: members.map((m, i) => ({
      publicKey: m.publicKey,
      x25519: m.x25519,
      role: i === 0 ? 'coordinator' : 'signer',
    })),
    expiresAt: o.expiresAt ?? Date.now() + 10 * 60_000,
    maxBytes: o.maxBytes ?? 4 * 1024 * 1024,
    ...o.extra,
  };
}

/** The create-room body: the manifest's bytes in base64, signed by `creator`. */
export function signedManifest(creator: Identity, manifest: object) {
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  return {
    manifest: Buffer.from(bytes).toString('base64'),
    signature: creator.sign(manifestMessage(bytes)),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: test replies are inspected loosely
export type Reply = { status: number; body: any; headers: Headers };

export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string
): Promise<Reply> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

export const post = (url: string, path: string, body?: unknown, token?: string) =>
  call(url, 'POST', path, body ?? {}, token);

export async function createRoom(r: { url: string }, members: Identity[], o = {}) {
  const creator = members[0] as Identity;
  const m = manifestOf(members, o);
  const res = await post(r.url, '/rooms', signedManifest(creator, m), creator.token);
  if (res.status !== 200) throw new Error(`create ${res.status} ${JSON.stringify(res.body)}`);
  return m.roomId;
}

export interface SseEvent {
  id: string;
  data: { seq: number; from: string; to: string | null; envelope: string; clientSeq: number };
}

/** An SSE subscription: its events as they come, and `close()` to drop the connection. */
export async function subscribe(url: string, room: string, token: string, lastEventId?: number) {
  const ac = new AbortController();
  const res = await fetch(`${url}/rooms/${room}/subscribe`, {
    headers: {
      authorization: `Bearer ${token}`,
      ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }),
    },
    signal: ac.signal,
  });
  if (res.status !== 200) throw new Error(`subscribe ${res.status} ${await res.text()}`);
  const events: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  const reader = res.body!.getReader();
  (async () => {
    let buf = '';
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id !== undefined && data !== undefined) {
          events.push({ id, data: JSON.parse(data) });
          for (const w of waiters.splice(0)) w();
        }
        i = buf.indexOf('\n\n');
      }
    }
  })().catch(() => {});
  return {
    events,
    status: res.status,
    async waitFor(n: number, ms = 5000): Promise<SseEvent[]> {
      const until = Date.now() + ms;
      while (events.length < n) {
        if (Date.now() > until) throw new Error(`only ${events.length} of ${n} events`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return events;
    },
    close() {
      ac.abort();
    },
  };
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');

export const BIN = fileURLToPath(new URL('../../cli/bin/tessera.js', import.meta.url));

/** `tessera relay start ARGS` in the background, once it printed `listening on URL`. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  list: ChildProcess[]
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'relay', 'start', '--port', '0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: in a checkout the launcher runs the CLI in a child Node, and a
    // SIGKILL must reach both (killGroup).
    detached: true,
  });
  list.push(child);
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const m = /^listening on (\S+)$/.exec(l);
      if (m?.[1]) resolve({ child, url: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`relay exited early (${code})`)));
  });
}

/** Sends `signal` to the instance's whole process group (launcher and CLI). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
    try {
      process.kill(-child.pid, signal);
    } catch {}
}
