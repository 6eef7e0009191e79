/**
 * The wallet's worker: it owns the share store and the Tessera client and runs every protocol,
 * so the page stays responsive through an ECDSA key generation. A call that uses a key's share
 * holds that key's Web Lock, so two tabs never use one share at once: the second waits, and the
 * page says so.
 * @module
 */
import {
  DeviceError,
  DeviceNode,
  type DeviceProgress,
  type DeviceRequest,
  pairAsInitiator,
  pairAsResponder,
  type ServedRequest,
  TesseraClient,
} from '@tessera/client';
import { assertRngHealthy, nobleSecp256k1, useSecp256k1Backend } from '@tessera/core';
import { loadLibsecp256k1WasmSync } from '@tessera/secp256k1-wasm';
import { IdbDeviceHome } from './idb-device-home.ts';
import { IndexedDbShareStore, WalletStoreError } from './idb-store.ts';
import type {
  AnswerMessage,
  Arithmetic,
  CallMessage,
  CallName,
  Calls,
  Connection,
  WalletKey,
  WalletQuestion,
  WorkerMessage,
} from './rpc.ts';

const post = (m: WorkerMessage, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(
    m,
    transfer
  );

/**
 * Core's start-up check of the platform CSPRNG, which the server, gateway and CLI run too: two
 * draws of `crypto.getRandomValues` that repeat, or are constant, mean a stubbed or broken
 * source. Then no call runs (no key, nonce or share is made from it) and every screen shows why.
 */
function checkRandomness(): (Error & { code: string }) | null {
  try {
    assertRngHealthy();
    return null;
  } catch (e) {
    return Object.assign(
      new Error(`${(e as Error).message}: this browser cannot make keys or signatures safely`),
      { code: 'INSECURE_RNG' }
    );
  }
}
const randomnessFailure = checkRandomness();

/**
 * libsecp256k1 in WebAssembly for the ECDSA key generation's base OTs (a worker may compile it
 * synchronously). If the page's policy or the browser refuses WebAssembly, the worker runs on
 * noble and Server Status says why: nothing falls back silently.
 */
function installArithmetic(): Arithmetic {
  try {
    const backend = loadLibsecp256k1WasmSync();
    useSecp256k1Backend(backend);
    return { backend: backend.name };
  } catch (e) {
    useSecp256k1Backend(nobleSecp256k1);
    return {
      backend: nobleSecp256k1.name,
      warning: `libsecp256k1 (WebAssembly) did not load: ${(e as Error).message}; ECDSA key generation runs on @noble/curves, several times slower`,
    };
  }
}
const arithmetic = installArithmetic();

// With a failed randomness check the store is not even opened (opening it makes the wrapping key):
// nothing is created, and every call is refused before it would wait on the store.
const storeReady: ReturnType<typeof IndexedDbShareStore.open> = randomnessFailure
  ? new Promise(() => {})
  : IndexedDbShareStore.open();
const homeReady = storeReady.then((s) => new IdbDeviceHome(s.db, s.wrappingKey));
let client: TesseraClient | null = null;
let node: DeviceNode | null = null;
let serving: AbortController | null = null;

/** Questions waiting for the page's answer, by number. */
const questions = new Map<number, (yes: boolean) => void>();
let nextQuestion = 1;

function ask(id: number, question: WalletQuestion): Promise<boolean> {
  const n = nextQuestion++;
  return new Promise((resolve) => {
    questions.set(n, resolve);
    post({ id, kind: 'ask', ask: n, question });
  });
}

/** The user compares the code: yes pins the peer; no refuses it, which the other side sees. */
async function confirmCode(id: number, code: string): Promise<true | DeviceError> {
  return (await ask(id, { type: 'code', code }))
    ? true
    : new DeviceError('CODE_MISMATCH', 'the codes do not match, or the user refused');
}

/** One node per worker, on this browser's device and the relay that served the page. */
async function deviceNode(): Promise<DeviceNode> {
  if (!node)
    node = await DeviceNode.open({
      home: await homeReady,
      store: await storeReady,
      relay: pageOrigin,
    });
  return node;
}

async function withDeviceProgress<T>(id: number, fn: (n: DeviceNode) => Promise<T>): Promise<T> {
  const n = await deviceNode();
  const onProgress = (progress: DeviceProgress) =>
    post({ id, kind: 'event', event: { type: 'device-progress', progress } });
  n.on('progress', onProgress);
  try {
    return await fn(n);
  } finally {
    n.off('progress', onProgress);
  }
}

/** The origin the page came from: the default server. */
const pageOrigin = new URL(self.location.href).origin;

async function connection(): Promise<Connection> {
  const store = await storeReady;
  return {
    server: (await store.setting('server')) ?? pageOrigin,
    signedIn: (await store.setting('token')) !== undefined,
  };
}

async function theClient(): Promise<TesseraClient> {
  if (client) return client;
  const store = await storeReady;
  const { server } = await connection();
  client = new TesseraClient({
    server,
    token: async () => {
      const t = await store.setting('token');
      if (t === undefined)
        throw new WalletStoreError('BAD_INPUT', 'no access token: sign in on Server Status');
      return t;
    },
    store,
    transport: 'http',
  });
  return client;
}

/** Runs `fn` holding the key's lock; tells the page first when another tab holds it. */
function withKeyLock<T>(id: number, keyId: string, fn: () => Promise<T>): Promise<T> {
  const name = `tessera-wallet:key:${keyId}`;
  return navigator.locks
    .request(name, { ifAvailable: true }, async (lock) => {
      if (lock) return { ran: true as const, value: await fn() };
      return { ran: false as const };
    })
    .then((r) => {
      if (r.ran) return r.value;
      post({ id, kind: 'waiting' });
      return navigator.locks.request(name, fn) as Promise<T>;
    });
}

async function stamp(keyId: string): Promise<void> {
  await (await storeReady).setSetting(`updatedAt:${keyId}`, String(Date.now()));
}

type Handler<N extends CallName> = (arg: Calls[N][0], id: number) => Promise<Calls[N][1]>;
type Handlers = { [N in CallName]: Handler<N> };

const handlers: Handlers = {
  arithmetic: async () => arithmetic,
  connection: () => connection(),
  configure: async ({ server, token }) => {
    const store = await storeReady;
    if (server !== undefined) {
      const url = new URL(server);
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        throw new WalletStoreError('BAD_INPUT', 'the server address must be http(s)');
      await store.setSetting('server', url.origin === pageOrigin ? null : url.origin);
    }
    if (token !== undefined) await store.setSetting('token', token?.trim() || null);
    client = null;
    return connection();
  },
  status: async () => {
    const { server } = await connection();
    const t = performance.now();
    let res: Response;
    try {
      res = await fetch(new URL('/v1/status', server), { cache: 'no-store' });
    } catch (e) {
      throw Object.assign(new Error(`cannot reach ${server}: ${(e as Error).message}`), {
        code: 'TRANSPORT',
      });
    }
    const latencyMs = Math.round(performance.now() - t);
    if (!res.ok)
      throw Object.assign(new Error(`the server answered ${res.status}`), { code: 'TRANSPORT' });
    const body = (await res.json()) as { version: string };
    return { version: body.version, latencyMs };
  },
  lockState: async () => (await storeReady).lockState(),
  unlock: async ({ passphrase }) => {
    await (await storeReady).unlock(passphrase);
    return undefined;
  },
  setPassphrase: async ({ passphrase }) => {
    await (await storeReady).setPassphrase(passphrase);
    return undefined;
  },
  keys: async () => {
    const store = await storeReady;
    const keys: WalletKey[] = [];
    for (const k of await store.list()) {
      const at = await store.setting(`updatedAt:${k.keyId}`);
      keys.push(at === undefined ? k : { ...k, updatedAt: Number(at) });
    }
    return keys;
  },
  createKey: async ({ scheme, label }, id) => {
    const c = await theClient();
    const k = await c.createKey({
      scheme,
      label,
      onProgress: (progress) => post({ id, kind: 'progress', progress }),
    });
    await stamp(k.keyId);
    return { keyId: k.keyId, publicKey: k.publicKey };
  },
  sign: async ({ keyId, payload }, id) => {
    const c = await theClient();
    return withKeyLock(id, keyId, () =>
      c.sign(keyId, payload, { onProgress: (progress) => post({ id, kind: 'progress', progress }) })
    );
  },
  refresh: async ({ keyId }, id) => {
    const c = await theClient();
    const r = await withKeyLock(id, keyId, () =>
      c.refresh(keyId, { onProgress: (progress) => post({ id, kind: 'progress', progress }) })
    );
    await stamp(keyId);
    return r;
  },
  exportBackup: async ({ keyId, passphrase }, id) => {
    const c = await theClient();
    return withKeyLock(id, keyId, () => c.exportBackup(keyId, passphrase));
  },
  importBackup: async ({ blob, passphrase }) => {
    const c = await theClient();
    const k = await c.importBackup(blob, passphrase);
    await stamp(k.keyId);
    return { keyId: k.keyId, publicKey: k.publicKey };
  },
  mode: async () => {
    const probe = (path: string) =>
      fetch(new URL(path, pageOrigin), { cache: 'no-store' }).then(
        (r) => r.ok,
        () => false
      );
    if (await probe('/v1/status')) return 'server';
    if (await probe('/v1/health')) return 'relay';
    throw Object.assign(new Error(`cannot reach ${pageOrigin}`), { code: 'TRANSPORT' });
  },
  device: async () => {
    const home = await homeReady;
    if (!(await home.exists())) return null;
    const d = await home.load();
    return { name: d.name, fingerprint: d.fingerprint };
  },
  deviceInit: async ({ name }) => {
    const d = await (await homeReady).init(name);
    return { name: d.name, fingerprint: d.fingerprint };
  },
  peers: async () => (await homeReady).peers(),
  pairInvite: async (_arg, id) => {
    const home = await homeReady;
    const { peer } = await pairAsInitiator({
      home,
      device: await home.load(),
      relay: pageOrigin,
      onInvite: (invite) => post({ id, kind: 'event', event: { type: 'invite', invite } }),
      confirmCode: (code) => confirmCode(id, code),
    });
    return peer;
  },
  pairJoin: async ({ invite }, id) => {
    const home = await homeReady;
    const { peer } = await pairAsResponder({
      home,
      device: await home.load(),
      invite: invite.trim(),
      confirmCode: (code) => confirmCode(id, code),
    });
    return peer;
  },
  deviceKeygen: async ({ peer, scheme, label }, id) =>
    withDeviceProgress(id, (node) => node.keygen({ peer, scheme, label })),
  deviceSign: async ({ keyId, message, hash, purpose }, id) =>
    withKeyLock(id, keyId, () =>
      withDeviceProgress(id, (node) =>
        node.sign({ keyId, input: hash ? { message, hash } : { message }, purpose })
      )
    ),
  serve: async (_arg, id) => {
    serving?.abort();
    const stop = new AbortController();
    serving = stop;
    const node = await deviceNode();
    const onRequest = (request: DeviceRequest) =>
      post({ id, kind: 'event', event: { type: 'request', request } });
    const onServed = (served: ServedRequest) =>
      post({ id, kind: 'event', event: { type: 'served', served } });
    node.on('request', onRequest).on('served', onServed);
    try {
      // One tab serves at a time: two would both read each request, and the second would
      // answer it as a replay (deny) before the first tab's user decides.
      await navigator.locks.request('tessera-wallet:serve', { signal: stop.signal }, () =>
        node.serve({
          approve: (request) => ask(id, { type: 'approve', request }),
          signal: stop.signal,
        })
      );
    } catch (e) {
      if (!stop.signal.aborted) throw e;
    } finally {
      node.off('request', onRequest).off('served', onServed);
    }
    return undefined;
  },
  stopServing: async () => {
    serving?.abort();
    serving = null;
    return undefined;
  },
};

/** The code a page can act on: core's backup checks and the store's refusals have their own. */
function codeOf(e: unknown): string {
  const err = e as { code?: unknown; check?: unknown } | null | undefined;
  if (err?.check === 'BackupPassphrase') return 'WRONG_PASSPHRASE';
  return typeof err?.code === 'string' ? err.code : 'INTERNAL';
}

self.onmessage = async (ev: MessageEvent<CallMessage | AnswerMessage>) => {
  if ('ask' in ev.data) {
    const { ask: n, yes } = ev.data;
    questions.get(n)?.(yes === true);
    questions.delete(n);
    return;
  }
  const { id, call, arg } = ev.data;
  try {
    if (randomnessFailure) throw randomnessFailure;
    const handler = handlers[call] as Handler<CallName>;
    const value = await handler(arg, id);
    post({ id, kind: 'result', value }, value instanceof Uint8Array ? [value.buffer] : []);
  } catch (e) {
    // The message only: no stack, no cause (which might hold protocol bytes).
    const message = (e as Error | null | undefined)?.message;
    post({ id, kind: 'error', code: codeOf(e), message: message ?? String(e) });
  }
};
