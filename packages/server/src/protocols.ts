/**
 * One uniform face over the core protocols the server runs as party `serverParty`: start,
 * receive, (de)serialise, and the public summary of a result. The server never decides
 * cryptography; it only chooses fresh coordinator nonces and feeds envelopes.
 * @module
 */

import type { ProtocolNameValue } from '@tessera/api';
import {
  dkg,
  type EcdsaCallContext,
  type EcdsaSignature,
  type Envelope,
  ecdsaSign,
  frostSign,
  KeyShare,
  type ReceiveOptions,
  type ReshareResult,
  reshare,
  type Session,
  type Step,
} from '@tessera/core';
import type { SessionKind } from './store/store.ts';

export type CoreResult = KeyShare | EcdsaSignature | Uint8Array | ReshareResult;

/** What the server passes to any protocol's `receive`; ECDSA's share and guard where it signs. */
export type PartyCallOptions = ReceiveOptions & EcdsaCallContext;

export interface ProtocolRunner {
  name: ProtocolNameValue;
  kind: SessionKind;
  totalRounds: number;
  receive(
    s: Session<unknown>,
    env: Envelope,
    o: PartyCallOptions
  ): Step<Session<unknown>, CoreResult>;
  encode(s: Session<unknown>): Uint8Array;
  decode(b: Uint8Array): Session<unknown>;
}

/** The part of a core protocol's API the server drives, whatever its state and result types. */
interface CoreProtocol<S> {
  receive(s: S, env: Envelope, o: PartyCallOptions): Step<S, CoreResult>;
  encodeSession(s: S): Uint8Array;
  decodeSession(b: Uint8Array): S;
}

/** Erases a protocol's session type: the engine only stores, decodes and feeds sessions. */
function runner<S>(
  name: ProtocolNameValue,
  kind: SessionKind,
  totalRounds: number,
  api: CoreProtocol<S>
): ProtocolRunner {
  return {
    name,
    kind,
    totalRounds,
    receive: (s, env, o) =>
      api.receive(s as S, env, o) as unknown as Step<Session<unknown>, CoreResult>,
    encode: (s) => api.encodeSession(s as S),
    decode: (b) => api.decodeSession(b) as Session<unknown>,
  };
}

export const RUNNERS: Record<ProtocolNameValue, ProtocolRunner> = {
  dkg: runner('dkg', 'keygen', 4, dkg),
  reshare: runner('reshare', 'refresh', 4, reshare),
  'ecdsa.sign': runner('ecdsa.sign', 'sign', 3, ecdsaSign),
  'frost.sign': runner('frost.sign', 'sign', 2, frostSign),
};

export const isKeyShare = (r: CoreResult): r is KeyShare => r instanceof KeyShare;
export const isEcdsaSignature = (r: CoreResult): r is EcdsaSignature =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'der' in r;
export const isReshareResult = (r: CoreResult): r is ReshareResult =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'epoch' in r && 'keyId' in r;
