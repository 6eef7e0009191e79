/**
 * Signing: one signature with the key's two shares. ECDSA (DKLs23-style, three rounds, its OT
 * and RVOLE checks under the pair guard, the share needed at every step) starts on a compute
 * worker; FROST (two rounds, the share only at the start) starts on the event loop. Before any
 * of that the payload is bounded, hashed and checked against the key's policy.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  checkedSignature,
  checkPayloadBounds,
  describeInput,
  KeyIdParams,
  PayloadTooComplex,
  SignBody,
  type SigningInput,
  type SignPayload,
  signingInput,
} from '@tessera/api';
import { ecdsaSign, frostSign, StagedLedger, TesseraError, taprootTweak } from '@tessera/core';
import type { StartOutcome } from '../../compute.ts';
import { isComputeFailure } from '../../compute-errors.ts';
import { ApiError } from '../../errors.ts';
import { refuseSigning } from '../../node/topology.ts';
import { policyRefusal, TRANSACTION_KINDS } from '../../policy.ts';
import type { KeyRecord } from '../../store/store.ts';
import {
  encodedStart,
  isEcdsaSignature,
  PARTIES,
  type ProtocolContext,
  type ServerProtocol,
  sessionCodec,
  startRoute,
} from '../protocol.ts';

export interface SignInput {
  keyId: string;
  payload: SignPayload;
  /** The epoch to sign with (default: the pending one if any, else the current one). */
  epoch: string | undefined;
}

export const ecdsaSignSessions = sessionCodec(
  {
    name: 'ecdsa.sign',
    kind: 'sign',
    loadsShare: true,
    guardedRounds: ecdsaSign.guardedRounds,
    lane: 'sign',
  },
  ecdsaSign
);

export const frostSignSessions = sessionCodec(
  {
    name: 'frost.sign',
    kind: 'sign',
    loadsShare: false,
    guardedRounds: [],
    lane: 'sign',
  },
  frostSign
);

const DAY_MS = 24 * 3600 * 1000;
/** The audit action of a refused sign request (its payload, or the key's policy). */
const REFUSED = 'sign.refused';

export const sign: ServerProtocol<SignInput> = {
  name: 'sign',
  sessions: [ecdsaSignSessions, frostSignSessions],
  route: startRoute({
    path: '/keys/:keyId/sign',
    params: KeyIdParams,
    body: SignBody,
    quota: (limits) => ({ scope: 'sign', max: limits.signsPerHourPerSubject }),
    input: (params, body) => ({
      keyId: params.keyId as string,
      payload: body.payload,
      epoch: body.epoch,
    }),
  }),

  async start(ctx, subject, { keyId, payload, epoch: asked }) {
    const key = await ctx.vault.ownedKey(subject, keyId);
    try {
      refuseSigning(key);
    } catch (e) {
      if (e instanceof ApiError)
        await ctx.auditRefusal(subject, keyId, REFUSED, e, { kind: payload.kind });
      throw e;
    }
    const epoch = asked ?? key.pendingEpoch ?? key.epoch;
    if (epoch !== key.epoch && epoch !== key.pendingEpoch)
      throw new ApiError('EPOCH_STALE', `epoch ${epoch} of key ${keyId} is no longer current`);
    // The cheap refusals come before the payload costs anything: a busy key, then its bounds.
    await ctx.refuseBusy(key.keyId, 'sign');
    const input = await hashedInput(ctx, subject, key, payload);
    await checkPolicy(ctx, subject, key, input, payload.kind);
    const loaded = await ctx.vault.load(key, epoch);
    const ecdsa = key.scheme === 'ecdsa';
    const codec = ecdsa ? ecdsaSignSessions : frostSignSessions;
    if (codec.loadsShare) ctx.vault.refuseLocked(key, loaded.share);
    const stored = loaded.share;
    // BIP-341: both parties sign with shares of the tweaked output key; the client does the same.
    const share = input.taproot ? taprootTweak(stored, input.taproot.merkleRoot) : stored;
    const rid = new Uint8Array(randomBytes(32));
    let started: StartOutcome;
    if (ecdsa) {
      started = await ctx.compute.signStart(
        { share: loaded.input, signers: PARTIES, rid, digest: input.bytes },
        { affinity: keyId, subject },
        share
      );
    } else {
      const ledger = new StagedLedger();
      const step = frostSign.start(
        { share, signers: PARTIES, message: input.bytes, rid },
        { ledger }
      );
      started = { ...encodedStart(codec, step), nonces: ledger.take() };
    }
    const outputKey = input.taproot ? { outputKey: bytesToHex(share.publicKey) } : {};
    return {
      codec,
      scheme: key.scheme,
      keyId,
      epoch,
      state: started.state,
      round: started.round,
      out: started.out,
      nonces: started.nonces,
      params: {
        scheme: key.scheme,
        threshold: 2,
        parties: PARTIES,
        keyId,
        epoch,
        rid: bytesToHex(rid),
        ...(ecdsa ? { digest: bytesToHex(input.bytes) } : { message: bytesToHex(input.bytes) }),
        ...outputKey,
      },
      exclusive: true,
      audit: {
        action: 'sign.start',
        details: { kind: payload.kind, ...describeInput(input), ...outputKey },
      },
    };
  },

  finish(ctx, rec, key, result) {
    if (!(key && (isEcdsaSignature(result) || result instanceof Uint8Array)))
      throw new ApiError('INTERNAL', `unexpected result for a ${rec.kind} session`);
    const params = JSON.parse(rec.params) as {
      digest?: string;
      message?: string;
      outputKey?: string;
    };
    const signed = hexToBytes((key.scheme === 'ecdsa' ? params.digest : params.message) ?? '');
    // Invariant 4: checked again here, independently of the core, against the stored key (or
    // the Taproot output key the start tweaked it to).
    const body = checkedSignature(key.scheme, params.outputKey ?? key.publicKey, signed, result);
    if (!body) throw new ApiError('INTERNAL', 'the signature does not verify under the stored key');
    const digest = signed.length === 32 ? bytesToHex(signed) : bytesToHex(sha256(signed));
    return {
      result: body,
      effects: [],
      audit: [ctx.event(rec.subject, key.keyId, rec.id, 'sign', 'ok', { digest })],
    };
  },

  /**
   * A signature with the pending epoch shows the client holds it: confirm it. Anchored only if
   * this confirmation took: a refresh that committed meanwhile has moved the pending epoch on,
   * and anchoring the old one would put the anchor ahead of the store.
   */
  async committed(ctx, rec, key) {
    if (key && rec.epoch !== null && rec.epoch === key.pendingEpoch)
      await ctx.vault.confirmPending(key, rec.epoch);
  },
};

/**
 * What the payload signs. Typed data past its limits is refused first, on the loop in time
 * linear in its size; typed data and transactions are then parsed and hashed on a worker
 * within `limits.payloadHashMs`, the other kinds (a hex decoding, one SHA-256) here.
 */
async function hashedInput(
  ctx: ProtocolContext,
  subject: string,
  key: KeyRecord,
  payload: SignPayload
): Promise<SigningInput> {
  try {
    checkPayloadBounds(payload);
    if (payload.kind !== 'eip712' && !TRANSACTION_KINDS.has(payload.kind))
      return signingInput(key.scheme, payload);
    const budget = ctx.config.limits.payloadHashMs;
    try {
      return await ctx.compute.payload(
        { scheme: key.scheme, payload },
        { affinity: key.keyId, subject },
        budget
      );
    } catch (e) {
      // Its worker was terminated over the budget, or died of the payload: one or the other.
      if (isComputeFailure(e))
        throw new PayloadTooComplex(
          'budget',
          e.code === 'COMPUTE_TIMEOUT'
            ? `the payload took more than ${budget} ms to hash; it is refused`
            : 'hashing the payload exhausted its worker; it is refused'
        );
      throw e;
    }
  } catch (e) {
    // Payload errors come from a worker as copies of their data: their code says what they are.
    const code = e instanceof TesseraError ? e.code : null;
    if (code === 'PAYLOAD_TOO_COMPLEX') {
      const limit = (e as TesseraError).check ?? 'budget';
      const refusal = new ApiError('PAYLOAD_TOO_COMPLEX', (e as TesseraError).message, {
        details: { limit },
      });
      await ctx.auditRefusal(subject, key.keyId, REFUSED, refusal, { kind: payload.kind, limit });
      throw refusal;
    }
    if (code === 'BAD_PAYLOAD') throw new ApiError('BAD_PAYLOAD', (e as TesseraError).message);
    throw e;
  }
}

/** POLICY_DENIED, audited, when the key's policy refuses the request. */
async function checkPolicy(
  ctx: ProtocolContext,
  subject: string,
  key: KeyRecord,
  input: SigningInput,
  kind: string
): Promise<void> {
  const signedToday =
    key.policy.dailyLimit === undefined
      ? 0
      : await ctx.signaturesSince(key.keyId, ctx.now() - DAY_MS);
  const why = policyRefusal(key.policy, input, kind, signedToday);
  if (why === null) return;
  const refusal = new ApiError('POLICY_DENIED', `the key's policy refuses this request: ${why}`);
  await ctx.auditRefusal(subject, key.keyId, REFUSED, refusal, { kind, ...describeInput(input) });
  throw refusal;
}
