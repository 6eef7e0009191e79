/**
 * The browser's device home (`DeviceHomeStore`): this browser's device identity, the devices it
 * paired with, and the pairing lockout, in the wallet's IndexedDB.
 *
 * - The identity's Ed25519 and X25519 secrets are sealed (AES-256-GCM) under the wallet's
 *   non-extractable wrapping key, with the record's purpose as associated data.
 * - Peers are records keyed by fingerprint; the lockout is core's `PairingLockout` state, with
 *   the device-wide entry.
 * - The attempt in progress is written before a code is shown, with its owner's live Web Lock:
 *   an attempt whose owner is gone (a closed tab) counts as failed, as the Node home counts a
 *   dead process's.
 * @module
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  assertPairingOpen,
  checkDeviceName,
  DEVICE_WIDE,
  DeviceError,
  type DeviceHomeStore,
  type DeviceInfo,
  findPeerIn,
  type PeerRecord,
} from '@tessera/client';
import {
  fingerprint,
  newPartyIdentity,
  PairingLockout,
  type PairingLockoutState,
  type PartyPublic,
} from '@tessera/core';
import {
  exclusively,
  inTransaction,
  liveOwner,
  liveOwners,
  open,
  request,
  type Sealed,
  type StoreName,
  seal,
} from './idb.ts';

const DEVICE = 'device';
const AAD = new TextEncoder().encode('tessera-wallet/device-identity/v1');

interface DeviceRecord {
  name: string;
  publicKey: Uint8Array;
  x25519: Uint8Array;
  /** signingKey ‖ x25519Secret, sealed. */
  secrets: Sealed;
  createdAt: number;
}

interface Attempt {
  owner: string;
  at: number;
  peer: string | null;
}

export class IdbDeviceHome implements DeviceHomeStore {
  readonly #db: IDBDatabase;
  readonly #key: CryptoKey;
  readonly #owner = liveOwner();

  constructor(db: IDBDatabase, wrappingKey: CryptoKey) {
    this.#db = db;
    this.#key = wrappingKey;
  }

  #tx<T>(
    stores: StoreName | StoreName[],
    mode: IDBTransactionMode,
    fn: (tx: IDBTransaction) => Promise<T> | T
  ): Promise<T> {
    return inTransaction(this.#db, stores, mode, fn);
  }

  async #record(): Promise<DeviceRecord | undefined> {
    return this.#tx('device', 'readonly', (tx) => request(tx.objectStore('device').get(DEVICE)));
  }

  async exists(): Promise<boolean> {
    return (await this.#record()) !== undefined;
  }

  /** Creates this browser's device under `name`; `DEVICE_EXISTS` if it has one. */
  async init(name: string): Promise<DeviceInfo> {
    checkDeviceName(name);
    const identity = newPartyIdentity();
    const secrets = new Uint8Array(64);
    secrets.set(identity.signingKey);
    secrets.set(identity.x25519Secret, 32);
    const sealed = await seal(this.#key, secrets, AAD);
    secrets.fill(0);
    const createdAt = Date.now();
    await this.#tx('device', 'readwrite', async (tx) => {
      const store = tx.objectStore('device');
      if ((await request(store.count(DEVICE))) > 0)
        throw new DeviceError('DEVICE_EXISTS', 'this browser already holds a device');
      store.put(
        {
          name,
          publicKey: identity.public.publicKey,
          x25519: identity.public.x25519,
          secrets: sealed,
          createdAt,
        } satisfies DeviceRecord,
        DEVICE
      );
    });
    return { name, identity, fingerprint: fingerprint(identity.public), createdAt };
  }

  async load(): Promise<DeviceInfo> {
    const r = await this.#record();
    if (!r) throw new DeviceError('NO_DEVICE', 'no device in this browser: name it on Find Peers');
    let secrets: Uint8Array;
    try {
      secrets = await open(this.#key, r.secrets, AAD);
    } catch {
      throw new DeviceError('DEVICE_CORRUPTED', "this browser's device identity does not decrypt");
    }
    const signingKey = secrets.slice(0, 32);
    const x25519Secret = secrets.slice(32);
    secrets.fill(0);
    const pub: PartyPublic = {
      publicKey: ed25519.getPublicKey(signingKey),
      x25519: x25519.getPublicKey(x25519Secret),
    };
    return {
      name: r.name,
      identity: { public: pub, signingKey, x25519Secret },
      fingerprint: fingerprint(pub),
      createdAt: r.createdAt,
    };
  }

  async addPeer(p: { name: string; peer: PartyPublic }): Promise<PeerRecord> {
    const rec: PeerRecord = {
      name: p.name,
      publicKey: bytesToHex(p.peer.publicKey),
      x25519: bytesToHex(p.peer.x25519),
      fingerprint: fingerprint(p.peer),
      pairedAt: Date.now(),
    };
    await this.#tx('peers', 'readwrite', (tx) => {
      tx.objectStore('peers').put(rec, rec.fingerprint);
    });
    return rec;
  }

  async peers(): Promise<PeerRecord[]> {
    const all = (await this.#tx('peers', 'readonly', (tx) =>
      request(tx.objectStore('peers').getAll())
    )) as PeerRecord[];
    return all.sort(
      (a, b) => a.pairedAt - b.pairedAt || a.fingerprint.localeCompare(b.fingerprint)
    );
  }

  async findPeer(q: string): Promise<PeerRecord> {
    return findPeerIn(await this.peers(), q);
  }

  // ---- pairing attempts and the lockout ----

  #lockout(state: PairingLockoutState | undefined): PairingLockout {
    try {
      return new PairingLockout(Date.now, state);
    } catch {
      throw new DeviceError('DEVICE_CORRUPTED', "this browser's pairing lockout is damaged");
    }
  }

  /** In one transaction: counts a failure for the device and `peer`, and ends the attempt. */
  async #fail(peer: string | null): Promise<void> {
    await this.#tx('pairing', 'readwrite', async (tx) => {
      const store = tx.objectStore('pairing');
      const l = this.#lockout(await request(store.get('lockout')));
      if (peer) l.recordFailure(peer);
      l.recordFailure(DEVICE_WIDE);
      store.put(l.toJSON(), 'lockout');
      store.delete('attempt');
    });
  }

  beginPairing(peer?: string): Promise<void> {
    return exclusively('tessera-wallet:pairing', async () => {
      const live = await liveOwners();
      const a = (await this.#tx('pairing', 'readonly', (tx) =>
        request(tx.objectStore('pairing').get('attempt'))
      )) as Attempt | undefined;
      if (a && a.owner !== this.#owner) {
        if (live.has(a.owner))
          throw new DeviceError('PAIRING_BUSY', 'another tab is pairing this device');
        await this.#fail(a.peer);
      }
      await this.assertUnlocked(peer);
    });
  }

  async assertUnlocked(peer?: string): Promise<void> {
    const state = await this.#tx('pairing', 'readonly', (tx) =>
      request(tx.objectStore('pairing').get('lockout'))
    );
    assertPairingOpen(this.#lockout(state), Date.now(), peer);
  }

  async markAttempt(peer: string): Promise<void> {
    await this.#tx('pairing', 'readwrite', (tx) => {
      tx.objectStore('pairing').put(
        { owner: this.#owner, at: Date.now(), peer } satisfies Attempt,
        'attempt'
      );
    });
  }

  recordFailure(peer: string | null): Promise<void> {
    return this.#fail(peer);
  }

  async endPairing(success?: string): Promise<void> {
    await this.#tx('pairing', 'readwrite', async (tx) => {
      const store = tx.objectStore('pairing');
      if (success) {
        const l = this.#lockout(await request(store.get('lockout')));
        l.recordSuccess(success);
        store.put(l.toJSON(), 'lockout');
      }
      store.delete('attempt');
    });
  }
}
