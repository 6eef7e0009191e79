import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  type AttestationResponse,
  attestedReplyMessage,
  type BackupCreatedResponse,
  checkedSignature,
  identityDigest,
  type KeyInfoResponse,
  type KeyListResponse,
  type NodeIdentityInfo,
  openSessionMessage,
  type RecoveryStatusResponse,
  type SealedSession,
  type SessionStartedResponse,
  type SignPayload,
  type SignResultBody,
  type StepReplyResponse,
  sealSessionMessage,
  signingInput,
} from '@tessera/api';
import { fromBase64, toBase64 } from '@tessera/api/relay';
import {
  BoundedCache,
  decodeBackupKey,
  decodeEnvelope,
  discardSession,
  dkg,
  type Envelope,
  ecdsaSign,
  encodeBackupKey,
  encodeEnvelope,
  exportShare,
  frostSign,
  importShare,
  KeyShare,
  type NonceLedger,
  newPartyIdentity,
  type PairGuard,
  type PartyIdentity,
  type PartyPublic,
  type PveDecryptionKey,
  pairGuardKey,
  pveEncrypt,
  pveLabel,
  pveLabelOf,
  pveRestoreShare,
  pveSealShare,
  reshare,
  type Session,
  type Step,
  taprootTweak,
} from '@tessera/core';
import { AttestationError } from './attestation/errors.ts';
import { verifyAttestation } from './attestation/index.ts';
import { ClientError, ServerError } from './errors.ts';
import { guarded, RunGuard } from './guard.ts';
import { checkPassphrase } from './passphrase.ts';
import { PVE_BACKUP_FORMAT, type PveBackupFile, parsePveBackupFile } from './pve-backup.ts';
import { RelayStepTransport } from './relay-transport.ts';
import type { ShareStore, StoredKey } from './store.ts';
import {
  NODE1,
  NODE2,
  type NodeLeg,
  type NodeSet,
  pinnedIdentities,
  runTrio,
  TOPOLOGY_PARTIES,
} from './topology.ts';
import {
  Http,
  HttpStepTransport,
  type StepTransport,
  startSession,
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

/** What the client demands of an enclave server's attestation (docs/attestation.md). */
export interface AttestationOptions {
  /** PCR index (0, 1, 2, 3, 4 or 8) → expected value, hex: at least PCR0, the image. */
  pcrs: Readonly<Record<number, string>>;
  /** The oldest document accepted, ms (default 5 minutes). */
  maxAgeMs?: number;
  /** Another trusted root certificate (DER): tests only; production keeps AWS's pinned root. */
  root?: Uint8Array;
  /** The clock certificates are checked against (default `Date.now`). */
  now?: () => number;
}

export interface ClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:7420`. */
  server: string;
  /** Bearer token, or a function returning a fresh one. */
  token: string | (() => Promise<string>);
  store: ShareStore;
  /**
   * `http` (start/step calls, the default), `ws` (a WebSocket per session) or `relay` (steps
   * through a room of the relay the server names at `GET /v1/relay/identity`).
   */
  transport?: TransportKind;
  /** WebSocket constructor for `ws` (the browser's by default; `@tessera/client/node` passes `ws`'s). */
  webSocket?: WebSocketFactory;
  fetch?: typeof fetch;
  /**
   * Check the server's enclave attestation before `createKey`, `sign` and `refresh`, and accept
   * only session replies signed by the identity key it vouches for (docs/attestation.md).
   */
  attestation?: AttestationOptions;
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

/** A verifiable backup as `exportPveBackup` made and registered it. */
export interface PveExport {
  /** What to keep (as JSON) where the backup key's holder can reach it. */
  file: PveBackupFile;
  /** The id the server (node 1 of a 2-of-3 key) gave it. */
  backupId: string;
  /** Every server's id for it, node 1 first (a 2-of-3 key registers it with both nodes). */
  backupIds: string[];
}

/** How session steps travel: HTTP requests, a WebSocket, or a relay room (the server's `relay.url`). */
export type TransportKind = 'http' | 'ws' | 'relay';

export interface CallOptions {
  onProgress?: (p: Progress) => void;
  /** Per-call transport, or a choice per step (step 0, 1, …): a session may switch mid-way. */
  transport?: TransportKind | ((step: number) => TransportKind);
}

export interface RefreshOptions extends CallOptions {
  /**
   * Drop this client's bans of the server in the new shares, which unlocks a key locked after a
   * failed check (`KEY_LOCKED`). Only for a user who decided to trust the server again: the ban
   * says the server sent a message that fails a check no honest party fails.
   */
  clearBans?: boolean;
}

/** Both nodes as a 2-of-3 session reaches them, with their checked identities. */
interface NodeLegs {
  legs: { node1: Http; node2: Http };
  ids: { node1: NodeIdentityInfo; node2: NodeIdentityInfo };
}

/** Both nodes confirmed the key the client got (`keyId`, `publicKey`) as their result. */
function confirmedByBoth(
  replies: readonly StepReplyResponse[],
  keyId: string,
  publicKey: string
): void {
  for (const r of replies) {
    const confirmed = r.result as CreatedKey | undefined;
    if (confirmed?.keyId !== keyId || confirmed.publicKey !== publicKey)
      throw new ClientError('SESSION_INCOMPLETE', 'the nodes did not confirm the same key');
  }
}

/** A 2-of-3 key: both nodes, as the caller pins them. */
export type TopologyOptions = { topology?: undefined } | { topology: '2-of-3'; nodes: NodeSet };

/** What a core call of the run gets besides its session and envelope. */
interface RunOptions {
  sender: number;
  ledger: NonceLedger;
  pairGuard: PairGuard;
}

const CLIENT_PARTY = 1;
const SERVER_PARTY = 2;
/** Parsed shares kept per client (see `#parsed`). */
const PARSED_SHARES = 64;
const fromB64 = (s: string) => decodeEnvelope(fromBase64(s));
const toB64 = toBase64;
/** Server errors after which the server has already ended the session (no abort notice needed). */
const ENDED_AT_SERVER = new Set([
  'PROTOCOL_ABORT',
  'PROTOCOL_VIOLATION',
  'SESSION_CLOSED',
  'SESSION_EXPIRED',
  'NOT_FOUND',
]);

/** What to sign: a typed payload, or the CLI's shorthands. */
export type SignInput =
  | SignPayload
  | { digest: string }
  | { message: string; hash?: 'sha256' | 'keccak256' };

/** The oldest attestation document a client accepts by default. */
const DEFAULT_ATTESTATION_AGE_MS = 5 * 60_000;

/** An attested session: its envelopes are sealed both ways, its replies signed by the server. */
interface AttestedSession {
  server: PartyPublic;
  me: PartyIdentity;
  sealed: SealedSession;
}

/**
 * Refuses a session reply that the attested identity key did not sign, or that is of another
 * session (a signed reply of this server replayed from elsewhere).
 */
function assertSignedReply(
  kind: 'started' | 'step',
  reply: SessionStartedResponse | StepReplyResponse,
  key: Uint8Array,
  sessionId?: string
): void {
  const sig = reply.serverSignature;
  const ok =
    typeof sig === 'string' &&
    /^[0-9a-f]{128}$/.test(sig) &&
    (sessionId === undefined || reply.sessionId === sessionId) &&
    ed25519.verify(hexToBytes(sig), attestedReplyMessage(kind, reply), key);
  if (!ok)
    throw new AttestationError(
      'ATTESTATION_SIGNATURE',
      "a session reply is not signed by the attested server's identity key for this session"
    );
}

/**
 * The SDK's attestation policy must pin the image: PCR0 (the enclave image) or PCR8 (its signing
 * certificate). PCR3 and PCR4 name the parent's role and instance, which the host controls, and an
 * all-zero PCR is what every debug enclave reports, whatever it runs.
 */
function checkAttestationOptions(o: AttestationOptions): void {
  const pins = Object.entries(o.pcrs ?? {});
  if (!pins.some(([i]) => i === '0' || i === '8'))
    throw new ClientError('BAD_INPUT', 'attestation needs PCR0 (the image) or PCR8 pinned');
  for (const [i, v] of pins)
    if (typeof v !== 'string' || !/^[0-9a-f]{96}$/.test(v) || /^0+$/.test(v))
      throw new ClientError(
        'BAD_INPUT',
        `attestation: PCR${i} must be 48 bytes of lower-case hex, and not all zero (a debug enclave)`
      );
}

/** Retries a request the server refused for now (429 with Retry-After), for up to 10 seconds. */
async function withRetryAfter<T>(f: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      const wait =
        e instanceof ServerError && e.code === 'RATE_LIMITED' ? (e.retryAfter ?? 1) * 1000 : -1;
      if (wait < 0 || Date.now() + wait > deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export class TesseraClient {
  readonly http: Http;
  readonly #store: ShareStore;
  /**
   * Parsed shares by `keyId:epoch`, each with the SHA-256 of the stored bytes it came from:
   * parsing validates the share (point decoding, a base multiplication, interpolation), ~2 ms
   * that every signature would otherwise pay; a share whose stored bytes changed is parsed again.
   */
  readonly #parsed = new BoundedCache<string, { digest: string; share: KeyShare }>(PARSED_SHARES);
  readonly #transport: TransportKind;
  readonly #webSocket: WebSocketFactory | undefined;
  readonly #options: ClientOptions;
  /** Each attested session's server identity and this client's identity for the session. */
  readonly #attested = new WeakMap<SessionStartedResponse, AttestedSession>();
  /** The attestation in flight, shared by the calls that start meanwhile. */
  #attesting: Promise<PartyPublic> | null = null;
  /** Test hook: gets each WebSocket transport before use. */
  onWsTransport: ((t: WsStepTransport) => void) | null = null;

  constructor(o: ClientOptions) {
    this.http = new Http({
      server: o.server,
      token: o.token,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    this.#store = o.store;
    this.#options = o;
    this.#transport = o.transport ?? 'http';
    this.#webSocket = o.webSocket;
  }

  #stepper(kind: TransportKind): StepTransport {
    if (kind === 'http') return new HttpStepTransport(this.http);
    if (kind === 'relay')
      return new RelayStepTransport(
        this.http,
        this.#options.fetch ? { fetch: this.#options.fetch } : {}
      );
    const factory =
      this.#webSocket ??
      ((url: string) =>
        new (globalThis as unknown as { WebSocket: new (u: string) => never }).WebSocket(url));
    const t = new WsStepTransport(this.http, factory);
    this.onWsTransport?.(t);
    return t;
  }

  /**
   * Creates a 2-of-2 key with the server, or with `topology: '2-of-3'` a key split among this
   * client, node 1 and node 2 (`nodes`: their URLs and pinned fingerprints; this client's
   * `server` must be node 1). The client share is stored before this returns.
   */
  async createKey(
    o: { scheme: Scheme; label?: string } & CallOptions & TopologyOptions
  ): Promise<CreatedKey> {
    if (o.topology === '2-of-3') {
      this.#refuseUnattested('2-of-3 key generation');
      return this.#createTopologyKey(o, o.nodes);
    }
    const started = await this.#start('/v1/keys', {
      scheme: o.scheme,
      ...(o.label ? { label: o.label } : {}),
      ...fresh(),
    });
    const p = started.params;
    await this.#expect(
      started,
      started.protocol === 'dkg' && p.scheme === o.scheme && p.sid0 !== undefined,
      'unexpected key generation parameters'
    );
    const first = () =>
      dkg.start({
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
      (s, e, opts) => dkg.receive(s, e, { sender: opts.sender }),
      'keygen',
      o,
      new RunGuard(this.#store, null)
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
    // A 2-of-3 key signs with node 1 alone (parties 1 and 2); node 2 is never contacted.
    if (stored.nodes) this.#checkNode1(stored.nodes);
    if (stored.refreshRequired)
      throw new ClientError(
        'REFRESH_REQUIRED',
        `key ${keyId} was restored from a backup: recover it (a refresh with the server) before it signs`
      );
    const payload = toPayload(input);
    const expected = signingInput(stored.scheme, payload);
    const own = await this.#share(stored, stored.epoch);
    // A ban locks the key here, before anything reaches the server (docs/protocols/ecdsa.md,
    // "Bans").
    if (stored.scheme === 'ecdsa') await this.#refuseLocked(stored, own);
    // BIP-341: sign with our share tweaked to the Taproot output key, as the server does.
    const share = expected.taproot ? taprootTweak(own, expected.taproot.merkleRoot) : own;
    const publicKey = expected.taproot ? bytesToHex(share.publicKey) : stored.publicKey;
    const started = await this.#start(`/v1/keys/${keyId}/sign`, {
      payload,
      epoch: stored.epoch,
      ...fresh(),
    });
    const p = started.params;
    const signed = hexToBytes((stored.scheme === 'ecdsa' ? p.digest : p.message) ?? '');
    // Sign only what we asked for (docs/security.md A-70), under the key and epoch we hold.
    if (
      p.keyId !== keyId ||
      p.epoch !== stored.epoch ||
      bytesToHex(signed) !== bytesToHex(expected.bytes) ||
      (expected.taproot !== undefined && p.outputKey !== publicKey) ||
      !p.rid
    ) {
      await this.#abortAtServer(started.sessionId, 'DIGEST_MISMATCH');
      throw new ClientError(
        'DIGEST_MISMATCH',
        'the server asked to sign something other than the request'
      );
    }
    const rid = hexToBytes(p.rid);
    const signers = [CLIENT_PARTY, SERVER_PARTY];
    const guard = new RunGuard(
      this.#store,
      keyId,
      stored.scheme === 'ecdsa'
        ? {
            share,
            peer: SERVER_PARTY,
            persist: () => this.#persistBans(stored, share),
          }
        : null
    );
    const result =
      stored.scheme === 'ecdsa'
        ? (
            await this.#run(
              started,
              () => ecdsaSign.start({ share, signers, rid, digest: signed }, guard),
              (s, e, opts) => ecdsaSign.receive(s, e, { share, ...opts }),
              'sign',
              o,
              guard
            )
          ).result
        : (
            await this.#run(
              started,
              () => frostSign.start({ share, signers, message: signed, rid }, guard),
              (s, e, opts) => frostSign.receive(s, e, opts),
              'sign',
              o,
              guard
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

  /**
   * Refreshes both shares (same public key, new epoch); the old share is deleted once the server
   * confirms. Bans of the server carry over to the new share unless `clearBans` is set.
   */
  async refresh(keyId: string, o: RefreshOptions = {}): Promise<{ keyId: string; epoch: string }> {
    const stored = await this.#storedKey(keyId);
    if (stored.nodes) {
      this.#refuseUnattested('a 2-of-3 refresh');
      return this.#refreshTopologyKey(stored, o);
    }
    return this.#refresh(keyId, stored.refreshRequired ? 'recover' : 'refresh', o);
  }

  /**
   * After `importBackup`: proves to the server that this client holds the restored share (a
   * refresh the restored client starts), and replaces both shares, so the backup is retired.
   */
  async recover(keyId: string, o: RefreshOptions = {}): Promise<{ keyId: string; epoch: string }> {
    return this.#refresh(keyId, 'recover', o);
  }

  async #refresh(
    keyId: string,
    route: 'refresh' | 'recover',
    o: RefreshOptions
  ): Promise<{ keyId: string; epoch: string }> {
    const stored = await this.#storedKey(keyId);
    const share = await this.#share(stored, stored.epoch);
    // A ban known only to the store (recorded after a backup was taken) goes into the share too,
    // so that the refresh carries it over unless the user clears it.
    if (
      stored.scheme === 'ecdsa' &&
      !share.isBanned(SERVER_PARTY) &&
      (await this.#store.pairBanned(pairGuardKey(share, SERVER_PARTY)))
    )
      share.ban(SERVER_PARTY);
    const started = await this.#start(`/v1/keys/${keyId}/${route}`, {
      epoch: stored.epoch,
      ...fresh(),
    });
    const p = started.params;
    await this.#expect(
      started,
      started.protocol === 'reshare' &&
        p.keyId === keyId &&
        p.epoch === stored.epoch &&
        p.sid0 !== undefined,
      'unexpected refresh parameters'
    );
    const { result } = await this.#run(
      started,
      () =>
        reshare.start({
          share,
          dealers: [CLIENT_PARTY, SERVER_PARTY],
          parties: [CLIENT_PARTY, SERVER_PARTY],
          threshold: 2,
          me: CLIENT_PARTY,
          sid0: hexToBytes(p.sid0 as string),
          ...(o.clearBans ? { clearBans: true } : {}),
        }),
      (s, e, opts) => reshare.receive(s, e, { sender: opts.sender }),
      'refresh',
      o,
      new RunGuard(this.#store, null)
    );
    const r = result;
    if (!r.share)
      throw new ClientError('SESSION_INCOMPLETE', 'the refresh gave this party no share');
    const epoch = bytesToHex(r.epoch);
    // Two-phase: keep the old share until the new one is stored here and confirmed there. The
    // new share is not from a backup: it signs.
    const { refreshRequired: _, ...current } = withoutEpochs(stored);
    await this.#store.put({ ...current, epoch }, r.share.toBytes());
    await confirmEpoch(this.http, keyId, epoch);
    await this.#store.prune(keyId, epoch);
    return { keyId, epoch };
  }

  // ---- the 2-of-3 topology (docs/topologies.md) ------------------------------------------

  #checkNode1(nodes: NodeSet): void {
    if (nodes.node1.url.replace(/\/+$/, '') !== this.http.server)
      throw new ClientError(
        'BAD_INPUT',
        `this client talks to ${this.http.server}, not to node 1 (${nodes.node1.url}): create it with server = node 1`
      );
  }

  /** Http to both nodes (the same token), with their identities checked against the pins. */
  async #nodes(nodes: NodeSet): Promise<NodeLegs> {
    this.#checkNode1(nodes);
    const node2 = new Http({
      server: nodes.node2.url,
      token: this.#options.token,
      ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
    });
    const legs = { node1: this.http, node2 };
    return { legs, ids: await pinnedIdentities(nodes, legs) };
  }

  /** Starts the same session at both nodes; one refused start abandons the other. */
  async #startBoth(
    legs: { node1: Http; node2: Http },
    path: string,
    body: (http: Http) => Record<string, unknown>
  ): Promise<[NodeLeg, NodeLeg]> {
    const starts = await Promise.allSettled(
      [legs.node1, legs.node2].map((h) =>
        startSession<SessionStartedResponse>(h, path, { ...body(h), ...fresh() })
      )
    );
    const [one, two] = starts;
    if (one?.status === 'fulfilled' && two?.status === 'fulfilled')
      return [
        { party: NODE1, http: legs.node1, started: one.value },
        { party: NODE2, http: legs.node2, started: two.value },
      ];
    for (const [i, s] of starts.entries())
      if (s.status === 'fulfilled')
        await this.#abortLeg(
          { party: i + 2, http: i === 0 ? legs.node1 : legs.node2, started: s.value },
          'SESSION_INCOMPLETE'
        );
    throw (starts.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
  }

  async #abortLeg(leg: NodeLeg, code: string): Promise<void> {
    const safe = code.replace(/[^A-Za-z_]/g, '').slice(0, 64) || 'ClientAbort';
    try {
      await leg.http.request(
        'POST',
        `/v1/sessions/${leg.started.sessionId}/abort`,
        { code: safe },
        { timeoutMs: 5_000 }
      );
    } catch {
      // Unreachable or already ended: the session expires anyway.
    }
  }

  /** Both nodes must start the session the client asked for, with the same parameters. */
  async #expectBoth(legs: [NodeLeg, NodeLeg], ok: (l: NodeLeg) => boolean, why: string) {
    const [a, b] = legs;
    const same =
      JSON.stringify({ ...a.started.params, me: 0, peer: 0 }) ===
      JSON.stringify({ ...b.started.params, me: 0, peer: 0 });
    if (same && legs.every(ok)) return;
    for (const leg of legs) await this.#abortLeg(leg, 'SESSION_INCOMPLETE');
    throw new ClientError('SESSION_INCOMPLETE', why);
  }

  /**
   * One 2-of-3 session: a fresh coordinator nonce, the same start at both nodes (both pinned
   * identities named), their parameters checked (`expect`, and each node's own party and the
   * nonce), then the session run with both in lock-step.
   */
  async #runTopology<S extends Session<unknown>, R>(
    node: NodeLegs,
    start: {
      path: string;
      body: Record<string, unknown>;
      what: string;
      expect: (p: SessionStartedResponse['params']) => boolean;
    },
    first: (sid0: Uint8Array, p: SessionStartedResponse['params']) => Step<S, never>,
    receive: (s: S, e: Envelope, sender: number) => Step<S, R>
  ): Promise<{ result: R; replies: [StepReplyResponse, StepReplyResponse] }> {
    const sid0 = randomBytes(32);
    const started = await this.#startBoth(node.legs, start.path, () => ({
      ...start.body,
      nodes: node.ids,
      sid0: bytesToHex(sid0),
    }));
    await this.#expectBoth(
      started,
      (l) =>
        l.started.params.sid0 === bytesToHex(sid0) &&
        l.started.params.me === l.party &&
        start.expect(l.started.params),
      `the nodes did not start the ${start.what} asked for`
    );
    return runTrio(
      started,
      () => first(sid0, started[0].started.params),
      receive,
      new RunGuard(this.#store, null),
      guarded,
      (leg, code) => this.#abortLeg(leg, code)
    );
  }

  async #createTopologyKey(
    o: { scheme: Scheme; label?: string } & CallOptions,
    nodes: NodeSet
  ): Promise<CreatedKey> {
    const node = await this.#nodes(nodes);
    const fp = (n: NodeIdentityInfo) => hexToBytes(n.fingerprint);
    const { result: share, replies } = await this.#runTopology(
      node,
      {
        path: '/v1/keys',
        body: { scheme: o.scheme, ...(o.label ? { label: o.label } : {}), topology: '2-of-3' },
        what: 'key generation',
        expect: (p) => p.scheme === o.scheme,
      },
      (sid0) =>
        dkg.start({
          scheme: o.scheme,
          threshold: 2,
          parties: 3,
          me: CLIENT_PARTY,
          sid0,
          ...(o.label ? { label: o.label } : {}),
          pids: [new Uint8Array(32), fp(node.ids.node1), fp(node.ids.node2)],
        }),
      (s, e, sender) => dkg.receive(s, e, { sender })
    );
    const publicKey = bytesToHex(share.publicKey);
    // All three confirmed the same key before anyone keeps a share of it.
    confirmedByBoth(replies, share.keyIdHex, publicKey);
    const created: CreatedKey = {
      keyId: share.keyIdHex,
      scheme: o.scheme,
      publicKey,
      epoch: bytesToHex(share.epoch),
    };
    await this.#store.put(
      { ...created, label: o.label ?? '', server: this.http.server, topology: '2-of-3', nodes },
      share.toBytes()
    );
    return created;
  }

  async #refreshTopologyKey(
    stored: StoredKey,
    o: RefreshOptions
  ): Promise<{ keyId: string; epoch: string }> {
    const nodes = stored.nodes as NodeSet;
    const node = await this.#nodes(nodes);
    const share = await this.#share(stored, stored.epoch);
    const { result } = await this.#runTopology(
      node,
      {
        path: `/v1/keys/${stored.keyId}/refresh`,
        body: { epoch: stored.epoch, topology: '2-of-3' },
        what: 'refresh',
        expect: (p) => p.keyId === stored.keyId && p.epoch === stored.epoch,
      },
      (sid0) =>
        reshare.start({
          share,
          dealers: TOPOLOGY_PARTIES,
          parties: TOPOLOGY_PARTIES,
          threshold: 2,
          me: CLIENT_PARTY,
          sid0,
          ...(o.clearBans ? { clearBans: true } : {}),
        }),
      (s, e, sender) => reshare.receive(s, e, { sender })
    );
    if (!result.share)
      throw new ClientError('SESSION_INCOMPLETE', 'the refresh gave this party no share');
    const epoch = bytesToHex(result.epoch);
    const { refreshRequired: _, ...current } = withoutEpochs(stored);
    await this.#store.put({ ...current, epoch }, result.share.toBytes());
    for (const h of [node.legs.node1, node.legs.node2]) await confirmEpoch(h, stored.keyId, epoch);
    await this.#store.prune(stored.keyId, epoch);
    return { keyId: stored.keyId, epoch };
  }

  /**
   * Recovers a 2-of-3 key whose client share was lost (a new device, an empty store): asks both
   * nodes for a recovery and, once their delay has passed, runs it: the nodes reshare to a new
   * client share under a new key id with the same public key, and retire the old key id. While a
   * node's delay runs this throws `RECOVERY_PENDING` with `details.readyAt`; call again then.
   * The key is found by `keyId`, or by `publicKey` among the caller's keys at node 1.
   */
  async recoverKey(
    o: { nodes: NodeSet; label?: string } & ({ keyId: string } | { publicKey: string }) &
      CallOptions
  ): Promise<CreatedKey> {
    this.#refuseUnattested('a 2-of-3 recovery');
    const node = await this.#nodes(o.nodes);
    const { legs } = node;
    const keyId = 'keyId' in o ? o.keyId : await this.#keyIdOf(o.publicKey);
    const infos = await Promise.all(
      [legs.node1, legs.node2].map((h) => h.request<KeyInfoResponse>('GET', `/v1/keys/${keyId}`))
    );
    const [one, two] = infos as [KeyInfoResponse, KeyInfoResponse];
    if (one.publicKey !== two.publicKey || one.scheme !== two.scheme || one.topology !== '2-of-3')
      throw new ClientError('BAD_INPUT', `key ${keyId} is not the same 2-of-3 key at both nodes`);
    // Ask both (idempotent: a pending request is answered with its state), then wait out nothing.
    const states = await Promise.all(
      [legs.node1, legs.node2].map((h) =>
        h.request<RecoveryStatusResponse>('POST', `/v1/keys/${keyId}/recovery`, {})
      )
    );
    const waiting = states.filter((s) => s.state === 'pending');
    if (waiting.length > 0) {
      const readyAt = Math.max(...waiting.map((s) => s.readyAt ?? 0));
      throw new ClientError(
        'RECOVERY_PENDING',
        `the recovery of key ${keyId} may run from ${new Date(readyAt).toISOString()}; the key's owner can cancel it until then`,
        { details: { readyAt } }
      );
    }
    const { result, replies } = await this.#runTopology(
      node,
      {
        path: `/v1/keys/${keyId}/recovery/run`,
        body: {},
        what: 'recovery',
        expect: (p) => p.keyId === keyId && p.reissue === true && p.old !== undefined,
      },
      (sid0, p) => {
        const old = p.old as NonNullable<typeof p.old>;
        return reshare.start({
          old: {
            scheme: one.scheme,
            keyId: hexToBytes(keyId),
            epoch: hexToBytes(p.epoch as string),
            groupKey: hexToBytes(old.groupKey),
            chainCode: hexToBytes(old.chainCode),
            threshold: 2,
            parties: TOPOLOGY_PARTIES,
            generation: old.generation,
            verificationShares: old.verificationShares.map(hexToBytes),
          },
          dealers: [NODE1, NODE2],
          parties: TOPOLOGY_PARTIES,
          threshold: 2,
          me: CLIENT_PARTY,
          sid0,
          reissue: true,
        });
      },
      (s, e, sender) => reshare.receive(s, e, { sender })
    );
    const share = result.share;
    if (!share)
      throw new ClientError('SESSION_INCOMPLETE', 'the recovery gave this party no share');
    const newKeyId = bytesToHex(result.keyId);
    const publicKey = bytesToHex(share.publicKey);
    if (publicKey !== one.publicKey)
      throw new ClientError('SESSION_INCOMPLETE', 'the recovered share is of another public key');
    confirmedByBoth(replies, newKeyId, publicKey);
    const created: CreatedKey = {
      keyId: newKeyId,
      scheme: one.scheme,
      publicKey,
      epoch: bytesToHex(result.epoch),
    };
    await this.#store.put(
      {
        ...created,
        label: o.label ?? one.label,
        server: this.http.server,
        topology: '2-of-3',
        nodes: o.nodes,
      },
      share.toBytes()
    );
    return created;
  }

  /** Cancels a pending recovery of a 2-of-3 key at both nodes (its owner, within the delay). */
  async cancelRecovery(o: { nodes: NodeSet; keyId: string }): Promise<RecoveryStatusResponse[]> {
    const { legs } = await this.#nodes(o.nodes);
    return Promise.all(
      [legs.node1, legs.node2].map((h) =>
        h.request<RecoveryStatusResponse>('POST', `/v1/keys/${o.keyId}/recovery/cancel`, {})
      )
    );
  }

  async #keyIdOf(publicKey: string): Promise<string> {
    const found = (await this.listKeys()).filter(
      (k) => k.publicKey === publicKey.toLowerCase() && !k.retiredBy
    );
    if (found.length !== 1)
      throw new ClientError('NO_SHARE', `node 1 holds no current key of public key ${publicKey}`);
    return (found[0] as KeyInfoResponse).keyId;
  }

  getKey(keyId: string): Promise<KeyInfoResponse> {
    return this.http.request<KeyInfoResponse>('GET', `/v1/keys/${keyId}`);
  }

  async listKeys(): Promise<KeyInfoResponse[]> {
    return (await this.http.request<KeyListResponse>('GET', '/v1/keys')).keys;
  }

  /**
   * A passphrase-encrypted backup (Argon2id + AES-256-GCM) of this client's current share. The
   * passphrase must have at least 12 characters and resist guessing (zxcvbn score ≥ 3):
   * `WEAK_PASSPHRASE` otherwise.
   */
  async exportBackup(keyId: string, passphrase: string): Promise<Uint8Array> {
    await checkPassphrase(passphrase);
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
    // A backup may predate bans and is a copy that must be retired: no signature until `recover`.
    await this.#store.put(
      { ...created, label: info.label, server: this.http.server, refreshRequired: true },
      share.toBytes()
    );
    return created;
  }

  /**
   * A verifiable (PVE) backup of this client's current share (docs/pve-backup.md), encrypted to
   * `backupKey` (`"x25519:<hex>"` or `"p256:<hex>"`, from `pveKeygen` and `encodeBackupKey`),
   * whose holder alone can restore it. The server checks the backup's proof against its own
   * record of the key and keeps it (a 2-of-3 key: both nodes do); keep the returned file too.
   * A share restored from a backup must be refreshed before it is backed up again
   * (`REFRESH_REQUIRED`).
   */
  async exportPveBackup(keyId: string, backupKey: string): Promise<PveExport> {
    const stored = await this.#storedKey(keyId);
    if (stored.refreshRequired)
      throw new ClientError(
        'REFRESH_REQUIRED',
        `key ${keyId} was restored from a backup: refresh it before backing it up again`
      );
    const key = decodeBackupKey(backupKey);
    const servers = stored.nodes
      ? Object.values((await this.#nodes(stored.nodes)).legs)
      : [this.http];
    const share = await this.#share(stored, stored.epoch);
    const label = pveLabelOf(share);
    const file: PveBackupFile = {
      format: PVE_BACKUP_FORMAT,
      keyId,
      scheme: share.scheme,
      partyId: share.partyId,
      epoch: bytesToHex(share.epoch),
      publicKey: bytesToHex(share.publicKey),
      publicShare: bytesToHex(share.verificationShare(share.partyId)),
      backupKey: encodeBackupKey(key),
      pve: toBase64(pveEncrypt(share, key, label)),
      sealedShare: toBase64(pveSealShare(share, key, label)),
    };
    const body = {
      backupKey: file.backupKey,
      epoch: file.epoch,
      pve: file.pve,
      sealedShare: file.sealedShare,
    };
    const created = await Promise.all(
      servers.map((h) =>
        withRetryAfter(() =>
          h.request<BackupCreatedResponse>('POST', `/v1/keys/${keyId}/backups`, body)
        )
      )
    );
    const backupIds = created.map((c) => c.backupId);
    return { file, backupId: backupIds[0] as string, backupIds };
  }

  /**
   * Restores a share from a verifiable backup file with the backup key's private key (or an HSM's
   * ECDH through `ecdh`), checking it against the server's record of the key as `importBackup`
   * does. The share is stored marked `refreshRequired`: it signs only after `refresh` (a
   * `recover` with the server), which this does not run. A 2-of-3 key needs its `nodes` (a
   * 2-of-2 key ignores them).
   */
  async restorePveBackup(
    input: PveBackupFile | string,
    decryptionKey: PveDecryptionKey,
    o: { nodes?: NodeSet } = {}
  ): Promise<CreatedKey> {
    const file = parsePveBackupFile(input);
    const info = await this.getKey(file.keyId);
    if (
      info.scheme !== file.scheme ||
      info.publicKey !== file.publicKey ||
      info.party !== file.partyId
    )
      throw new ClientError('BAD_INPUT', 'the backup is not a share of this key');
    if (file.epoch !== info.epoch && file.epoch !== info.pendingEpoch)
      throw new ClientError(
        'BAD_INPUT',
        `the backup is of epoch ${file.epoch}, the key is now at ${info.epoch}: refreshed since`
      );
    // The nodes matter to a 2-of-3 key only (the server's record says which it is).
    const nodes = info.topology === '2-of-3' ? o.nodes : undefined;
    if (info.topology === '2-of-3' && !nodes)
      throw new ClientError('BAD_INPUT', `key ${file.keyId} is a 2-of-3 key: pass its nodes`);
    if (nodes) this.#checkNode1(nodes);
    const share = pveRestoreShare(
      { pve: fromBase64(file.pve), sealedShare: fromBase64(file.sealedShare) },
      decryptionKey,
      pveLabel({
        keyId: hexToBytes(file.keyId),
        partyId: file.partyId,
        epoch: hexToBytes(file.epoch),
        scheme: file.scheme,
      }),
      hexToBytes(file.publicShare)
    );
    if (bytesToHex(share.publicKey) !== info.publicKey)
      throw new ClientError('BAD_INPUT', 'the backup is not a share of this key');
    const created: CreatedKey = {
      keyId: file.keyId,
      scheme: file.scheme,
      publicKey: info.publicKey,
      epoch: file.epoch,
    };
    // A backup may predate bans and is a copy that must be retired: no signature until refreshed.
    await this.#store.put(
      {
        ...created,
        label: info.label,
        server: this.http.server,
        refreshRequired: true,
        ...(nodes ? { topology: '2-of-3' as const, nodes } : {}),
      },
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
      let share: KeyShare;
      try {
        share = KeyShare.fromBytes(bytes);
      } catch (e) {
        // Damage is reported as damage, never as a peer's cheat (no ban follows from it).
        throw new ClientError(
          'SHARE_CORRUPTED',
          `the stored share of key ${k.keyId} is damaged: ${(e as Error).message}`,
          { cause: e }
        );
      }
      this.#parsed.set(id, { digest, share });
      return share;
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * A ban of the server's pair (on the share, or in the store's markers, including one left by a
   * crash mid-check) locks the key on this client: `KEY_LOCKED`, before any network call. A ban
   * known only to the store is written into the share too.
   */
  async #refuseLocked(stored: StoredKey, share: KeyShare): Promise<void> {
    if (!share.isBanned(SERVER_PARTY)) {
      if (!(await this.#store.pairBanned(pairGuardKey(share, SERVER_PARTY)))) return;
      share.ban(SERVER_PARTY);
      await this.#persistBans(stored, share);
    }
    throw lockedError(stored.keyId);
  }

  /**
   * Writes a share whose bans changed back to the store, if its epoch is still the key's current
   * one: a refresh that finished meanwhile (the server allows one beside a signing session) must
   * not be rolled back. The pair's ban marker is on disk either way.
   */
  async #persistBans(stored: StoredKey, share: KeyShare): Promise<void> {
    const now = await this.#store.getKey(stored.keyId);
    if (now?.epoch !== stored.epoch) return;
    await this.#store.put(withoutEpochs(now), share.toBytes());
  }

  /**
   * Starts a 2-of-2 session; with `attestation`, only after the server's enclave attestation
   * verified, only if the start reply is signed by the identity it vouches for, and sealed: the
   * session's envelopes travel sealed to that identity and to a fresh one of this client's.
   */
  async #start(path: string, body: Record<string, unknown>): Promise<SessionStartedResponse> {
    const server = this.#options.attestation ? await this.#attestShared() : null;
    const me = server ? newPartyIdentity() : null;
    const sealed = me
      ? { publicKey: bytesToHex(me.public.publicKey), x25519: bytesToHex(me.public.x25519) }
      : null;
    const started = await startSession<SessionStartedResponse>(
      this.http,
      path,
      sealed ? { ...body, sealed } : body
    );
    if (server && me && sealed) {
      try {
        assertSignedReply('started', started, server.publicKey);
        const echo = started.params.sealed;
        if (echo?.publicKey !== sealed.publicKey || echo.x25519 !== sealed.x25519)
          throw new AttestationError(
            'ATTESTATION_SIGNATURE',
            'the attested server started a session that is not sealed to this client'
          );
      } catch (e) {
        // Whoever answered, a session may exist: free the key at the server at once.
        await this.#abortAtServer(started.sessionId, 'ATTESTATION_SIGNATURE');
        throw e;
      }
      this.#attested.set(started, {
        server,
        me,
        sealed: {
          sessionId: started.sessionId,
          sid: started.params.sid,
          server,
          client: me.public,
        },
      });
    }
    return started;
  }

  /** 2-of-3 key generation, refresh and recovery are not attested: refuse rather than skip it. */
  #refuseUnattested(what: string): void {
    if (this.#options.attestation)
      throw new ClientError(
        'BAD_INPUT',
        `${what} is not covered by the attestation option (docs/attestation.md): use a client without it`
      );
  }

  /**
   * One attestation for the calls that start together: each waits for the one in flight (made
   * for its own fresh nonce, so equally fresh for all of them) rather than asking the server,
   * which answers one request per subject at a time, for another.
   */
  #attestShared(): Promise<PartyPublic> {
    const o = this.#options.attestation as AttestationOptions;
    this.#attesting ??= this.#attest(o).finally(() => {
      this.#attesting = null;
    });
    return this.#attesting;
  }

  /** Fetches and verifies a fresh attestation document; returns the identity it vouches for. */
  async #attest(o: AttestationOptions): Promise<PartyPublic> {
    checkAttestationOptions(o);
    const nonce = randomBytes(32);
    const answer = await withRetryAfter(() =>
      this.http.request<AttestationResponse>('GET', `/v1/attestation?nonce=${bytesToHex(nonce)}`)
    );
    const hex32 = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
    if (
      typeof answer?.document !== 'string' ||
      !hex32(answer.identity?.publicKey) ||
      !hex32(answer.identity?.x25519)
    )
      throw new AttestationError('ATTESTATION_FORMAT', 'the server sent no attestation document');
    const server: PartyPublic = {
      publicKey: hexToBytes(answer.identity.publicKey),
      x25519: hexToBytes(answer.identity.x25519),
    };
    await verifyAttestation(fromBase64(answer.document), {
      now: (o.now ?? Date.now)(),
      nonce,
      pcrs: o.pcrs,
      userData: identityDigest(server),
      maxAgeMs: o.maxAgeMs ?? DEFAULT_ATTESTATION_AGE_MS,
      ...(o.root ? { root: o.root } : {}),
    });
    return server;
  }

  /** A started session whose parameters are not what was asked for is abandoned, and said so. */
  async #expect(started: SessionStartedResponse, ok: boolean, why: string): Promise<void> {
    if (ok) return;
    await this.#abortAtServer(started.sessionId, 'SESSION_INCOMPLETE');
    throw new ClientError('SESSION_INCOMPLETE', why);
  }

  /**
   * Tells the server that this client abandoned the session, so that it ends it and frees the
   * key at once instead of answering KEY_BUSY until the session expires. Best effort: the
   * session expires anyway if the notice is lost.
   */
  async #abortAtServer(sessionId: string, code: string): Promise<void> {
    const safe = code.replace(/[^A-Za-z_]/g, '').slice(0, 64) || 'ClientAbort';
    // A session id from a reply that failed its checks goes into no URL.
    if (!/^[0-9a-f]{32}$/.test(sessionId)) return;
    try {
      await this.http.request(
        'POST',
        `/v1/sessions/${sessionId}/abort`,
        { code: safe },
        { timeoutMs: 5_000 }
      );
    } catch {
      // Unreachable or already ended: nothing more to do.
    }
  }

  /**
   * Drives the client's session against the server until both have finished: starts it, feeds
   * the server's envelopes (each checked to be this session's, from the server), sends ours in
   * one step request per batch, and reports each round. `guard` makes the single-use ids and the
   * pair marker of each batch durable before anything that depends on them is sent; an abort is
   * announced to the server.
   */
  async #run<S extends Session<unknown>, R>(
    started: SessionStartedResponse,
    start: () => Step<S, never>,
    receive: (s: S, e: Envelope, opts: RunOptions) => Step<S, R>,
    phase: Phase,
    o: CallOptions,
    guard: RunGuard
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
    let session: S | undefined;
    let result: R | undefined;
    let reply: StepReplyResponse | null = null;
    const attested = this.#attested.get(started);
    let lastRound = 0;
    // An attested session's envelopes travel sealed; a message that does not open is the
    // server's (its replies are signed), and ends the session like any other violation.
    const seal = (e: Envelope): string => {
      const bytes = encodeEnvelope(e);
      return toB64(
        attested ? sealSessionMessage(attested.me, attested.server, attested.sealed, bytes) : bytes
      );
    };
    const unseal = (m: string): Envelope => {
      if (!attested) return fromB64(m);
      let opened: Uint8Array;
      try {
        opened = openSessionMessage(attested.me, attested.server, attested.sealed, fromBase64(m));
      } catch (e) {
        throw new ClientError(
          'PROTOCOL_VIOLATION',
          'a sealed message from the server does not open',
          { cause: e }
        );
      }
      return decodeEnvelope(opened);
    };
    const progress = () =>
      o.onProgress?.({
        phase,
        round: Math.min(session?.round ?? 1, started.totalRounds),
        totalRounds: started.totalRounds,
      });
    progress();
    try {
      const first = await guarded(guard, start);
      session = first.session;
      // The server names the core session it runs; ours must be the same one.
      if (started.params.sid !== session.sid)
        throw new ClientError(
          'PROTOCOL_VIOLATION',
          'the server runs another session than the one its parameters make'
        );
      let outbox = first.out.map(seal);
      let inbox = started.messages;
      for (;;) {
        if (result === undefined && inbox.length > 0) {
          const envs = inbox.map((m) => checkedEnvelope(unseal(m), session as S));
          await guard.begin(envs);
          const batch = await guarded(guard, () => {
            const out: Envelope[] = [];
            let s = session as S;
            let r: R | undefined;
            for (const env of envs) {
              if (r !== undefined) break;
              const step = receive(s, env, {
                sender: SERVER_PARTY,
                ledger: guard.ledger,
                pairGuard: guard.pairGuard,
              });
              s = step.session;
              out.push(...step.out);
              if (step.result !== undefined) r = step.result;
            }
            return { session: s, out, result: r };
          });
          session = batch.session;
          outbox.push(...batch.out.map(seal));
          if (batch.result !== undefined) result = batch.result;
        }
        progress();
        if (outbox.length === 0) break;
        reply = await transportFor(steps++).step(started.sessionId, outbox);
        if (attested) {
          assertSignedReply('step', reply, attested.server.publicKey, started.sessionId);
          // A reply never goes back a round: an older signed reply of this session replayed.
          if (reply.round < lastRound)
            throw new AttestationError(
              'ATTESTATION_SIGNATURE',
              'a session reply goes back a round (a replayed reply)'
            );
          lastRound = reply.round;
        }
        outbox = [];
        inbox = reply.messages;
        if (reply.status === 'done' && result !== undefined && inbox.length === 0) break;
      }
    } catch (e) {
      // Whatever ended the run, nothing of this session's secrets stays in memory.
      if (session) discardSession(session);
      if (!(e instanceof ServerError && ENDED_AT_SERVER.has(e.code)))
        await this.#abortAtServer(started.sessionId, abortCode(e));
      throw e;
    } finally {
      for (const t of transports.values()) t.close();
      // The session's own identity serves this session only.
      if (attested) {
        attested.me.signingKey.fill(0);
        attested.me.x25519Secret.fill(0);
      }
    }
    if (result === undefined || reply?.status !== 'done')
      throw new ClientError(
        'SESSION_INCOMPLETE',
        `the ${phase} session ended before both parties finished`
      );
    return { result, reply };
  }
}

/**
 * Refuses, before the core sees it, an envelope that is not this session's message from the
 * server: the transport authenticates the whole envelope, header included, so a valid body moved
 * into another session can never get an honest party banned.
 */
function checkedEnvelope<S extends Session<unknown>>(env: Envelope, session: S): Envelope {
  const why =
    env.proto !== session.proto
      ? `protocol ${env.proto}`
      : env.sid !== session.sid
        ? 'another session id'
        : env.from !== SERVER_PARTY
          ? `sender ${env.from}`
          : env.to !== 0 && env.to !== CLIENT_PARTY
            ? `recipient ${env.to}`
            : null;
  if (why !== null)
    throw new ClientError(
      'PROTOCOL_VIOLATION',
      `the server sent a message that is not for this session (${why})`
    );
  return env;
}

const lockedError = (keyId: string) =>
  new ClientError(
    'KEY_LOCKED',
    `key ${keyId} is locked: the server failed a check that leaks secrets when probed; refresh it with clearBans only once you trust the server again`
  );

/** The code an abort notice carries: the failed check's name, else the error's code. */
function abortCode(e: unknown): string {
  const x = e as { check?: unknown; code?: unknown };
  return typeof x.check === 'string'
    ? x.check
    : typeof x.code === 'string'
      ? x.code
      : 'ClientAbort';
}

const withoutEpochs = ({ epochs: _, ...k }: StoredKey): Omit<StoredKey, 'epochs'> => k;

/**
 * Confirms a refreshed epoch at a server. A connection that breaks before the answer (a
 * keep-alive connection the server closed as the request left) is tried again once; if the first
 * attempt did arrive, the second finds the epoch already current (`EPOCH_STALE`), which the key's
 * record settles.
 */
async function confirmEpoch(http: Http, keyId: string, epoch: string): Promise<void> {
  const confirm = () =>
    http.request<KeyInfoResponse>('POST', `/v1/keys/${keyId}/refresh/confirm`, { epoch });
  try {
    await confirm();
    return;
  } catch (e) {
    if (!(e instanceof ClientError && e.code === 'TRANSPORT')) throw e;
  }
  await new Promise((r) => setTimeout(r, 250));
  try {
    await confirm();
  } catch (e) {
    if (!(e instanceof ServerError && e.code === 'EPOCH_STALE')) throw e;
    const key = await http.request<KeyInfoResponse>('GET', `/v1/keys/${keyId}`);
    if (key.epoch !== epoch) throw e;
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
