/**
 * The page ↔ worker contract. The page never holds a share: it asks the worker, which owns the
 * store and the client, and gets public results, progress and typed errors back.
 * @module
 */
import type { SignPayload } from '@tessera/api';
import type {
  DeviceKey,
  DeviceProgress,
  DeviceRequest,
  DeviceSignature,
  PeerRecord,
  Progress,
  Scheme,
  ServedRequest,
  Signature,
  StoredKey,
} from '@tessera/client';

export interface ServerStatus {
  version: string;
  /** Round trip of `GET /v1/status`, in milliseconds. */
  latencyMs: number;
}

export interface Connection {
  server: string;
  /** Whether an access token is set (the token itself never leaves the worker). */
  signedIn: boolean;
}

export interface WalletKey extends StoredKey {
  /** When this wallet last stored a new epoch of the key (creation, refresh), ms since epoch. */
  updatedAt?: number;
}

/**
 * The worker's secp256k1 arithmetic: libsecp256k1 in WebAssembly, or @noble/curves with the
 * reason when WebAssembly was refused (ECDSA key generation is then several times slower).
 */
export interface Arithmetic {
  backend: string;
  warning?: string;
}

/** Each call the worker answers, with its argument and result. */
export interface Calls {
  arithmetic: [undefined, Arithmetic];
  connection: [undefined, Connection];
  configure: [{ server?: string; token?: string | null }, Connection];
  status: [undefined, ServerStatus];
  lockState: [undefined, { passphrase: boolean; unlocked: boolean }];
  unlock: [{ passphrase: string }, undefined];
  setPassphrase: [{ passphrase: string }, undefined];
  keys: [undefined, WalletKey[]];
  createKey: [{ scheme: Scheme; label: string }, { keyId: string; publicKey: string }];
  sign: [{ keyId: string; payload: SignPayload }, Signature];
  refresh: [{ keyId: string }, { keyId: string; epoch: string }];
  exportBackup: [{ keyId: string; passphrase: string }, Uint8Array];
  importBackup: [{ blob: Uint8Array; passphrase: string }, { keyId: string; publicKey: string }];
  /** Who served the page: a co-signing server (`/v1/status`) or a relay (`/v1/health`). */
  mode: [undefined, 'server' | 'relay'];
  /** This browser's device, if it has one. */
  device: [undefined, { name: string; fingerprint: string } | null];
  deviceInit: [{ name: string }, { name: string; fingerprint: string }];
  peers: [undefined, PeerRecord[]];
  /** Starts pairing: an `invite` event, then a `code` question; the pinned peer. */
  pairInvite: [undefined, PeerRecord];
  /** Joins with an invite: a `code` question; the pinned peer. */
  pairJoin: [{ invite: string }, PeerRecord];
  deviceKeygen: [{ peer: string; scheme: Scheme; label: string }, DeviceKey];
  deviceSign: [
    { keyId: string; message: string; hash?: 'sha256'; purpose: string },
    DeviceSignature,
  ];
  /** Answers paired devices until `stopServing`: `approve` questions, `served` events. */
  serve: [undefined, undefined];
  stopServing: [undefined, undefined];
}

/** What the worker reports while a call runs, besides protocol progress. */
export type WalletEvent =
  | { type: 'invite'; invite: string }
  | { type: 'device-progress'; progress: DeviceProgress }
  | { type: 'request'; request: DeviceRequest }
  | { type: 'served'; served: ServedRequest };

/** What the worker asks the user while a call runs; the page answers yes or no. */
export type WalletQuestion =
  | { type: 'code'; code: string }
  | { type: 'approve'; request: DeviceRequest };

/** The page's answer to a question (`ask` is the question's number). */
export interface AnswerMessage {
  ask: number;
  yes: boolean;
}

export type CallName = keyof Calls;

export interface CallMessage<N extends CallName = CallName> {
  id: number;
  call: N;
  arg: Calls[N][0];
}

/** What the worker posts back: progress while a call runs, then a result or an error. */
export type WorkerMessage =
  | { id: number; kind: 'progress'; progress: Progress }
  /** The call waits for another tab that holds the key's lock. */
  | { id: number; kind: 'waiting' }
  | { id: number; kind: 'event'; event: WalletEvent }
  | { id: number; kind: 'ask'; ask: number; question: WalletQuestion }
  | { id: number; kind: 'result'; value: unknown }
  | { id: number; kind: 'error'; code: string; message: string };

/** A failed call as the page sees it: the code is the client's, the server's or the store's. */
export class WalletError extends Error {
  override name = 'WalletError';
  constructor(
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}
