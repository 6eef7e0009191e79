/**
 * Where a chain adapter gets its signatures: the shares of a key held in this process (a local
 * key, tests), or the client SDK and the co-signing server (a remote key). Adapters hand over a
 * typed payload, never a bare digest where a typed one exists, so that the server can parse a
 * transaction itself and apply the key's policy before round 1.
 * @module
 */
import { type SignPayload, signingInput } from '@tessera/api';
import type { TesseraClient } from '@tessera/client';
import { type KeyShare, local, type Scheme } from '@tessera/core';
import { ChainError } from './errors.ts';

/** A signature as the protocols produce it. ECDSA: `r ‖ s` (low s) and the recovery id. */
export interface RawSignature {
  /** 64 bytes: ECDSA `r ‖ s`, Ed25519 `R ‖ S`, BIP-340 `x(R) ‖ s`. */
  signature: Uint8Array;
  /** ECDSA only: 0 or 1 (the parity of R's y, flipped when s was negated). */
  recovery?: 0 | 1;
}

export interface SigningBackend {
  readonly scheme: Scheme;
  /**
   * The public key as the key reports it: 33-byte SEC1 compressed for `ecdsa`, 32-byte x-only
   * for `bip340`, 32 bytes for `ed25519`.
   */
  readonly publicKey: Uint8Array;
  sign(payload: SignPayload): Promise<RawSignature>;
}

/** A key whose shares (a signing quorum of them) are all in this process. */
export class LocalBackend implements SigningBackend {
  readonly scheme: Scheme;
  readonly publicKey: Uint8Array;
  readonly #shares: KeyShare[];

  constructor(shares: KeyShare[]) {
    const first = shares[0];
    if (!first) throw new Error('LocalBackend: no shares');
    this.#shares = shares;
    this.scheme = first.scheme;
    this.publicKey = first.publicKey;
  }

  async sign(payload: SignPayload): Promise<RawSignature> {
    // The same meaning the server gives a payload: the bytes come from @tessera/api.
    const { bytes } = signingInput(this.scheme, payload);
    if (this.scheme === 'ecdsa') {
      const s = await local.sign('ecdsa', this.#shares, bytes);
      return { signature: s.compact, recovery: s.recovery };
    }
    return { signature: await local.sign(this.scheme, this.#shares, bytes) };
  }
}

/** A key shared with the co-signing server: our share in the client's store, the other there. */
export class RemoteBackend implements SigningBackend {
  readonly scheme: Scheme;
  readonly publicKey: Uint8Array;
  readonly #client: TesseraClient;
  readonly #keyId: string;

  private constructor(client: TesseraClient, keyId: string, scheme: Scheme, publicKey: Uint8Array) {
    this.#client = client;
    this.#keyId = keyId;
    this.scheme = scheme;
    this.publicKey = publicKey;
  }

  /**
   * The key as the client stored it at key generation. Addresses come from this record, never
   * from the server's answer: a server that lied about the public key would otherwise show the
   * user an address it alone controls. A server record that differs is refused.
   */
  static async open(client: TesseraClient, keyId: string): Promise<RemoteBackend> {
    const stored = await client.localKey(keyId);
    const remote = await client.getKey(keyId);
    if (remote.publicKey !== stored.publicKey || remote.scheme !== stored.scheme)
      throw new ChainError(
        'KEY_MISMATCH',
        `the server's record of key ${keyId} does not match this client's: refusing to use it`
      );
    return new RemoteBackend(
      client,
      keyId,
      stored.scheme,
      new Uint8Array(Buffer.from(stored.publicKey, 'hex'))
    );
  }

  async sign(payload: SignPayload): Promise<RawSignature> {
    const s = await this.#client.sign(this.#keyId, payload);
    const signature = new Uint8Array(Buffer.from(s.signature, 'hex'));
    return s.recovery === undefined ? { signature } : { signature, recovery: s.recovery };
  }
}
