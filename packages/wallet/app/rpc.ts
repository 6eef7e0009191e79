/**
 * The page ↔ worker contract. The page never holds a share: it asks the worker, which owns the
 * store and the client, and gets public results, progress and typed errors back.
 * @module
 */
import type { SignPayload } from '@tessera/api';
import type { Progress, Scheme, Signature, StoredKey } from '@tessera/client';

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

/** Each call the worker answers, with its argument and result. */
export interface Calls {
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
  /** For the storage test: whether the wrapping key refuses to be exported. */
  wrappingKeyExportable: [undefined, boolean];
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
