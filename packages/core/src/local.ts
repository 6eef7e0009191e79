/**
 * In-memory runner: runs every party of a protocol in one process, delivering messages in waves.
 * `local` (main entry) is what the chains package and the CLI's local mode use; `simulate`
 * (`@tessera/core/testing`) is the same runner with a tamper hook and caller-given pair guards.
 *
 * A `tamper` hook (testing only) sees each envelope once before delivery (a broadcast is one
 * envelope for all recipients) and may return a changed copy (cheat), `null` (drop) or
 * `undefined` (pass). The in-memory transport authenticates senders: an envelope whose `from` was
 * changed is attributed to the party that really sent it.
 *
 * Outcome: the parties' results, or the error an honest party (one whose messages were not
 * tampered with) raised; if nobody aborted but some party could not finish, `MessageMissing`.
 *
 * Every party lives in this process for one run and no session is ever saved, so one in-memory
 * nonce ledger and one in-memory pair guard per party and run are exact: nothing outlives them.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, ctEqual, utf8ToBytes } from './bytes.ts';
import { dkg, dkgProtocolFor } from './dkg/protocol.ts';
import {
  oldKeyOf,
  type ReshareResult,
  reshare as reshareProtocolApi,
  reshareProtocolFor,
} from './dkg/reshare.ts';
import {
  type EcdsaCallContext,
  type EcdsaSignature,
  ecdsaSign,
  ecdsaSignProtocol,
} from './ecdsa/sign.ts';
import { InputError, InternalError, MessageMissing, type PartyId, TesseraError } from './errors.ts';
import { frostSign, frostSignProtocol } from './frost/sign.ts';
import type { KeyShare, Scheme } from './keyshare.ts';
import { type Rng, systemRng } from './rng.ts';
import {
  memoryLedgerForTests,
  memoryPairGuardForTests,
  type NonceLedger,
  type PairGuard,
  type ProtocolDef,
  pendingSenders,
  type ReceiveOptions,
  type Session,
} from './session/driver.ts';
import type { Envelope, Step, Tamper } from './session/envelope.ts';

/** Options of `local.keygen`. */
export interface LocalKeygenOptions {
  threshold: number;
  parties: number;
  label?: string;
  /** Deterministic randomness for tests; defaults to the platform CSPRNG. */
  rng?: Rng;
}

/** Options of `local.sign`. */
export interface LocalSignOptions {
  rng?: Rng;
}

/** Options of `local.reshare`. */
export interface LocalReshareOptions {
  /** New threshold. */
  threshold: number;
  /** New party ids (may include ids whose share was lost, or new ids). */
  parties: number[];
  /** Issue a new key id (see `ReshareParams.reissue`). */
  reissue?: boolean;
  /** Dealers' new shares drop their bans (see `ReshareParams.clearBans`). */
  clearBans?: boolean;
  rng?: Rng;
}

/** What the testing entry adds to every run: a tamper hook and the parties' pair guards. */
export interface RunHooks {
  tamper?: Tamper;
  /**
   * ECDSA: one pair guard per party (pending-check markers, docs/protocols/ecdsa.md), as each
   * party's store would keep them; by default a fresh in-memory guard per party for this run.
   */
  pairGuards?: Map<PartyId, PairGuard>;
}

/** A party in a simulated run. */
interface SimParty<R> {
  id: PartyId;
  session: Session<unknown>;
  result?: R;
  error?: TesseraError;
}

type Receive<R> = (
  s: Session<unknown>,
  e: Envelope,
  o: ReceiveOptions & EcdsaCallContext
) => Step<Session<unknown>, R>;

/** Runs started parties to completion over an in-memory network. */
export function runParties<R>(
  def: ProtocolDef<never, unknown>,
  starts: { id: PartyId; step: Step<Session<unknown>, never> }[],
  receive: Receive<R>,
  opts: {
    tamper?: Tamper | undefined;
    rng?: Rng | undefined;
    shares?: Map<PartyId, KeyShare>;
    pairGuards?: Map<PartyId, PairGuard> | undefined;
    /** The parties' nonce ledger (one for all: ids carry the party). */
    ledger?: NonceLedger;
  } = {}
): R[] {
  const parties = new Map<PartyId, SimParty<R>>();
  const guards = new Map<PartyId, PairGuard>();
  const guardOf = (id: PartyId): PairGuard => {
    const g = guards.get(id) ?? memoryPairGuardForTests();
    guards.set(id, g);
    return g;
  };
  let queue: { origin: PartyId; env: Envelope }[] = [];
  for (const { id, step } of starts) {
    parties.set(id, { id, session: step.session });
    for (const env of step.out) queue.push({ origin: id, env });
  }
  const ledger = opts.ledger ?? memoryLedgerForTests();
  const cheaters = new Set<PartyId>();
  const rejections: TesseraError[] = [];
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const item of queue) {
      let env = item.env;
      if (opts.tamper) {
        const copy = { ...env, body: env.body.slice() };
        const t = opts.tamper(copy);
        if (t === null) {
          cheaters.add(item.origin);
          continue;
        }
        if (t !== undefined) {
          if (!sameEnvelope(t, env)) cheaters.add(item.origin);
          env = t;
        }
      }
      const recipients =
        env.to === 0 ? [...parties.keys()].filter((p) => p !== item.origin) : [env.to];
      for (const r of recipients) {
        const party = parties.get(r);
        if (!party || party.error || party.session.status !== 'active') continue;
        try {
          const rec: ReceiveOptions & EcdsaCallContext = { sender: item.origin, ledger };
          if (opts.rng) rec.rng = opts.rng;
          const share = opts.shares?.get(r);
          if (share) rec.share = share;
          rec.pairGuard = opts.pairGuards?.get(r) ?? guardOf(r);
          const step = receive(party.session, env, rec);
          party.session = step.session;
          for (const out of step.out) next.push({ origin: r, env: out });
          if (step.result !== undefined) party.result = step.result;
        } catch (e) {
          if (!(e instanceof TesseraError)) throw e;
          if (e.code === 'MESSAGE_REJECTED') rejections.push(e);
          else party.error = e;
        }
      }
    }
    queue = next;
  }
  const all = [...parties.values()];
  const honest = all.filter((p) => !cheaters.has(p.id));
  const failed = honest.find((p) => p.error) ?? all.find((p) => p.error);
  if (failed?.error) throw failed.error;
  const stuck =
    honest.find((p) => p.result === undefined) ?? all.find((p) => p.result === undefined);
  if (stuck) {
    const missing = pendingSenders(stuck.session, def);
    throw new MessageMissing(missing, stuck.session.round, {
      sid: stuck.session.sid,
      cause: rejections.find((r) => missing.includes(r.culprit as PartyId)) ?? rejections[0],
    });
  }
  return all.map((p) => p.result as R);
}

function sameEnvelope(a: Envelope, b: Envelope): boolean {
  return (
    a.v === b.v &&
    a.proto === b.proto &&
    a.sid === b.sid &&
    a.round === b.round &&
    a.from === b.from &&
    a.to === b.to &&
    ctEqual(a.body, b.body)
  );
}

export async function keygenRun(
  scheme: Scheme,
  opts: LocalKeygenOptions & RunHooks
): Promise<KeyShare[]> {
  const rng = opts.rng ?? systemRng;
  const sid0 = rng(32);
  const starts = Array.from({ length: opts.parties }, (_, k) => {
    const params = { scheme, threshold: opts.threshold, parties: opts.parties, me: k + 1, sid0 };
    return {
      id: k + 1,
      step: dkg.start(opts.label === undefined ? params : { ...params, label: opts.label }, {
        rng,
      }) as Step<Session<unknown>, never>,
    };
  });
  return runParties<KeyShare>(
    dkgProtocolFor(scheme) as ProtocolDef<never, unknown>,
    starts,
    dkg.receive as unknown as Receive<KeyShare>,
    opts
  );
}

function checkSameKey(shares: KeyShare[], scheme: Scheme, what = 'local.sign'): void {
  if (!Array.isArray(shares) || shares.length === 0)
    throw new InputError(`${what}: no shares given`);
  const first = shares[0] as KeyShare;
  for (const s of shares) {
    if (s.scheme !== scheme)
      throw new InputError(`${what}: party ${s.partyId} holds a ${s.scheme} key, not ${scheme}`);
    if (!ctEqual(s.groupKey, first.groupKey))
      throw new InputError(`${what}: party ${s.partyId} holds a share of another key`);
    // Same key, another epoch (a recovery also changes the key id).
    if (!ctEqual(s.epoch, first.epoch) || !ctEqual(s.keyId, first.keyId)) {
      // The stale party is the one of the older generation (a refresh or reshare replaced it).
      const stale = s.generation < first.generation ? s : first;
      const other = stale === s ? first : s;
      throw new InputError(
        `${what}: party ${stale.partyId}'s share is of an older epoch (generation ${stale.generation}, party ${other.partyId} has ${other.generation}): it no longer combines`,
        {
          check: 'EpochMismatch',
          culprit: stale.generation === other.generation ? null : stale.partyId,
          hints: ['use the shares of the latest refresh or reshare'],
        }
      );
    }
  }
}

/** The signing run of `local.sign` and `simulate.sign`. */
export interface SignRun {
  (
    scheme: 'ecdsa',
    shares: KeyShare[],
    digest: Uint8Array,
    opts?: LocalSignOptions & RunHooks
  ): Promise<EcdsaSignature>;
  (
    scheme: 'ed25519' | 'bip340',
    shares: KeyShare[],
    message: Uint8Array,
    opts?: LocalSignOptions & RunHooks
  ): Promise<Uint8Array>;
}

export const signRun: SignRun = sign as SignRun;

async function sign(
  scheme: Scheme,
  shares: KeyShare[],
  message: Uint8Array,
  opts: LocalSignOptions & RunHooks = {}
): Promise<Uint8Array | EcdsaSignature> {
  checkSameKey(shares, scheme);
  const rng = opts.rng ?? systemRng;
  const rid = rng(32);
  const signers = shares.map((s) => s.partyId);
  const ledger = memoryLedgerForTests();
  if (scheme === 'ecdsa') {
    const sigs = runParties<EcdsaSignature>(
      ecdsaSignProtocol as ProtocolDef<never, unknown>,
      startAll(shares, (share) =>
        ecdsaSign.start({ share, signers, rid, digest: message }, { rng, ledger })
      ),
      ecdsaSign.receive as unknown as Receive<EcdsaSignature>,
      { ...opts, ledger, shares: new Map(shares.map((s) => [s.partyId, s])) }
    );
    return agreed(sigs, (s) => s.compact);
  }
  const sigs = runParties<Uint8Array>(
    frostSignProtocol as ProtocolDef<never, unknown>,
    startAll(shares, (share) => frostSign.start({ share, signers, message, rid }, { rng, ledger })),
    frostSign.receive as unknown as Receive<Uint8Array>,
    { ...opts, ledger }
  );
  return agreed(sigs, (s) => s);
}

function startAll<S>(
  shares: KeyShare[],
  start: (share: KeyShare) => Step<S, never>
): { id: PartyId; step: Step<Session<unknown>, never> }[] {
  return shares.map((share) => ({
    id: share.partyId,
    step: start(share) as unknown as Step<Session<unknown>, never>,
  }));
}

/** Every signer outputs the signature; they must agree (anything else is a bug). */
function agreed<R>(sigs: R[], bytes: (r: R) => Uint8Array): R {
  const first = sigs[0] as R;
  if (!sigs.every((x) => ctEqual(bytes(x), bytes(first)))) {
    throw new InternalError('local.sign: signers returned different signatures');
  }
  return first;
}

/**
 * Reshare (docs/protocols/reshare.md) with `shares` as dealers (at least t current holders of one
 * epoch): returns one share per new party, same public key and chain code, a new epoch. Two-phase:
 * the new shares are returned only after every new holder proved knowledge of its share (round 4)
 * and a test signature by t of them verified; until then the old shares are the key.
 */
export async function reshareRun(
  shares: KeyShare[],
  opts: LocalReshareOptions & RunHooks
): Promise<KeyShare[]> {
  const first = shares[0];
  if (!first) throw new InputError('local.reshare: no shares given');
  checkSameKey(shares, first.scheme, 'local.reshare');
  const rng = opts.rng ?? systemRng;
  const sid0 = rng(32);
  const old = oldKeyOf(first);
  const byId = new Map(shares.map((s) => [s.partyId, s]));
  const dealers = [...byId.keys()];
  if (dealers.length !== shares.length)
    throw new InputError('local.reshare: two shares of the same party');
  const participants = [...new Set([...dealers, ...(opts.parties ?? [])])];
  const starts = participants.map((id) => {
    const share = byId.get(id);
    const params = {
      old,
      dealers,
      parties: opts.parties,
      threshold: opts.threshold,
      me: id,
      sid0,
      ...(opts.reissue ? { reissue: true } : {}),
      ...(opts.clearBans ? { clearBans: true } : {}),
    };
    return {
      id,
      step: reshareProtocolApi.start(share ? { ...params, share } : params, { rng }) as Step<
        Session<unknown>,
        never
      >,
    };
  });
  const results = runParties<ReshareResult>(
    reshareProtocolFor(first.scheme) as ProtocolDef<never, unknown>,
    starts,
    reshareProtocolApi.receive as unknown as Receive<ReshareResult>,
    opts
  );
  const epochs = new Set(results.map((r) => bytesToHex(r.epoch)));
  if (epochs.size !== 1)
    throw new InternalError('local.reshare: participants disagree on the epoch');
  const fresh = results
    .map((r) => r.share)
    .filter((s): s is KeyShare => s !== null)
    .sort((a, b) => a.partyId - b.partyId);
  await confirmByTestSignature(fresh, rng);
  return fresh;
}

/** The confirmation step of the two-phase commit: t new shares must produce a valid signature. */
async function confirmByTestSignature(fresh: KeyShare[], rng: Rng): Promise<void> {
  const first = fresh[0] as KeyShare;
  // Signers whose pairs carry no ban (bans carry over a reshare); none such: the round-4
  // proofs are the whole confirmation.
  const signers = unbannedSigners(fresh, first.threshold);
  if (!signers) return;
  // Any message works; this one names what it is for and is unique to the epoch.
  const probe = sha256(concatBytes(utf8ToBytes('tessera reshare confirmation '), first.epoch));
  await sign(first.scheme, signers, probe, { rng });
}

/** The first `t` shares (in id order) no two of which ban each other, or null. */
function unbannedSigners(shares: KeyShare[], t: number): KeyShare[] | null {
  const pick = (from: number, chosen: KeyShare[]): KeyShare[] | null => {
    if (chosen.length === t) return chosen;
    for (let k = from; k < shares.length; k++) {
      const s = shares[k] as KeyShare;
      if (chosen.some((c) => c.isBanned(s.partyId) || s.isBanned(c.partyId))) continue;
      const found = pick(k + 1, [...chosen, s]);
      if (found) return found;
    }
    return null;
  };
  return pick(0, []);
}

/** Refresh: every current holder deals, same parties and threshold, next epoch. */
export async function refreshRun(
  shares: KeyShare[],
  opts: Omit<LocalReshareOptions, 'threshold' | 'parties'> & RunHooks = {}
): Promise<KeyShare[]> {
  const first = shares[0];
  if (!first) throw new InputError('local.refresh: no shares given');
  if (shares.length !== first.parties.length)
    throw new InputError('local.refresh: every current holder takes part in a refresh', {
      hints: ['to replace a lost share, use local.reshare with the remaining holders'],
    });
  return reshareRun(shares, { ...opts, threshold: first.threshold, parties: [...first.parties] });
}

/** Drops the testing hooks, so that nothing reaches a local run through a wider object. */
const plain = <O extends object>(opts: O): Omit<O, keyof RunHooks> => {
  const { tamper: _t, pairGuards: _g, ...rest } = opts as O & RunHooks;
  return rest;
};

function localSign(
  scheme: 'ecdsa',
  shares: KeyShare[],
  digest: Uint8Array,
  opts?: LocalSignOptions
): Promise<EcdsaSignature>;
function localSign(
  scheme: 'ed25519' | 'bip340',
  shares: KeyShare[],
  message: Uint8Array,
  opts?: LocalSignOptions
): Promise<Uint8Array>;
function localSign(
  scheme: Scheme,
  shares: KeyShare[],
  message: Uint8Array,
  opts: LocalSignOptions = {}
): Promise<Uint8Array | EcdsaSignature> {
  return sign(scheme, shares, message, plain(opts));
}

/**
 * Runs every party of a key in this process, honestly (architecture.md, "The core contract"):
 * for a key whose shares all live here (the CLI's local mode, the chains package's local
 * backend). Tests that cheat use `simulate` from `@tessera/core/testing`.
 */
export const local = {
  keygen: (scheme: Scheme, opts: LocalKeygenOptions): Promise<KeyShare[]> =>
    keygenRun(scheme, plain(opts)),
  sign: localSign,
  reshare: (shares: KeyShare[], opts: LocalReshareOptions): Promise<KeyShare[]> =>
    reshareRun(shares, plain(opts)),
  refresh: (
    shares: KeyShare[],
    opts: Omit<LocalReshareOptions, 'threshold' | 'parties'> = {}
  ): Promise<KeyShare[]> => refreshRun(shares, plain(opts)),
} as const;
