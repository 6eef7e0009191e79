/**
 * The wallet's worker: it owns the share store and the Tessera client and runs every protocol,
 * so the page stays responsive through an ECDSA key generation. A call that uses a key's share
 * holds that key's Web Lock, so two tabs never use one share at once: the second waits, and the
 * page says so.
 * @module
 */
import { TesseraClient } from '@tessera/client';
import { IndexedDbShareStore, WalletStoreError } from './idb-store.ts';
import type { CallMessage, CallName, Calls, Connection, WalletKey, WorkerMessage } from './rpc.ts';

const post = (m: WorkerMessage, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(
    m,
    transfer
  );

const storeReady = IndexedDbShareStore.open();
let client: TesseraClient | null = null;

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
  wrappingKeyExportable: async () => {
    const key = (await storeReady).wrappingKey;
    try {
      await crypto.subtle.exportKey('raw', key);
      return true;
    } catch {
      return false;
    }
  },
};

/** The code a page can act on: core's backup checks and the store's refusals have their own. */
function codeOf(e: unknown): string {
  const err = e as { code?: unknown; check?: unknown };
  if (err.check === 'BackupPassphrase') return 'WRONG_PASSPHRASE';
  return typeof err.code === 'string' ? err.code : 'INTERNAL';
}

self.onmessage = async (ev: MessageEvent<CallMessage>) => {
  const { id, call, arg } = ev.data;
  try {
    const handler = handlers[call] as Handler<CallName>;
    const value = await handler(arg, id);
    post({ id, kind: 'result', value }, value instanceof Uint8Array ? [value.buffer] : []);
  } catch (e) {
    // The message only: no stack, no cause (which might hold protocol bytes).
    post({ id, kind: 'error', code: codeOf(e), message: (e as Error).message ?? String(e) });
  }
};
