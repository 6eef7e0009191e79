/**
 * Shares and session state at rest: sealed with AES-256-GCM under a data key, bound by the AAD to
 * what they are (key id, party and epoch for a share; session id for session state). The data
 * key is wrapped by the key-encryption key (KEK), read from a file (default `DATA/kek.hex`,
 * created with mode 0600 on first start) or the `TESSERA_KEK` environment variable (hex). A
 * tampered, swapped or truncated blob fails authentication: `KEY_CORRUPTED`, never a protocol run.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ApiError } from './errors.ts';

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const WRAP_AAD = utf8ToBytes('tessera/data-key/v1');

/** Something that wraps and unwraps data keys: a KEK in memory, a PKCS#11 token, a cloud KMS. */
export interface KeyWrapper {
  readonly description: string;
  wrap(dataKey: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array): Promise<Uint8Array>;
}

// AES-256-GCM from node:crypto (OpenSSL, AES-NI): sealing runs on every protocol step.
function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return concatBytes(new Uint8Array([VERSION]), nonce, body);
}

function open(key: Uint8Array, blob: Uint8Array, aad: Uint8Array, what: string): Uint8Array {
  if (blob.length < 1 + NONCE_BYTES + TAG_BYTES || blob[0] !== VERSION)
    throw new ApiError(
      'KEY_CORRUPTED',
      `${what}: stored blob is truncated or of an unknown version`
    );
  try {
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(1, 1 + NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    d.setAAD(aad);
    d.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
    return new Uint8Array(
      Buffer.concat([d.update(blob.subarray(1 + NONCE_BYTES, blob.length - TAG_BYTES)), d.final()])
    );
  } catch {
    throw new ApiError('KEY_CORRUPTED', `${what}: stored blob failed authentication`);
  }
}

/** A KEK held in process memory, from a file or an environment variable. */
export class LocalKek implements KeyWrapper {
  readonly description: string;
  readonly #kek: Uint8Array;

  private constructor(kek: Uint8Array, description: string) {
    this.#kek = kek;
    this.description = description;
  }

  /** Reads the KEK from `TESSERA_KEK` (hex), else from `file`, creating the file if `create`. */
  static load(file: string, opts: { create: boolean; env?: NodeJS.ProcessEnv }): LocalKek {
    const fromEnv = (opts.env ?? process.env).TESSERA_KEK;
    if (fromEnv) return new LocalKek(parseKek(fromEnv, 'TESSERA_KEK'), 'env TESSERA_KEK');
    if (!existsSync(file)) {
      if (!opts.create) throw new Error(`key-encryption key file ${file} does not exist`);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${bytesToHex(new Uint8Array(randomBytes(32)))}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
    }
    chmodSync(file, 0o600);
    return new LocalKek(parseKek(readFileSync(file, 'utf8'), file), `file ${file}`);
  }

  async wrap(dataKey: Uint8Array): Promise<Uint8Array> {
    return seal(this.#kek, dataKey, WRAP_AAD);
  }

  async unwrap(wrapped: Uint8Array): Promise<Uint8Array> {
    try {
      return open(this.#kek, wrapped, WRAP_AAD, 'data key');
    } catch {
      throw new Error("the key-encryption key does not unwrap this store's data key (wrong KEK?)");
    }
  }
}

function parseKek(text: string, where: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new Error(`${where}: expected 32 bytes as 64 hex digits`);
  return hexToBytes(hex.toLowerCase());
}

const enc = (parts: (string | number)[]) => utf8ToBytes(JSON.stringify(parts));

/** Seals and opens shares and session state under the store's data key. */
export class Sealer {
  readonly #dataKey: Uint8Array;

  constructor(dataKey: Uint8Array) {
    if (dataKey.length !== 32) throw new Error('data key must be 32 bytes');
    this.#dataKey = dataKey;
  }

  /** Gets the store's data key, creating and wrapping it on first use. */
  static async open(
    wrapper: KeyWrapper,
    meta: { get(): Promise<Uint8Array | null>; putIfAbsent(v: Uint8Array): Promise<Uint8Array> }
  ): Promise<Sealer> {
    let wrapped = await meta.get();
    if (!wrapped)
      wrapped = await meta.putIfAbsent(await wrapper.wrap(new Uint8Array(randomBytes(32))));
    return new Sealer(await wrapper.unwrap(wrapped));
  }

  sealShare(keyId: string, party: number, epoch: string, share: Uint8Array): Uint8Array {
    return seal(this.#dataKey, share, enc(['share', keyId, party, epoch]));
  }

  openShare(keyId: string, party: number, epoch: string, blob: Uint8Array): Uint8Array {
    return open(this.#dataKey, blob, enc(['share', keyId, party, epoch]), `share of key ${keyId}`);
  }

  sealSession(sessionId: string, version: number, state: Uint8Array): Uint8Array {
    return seal(this.#dataKey, state, enc(['session', sessionId, version]));
  }

  openSession(sessionId: string, version: number, blob: Uint8Array): Uint8Array {
    return open(this.#dataKey, blob, enc(['session', sessionId, version]), `session ${sessionId}`);
  }

  /** A node's identity secret keys (docs/topologies.md), bound to the node's id. */
  sealIdentity(nodeId: string, secret: Uint8Array): Uint8Array {
    return seal(this.#dataKey, secret, enc(['node-identity', nodeId]));
  }

  openIdentity(nodeId: string, blob: Uint8Array): Uint8Array {
    return open(this.#dataKey, blob, enc(['node-identity', nodeId]), `identity of ${nodeId}`);
  }
}
