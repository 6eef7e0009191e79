import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  checkedSignature,
  type KeyInfoResponse,
  type KeyListResponse,
  type SessionStartedResponse,
  type SignPayload,
  type SignResultBody,
  type StepReplyResponse,
  signingInput,
} from '@tessera/api';
import {
  decodeEnvelope,
  dkg,
  type Envelope,
  ecdsaSign,
  encodeEnvelope,
  exportShare,
  frostSign,
  importShare,
  KeyShare,
  reshare,
  type Session,
  type Step,
  taprootTweak,
} from '@tessera/core';
import { fromBase64, toBase64 } from './base64.ts';
import { ClientError } from './errors.ts';
import type { ShareStore, StoredKey } from './store.ts';
import {
  Http,
  HttpStepTransport,
  type StepTransport,
  type WebSocketFactory,
  WsStepTransport,
} from './transport.ts';

export type Scheme = 'ecdsa' | 'ed25519' | 'bip340';
export type Phase = 'keygen' | 'sign' | 'refresh';

export interface Progress {
  phase: Phase;
  round: number;
  totalRounds: number;
}

export interface ClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:7420`. */
  server: string;
  /** Bearer token, or a function returning a fresh one. */
  token: string | (() => Promise<string>);
  store: ShareStore;
  /** `http` (start/step calls, the default) or `ws` (a WebSocket per session). */
  transport?: 'http' | 'ws';
  /** WebSocket constructor for `ws` (the browser's by default; `@tessera/client/node` passes `ws`'s). */
  webSocket?: WebSocketFactory;
  fetch?: typeof fetch;
}

export interface CreatedKey {
  keyId: string;
  scheme: Scheme;
  publicKey: string;
  epoch: string;
}

export interface Signature extends SignResultBody {
  keyId: string;
}

export type TransportKind = 'http' | 'ws';

export interface CallOptions {
  onProgress?: (p: Progress) => void;
  /** Per-call transport, or a choice per step (step 0, 1, …): a session may switch mid-way. */
  transport?: TransportKind | ((step: number) => TransportKind);
}

const CLIENT_PARTY = 1;
const SERVER_PARTY = 2;
/** Parsed shares kept per client (see `#parsed`). */
const PARSED_SHARES = 64;
const fromB64 = (s: string) => decodeEnvelope(fromBase64(s));
const toB64 = toBase64;

/** What to sign: a typed payload, or the CLI's shorthands. */
export type SignInput =
  | SignPayload
  | { digest: string }
  | { message: string; hash?: 'sha256' | 'keccak256' };

export class TesseraClient {
  readonly http: Http;
  readonly #store: ShareStore;
  /**
   * Parsed shares by `keyId:epoch`, each with the SHA-256 of the stored bytes it came from:
   * parsing validates the share (point decoding, a base multiplication, interpolation), ~2 ms
   * that every signature would otherwise pay; a share whose stored bytes changed is parsed again.
   */
  readonly #parsed = new Map<string, { digest: string; share: KeyShare }>();
  readonly #transport: TransportKind;
  readonly #webSocket: WebSocketFactory | undefined;
  /** Test hook: gets each WebSocket transport before use. */
  onWsTransport: ((t: WsStepTransport) => void) | null = null;

  constructor(o: ClientOptions) {
    this.http = new Http({
      server: o.server,
      token: o.token,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    this.#store = o.store;
    this.#transport = o.transport ?? 'http';
    this.#webSocket = o.webSocket;
  }

  #stepper(kind: TransportKind): StepTransport {
    if (kind === 'http') return new HttpStepTransport(this.http);
    const factory =
      this.#webSocket ??
      ((url: string) =>
        new (globalThis as unknown as { WebSocket: new (u: string) => never }).WebSocket(url));
    const t = new WsStepTransport(this.http, factory);
    this.onWsTransport?.(t);
    return t;
  }

  /** Creates a 2-of-2 key with the server; the client share is stored before this returns. */
  async createKey(o: { scheme: Scheme; label?: string } & CallOptions): Promise<CreatedKey> {
    const started = await this.http.request<SessionStartedResponse>('POST', '/v1/keys', {
      scheme: o.scheme,
      ...(o.label ? { label: o.label } : {}),
      ...fresh(),
    });
    const p = started.params;
    expect(
      started.protocol === 'dkg' && p.scheme === o.scheme && p.sid0 !== undefined,
      'unexpected key generation parameters'
    );
    const first = dkg.start({
      scheme: o.scheme,
      threshold: 2,
      parties: 2,
      me: CLIENT_PARTY,
      sid0: hexToBytes(p.sid0 as string),
      ...(o.label ? { label: o.label } : {}),
    });
    const { result, reply } = await this.#run(
      started,
      first,
      (s, e) => dkg.receive(s, e),
      'keygen',
      o
    );
    const share = result;
    const server = reply.result as CreatedKey | undefined;
    if (
      !server ||
      server.keyId !== share.keyIdHex ||
      server.publicKey !== bytesToHex(share.publicKey)
    )
      throw new ClientError('SESSION_INCOMPLETE', 'the server did not confirm the same key');
    const created: CreatedKey = {
      keyId: share.keyIdHex,
      scheme: o.scheme,
      publicKey: server.publicKey,
      epoch: bytesToHex(share.epoch),
    };
    await this.#store.put(
      { ...created, label: o.label ?? '', server: this.http.server },
      share.toBytes()
    );
    return created;
  }

  /** Signs with the key; the signature is verified against the stored public key before it is returned. */
  async sign(keyId: string, input: SignInput, o: CallOptions = {}): Promise<Signature> {
    const stored = await this.#storedKey(keyId);
    const payload = toPayload(input);
    const expected = signingInput(stored.scheme, payload);
    const own = await this.#share(stored, stored.epoch);
    // BIP-341: sign with our share tweaked to the Taproot output key, as the server does.
    const share = expected.taproot ? taprootTweak(own, expected.taproot.merkleRoot) : own;
    const publicKey = expected.taproot ? bytesToHex(share.publicKey) : stored.publicKey;
    const started = await this.http.request<SessionStartedResponse>(
      'POST',
      `/v1/keys/${keyId}/sign`,
      {
        payload,
        epoch: stored.epoch,
        ...fresh(),
      }
    );
    const p = started.params;
    const signed = hexToBytes((stored.scheme === 'ecdsa' ? p.digest : p.message) ?? '');
    // Sign only what we asked for (security-tests T-POL-01), under the key and epoch we hold.
    if (
      p.keyId !== keyId ||
      p.epoch !== stored.epoch ||
      bytesToHex(signed) !== bytesToHex(expected.bytes) ||
      (expected.taproot !== undefined && p.outputKey !== publicKey) ||
      !p.rid
    )
      throw new ClientError(
        'DIGEST_MISMATCH',
        'the server asked to sign something other than the request'
      );
    const rid = hexToBytes(p.rid);
    const signers = [CLIENT_PARTY, SERVER_PARTY];
    const result =
      stored.scheme === 'ecdsa'
        ? (
            await this.#run(
              started,
              ecdsaSign.start({ share, signers, rid, digest: signed }),
              (s, e) => ecdsaSign.receive(s, e, { share }),
              'sign',
              o
            )
          ).result
        : (
            await this.#run(
              started,
              frostSign.start({ share, signers, message: signed, rid }),
              (s, e) => frostSign.receive(s, e),
              'sign',
              o
            )
          ).result;
    const body = checkedSignature(stored.scheme, publicKey, signed, result);
    if (!body)
      throw new ClientError(
        'BAD_SIGNATURE',
        'the signature does not verify under the stored public key'
      );
    return { keyId, ...body };
  }

  /** Refreshes both shares (same public key, new epoch); the old share is deleted once the server confirms. */
  async refresh(keyId: string, o: CallOptions = {}): Promise<{ keyId: string; epoch: string }> {
    return this.#refresh(keyId, 'refresh', o);
  }

  /**
   * After `importBackup`: proves to the server that this client holds the restored share (a
   * refresh the restored client starts), and replaces both shares, so the backup is retired.
   */
  async recover(keyId: string, o: CallOptions = {}): Promise<{ keyId: string; epoch: string }> {
    return this.#refresh(keyId, 'recover', o);
  }

  async #refresh(
    keyId: string,
    route: 'refresh' | 'recover',
    o: CallOptions
  ): Promise<{ keyId: string; epoch: string }> {
    const stored = await this.#storedKey(keyId);
    const share = await this.#share(stored, stored.epoch);
    const started = await this.http.request<SessionStartedResponse>(
      'POST',
      `/v1/keys/${keyId}/${route}`,
      {
        epoch: stored.epoch,
        ...fresh(),
      }
    );
    const p = started.params;
    expect(
      started.protocol === 'reshare' &&
        p.keyId === keyId &&
        p.epoch === stored.epoch &&
        p.sid0 !== undefined,
      'unexpected refresh parameters'
    );
    const first = reshare.start({
      share,
      dealers: [CLIENT_PARTY, SERVER_PARTY],
      parties: [CLIENT_PARTY, SERVER_PARTY],
      threshold: 2,
      me: CLIENT_PARTY,
      sid0: hexToBytes(p.sid0 as string),
    });
    const { result } = await this.#run(
      started,
      first,
      (s, e) => reshare.receive(s, e),
      'refresh',
      o
    );
    const r = result;
    if (!r.share)
      throw new ClientError('SESSION_INCOMPLETE', 'the refresh gave this party no share');
    const epoch = bytesToHex(r.epoch);
    // Two-phase: keep the old share until the new one is stored here and confirmed there.
    await this.#store.put({ ...stored, epoch }, r.share.toBytes());
    await this.http.request<KeyInfoResponse>('POST', `/v1/keys/${keyId}/refresh/confirm`, {
      epoch,
    });
    await this.#store.prune(keyId, epoch);
    return { keyId, epoch };
  }

  getKey(keyId: string): Promise<KeyInfoResponse> {
    return this.http.request<KeyInfoResponse>('GET', `/v1/keys/${keyId}`);
  }

  async listKeys(): Promise<KeyInfoResponse[]> {
    return (await this.http.request<KeyListResponse>('GET', '/v1/keys')).keys;
  }

  /** A passphrase-encrypted backup (Argon2id + AES-256-GCM) of this client's current share. */
  async exportBackup(keyId: string, passphrase: string): Promise<Uint8Array> {
    const stored = await this.#storedKey(keyId);
    return exportShare(await this.#share(stored, stored.epoch), passphrase);
  }

  /** Restores a backup into the store, checking it against the server's record of the key. */
  async importBackup(blob: Uint8Array, passphrase: string): Promise<CreatedKey> {
    const share = await importShare(blob, passphrase);
    const info = await this.getKey(share.keyIdHex);
    const epoch = bytesToHex(share.epoch);
    if (info.publicKey !== bytesToHex(share.publicKey))
      throw new ClientError('BAD_INPUT', 'the backup is not a share of this key');
    if (epoch !== info.epoch && epoch !== info.pendingEpoch)
      throw new ClientError(
        'BAD_INPUT',
        `the backup is of epoch ${epoch}, the key is now at ${info.epoch}: refreshed since`
      );
    const created: CreatedKey = {
      keyId: share.keyIdHex,
      scheme: share.scheme,
      publicKey: info.publicKey,
      epoch,
    };
    await this.#store.put(
      { ...created, label: info.label, server: this.http.server },
      share.toBytes()
    );
    return created;
  }

  /**
   * The key as this client stored it when it was created (scheme, public key, epoch): what to
   * derive addresses from, rather than what a server says. Throws `NO_SHARE` if absent.
   */
  localKey(keyId: string): Promise<StoredKey> {
    return this.#storedKey(keyId);
  }

  async #storedKey(keyId: string): Promise<StoredKey> {
    const k = await this.#store.getKey(keyId);
    if (!k) throw new ClientError('NO_SHARE', `no share of key ${keyId} in this client's store`);
    return k;
  }

  async #share(k: StoredKey, epoch: string): Promise<KeyShare> {
    const bytes = await this.#store.get(k.keyId, epoch);
    if (!bytes)
      throw new ClientError('NO_SHARE', `no share of key ${k.keyId} epoch ${epoch} in the store`);
    try {
      const id = `${k.keyId}:${epoch}`;
      // The platform's SHA-256 (WebCrypto): this runs on every signature over ~64 KiB, where
      // noble's takes ≈ 0.4 ms; the digest only tells a changed stored share from the cached one.
      const digest = bytesToHex(
        new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
      );
      const hit = this.#parsed.get(id);
      if (hit?.digest === digest) return hit.share;
      const share = KeyShare.fromBytes(bytes);
      if (this.#parsed.size >= PARSED_SHARES)
        this.#parsed.delete(this.#parsed.keys().next().value as string);
      this.#parsed.set(id, { digest, share });
      return share;
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * Drives the client's session against the server until both have finished: feeds the server's
   * envelopes, sends ours in one step request per batch, and reports each round.
   */
  async #run<S extends Session<unknown>, R>(
    started: SessionStartedResponse,
    first: Step<S, never>,
    receive: (s: S, e: Envelope) => Step<S, R>,
    phase: Phase,
    o: CallOptions
  ): Promise<{ result: R; reply: StepReplyResponse }> {
    const choose = o.transport ?? this.#transport;
    const transports = new Map<TransportKind, StepTransport>();
    const transportFor = (step: number): StepTransport => {
      const kind = typeof choose === 'function' ? choose(step) : choose;
      const t = transports.get(kind) ?? this.#stepper(kind);
      transports.set(kind, t);
      return t;
    };
    let steps = 0;
    let session = first.session;
    let outbox = first.out.map((e) => toB64(encodeEnvelope(e)));
    let inbox = started.messages;
    let result: R | undefined;
    let reply: StepReplyResponse | null = null;
    const progress = () =>
      o.onProgress?.({
        phase,
        round: Math.min(session.round, started.totalRounds),
        totalRounds: started.totalRounds,
      });
    progress();
    try {
      for (;;) {
        for (const m of inbox) {
          if (result !== undefined) break;
          const s = receive(session, fromB64(m));
          session = s.session;
          outbox.push(...s.out.map((e) => toB64(encodeEnvelope(e))));
          if (s.result !== undefined) result = s.result;
        }
        progress();
        if (outbox.length === 0) break;
        reply = await transportFor(steps++).step(started.sessionId, outbox);
        outbox = [];
        inbox = reply.messages;
        if (reply.status === 'done' && result !== undefined && inbox.length === 0) break;
      }
    } finally {
      for (const t of transports.values()) t.close();
    }
    if (result === undefined || reply?.status !== 'done')
      throw new ClientError(
        'SESSION_INCOMPLETE',
        `the ${phase} session ended before both parties finished`
      );
    return { result, reply };
  }
}

function fresh(): { nonce: string; timestamp: number } {
  return { nonce: bytesToHex(randomBytes(16)), timestamp: Date.now() };
}

function toPayload(input: SignInput): SignPayload {
  if ('kind' in input) return input;
  if ('digest' in input) return { kind: 'digest', digest: input.digest.toLowerCase() };
  return {
    kind: 'message',
    message: input.message.toLowerCase(),
    ...(input.hash ? { hash: input.hash } : {}),
  };
}

function expect(cond: boolean, why: string): asserts cond {
  if (!cond) throw new ClientError('SESSION_INCOMPLETE', why);
}
