/**
 * One uniform face over the core protocols the server runs as party `serverParty`: start,
 * receive, (de)serialise, and the public summary of a result. The server never decides
 * cryptography; it only chooses fresh coordinator nonces and feeds envelopes.
 * @module
 */

import type { ProtocolNameValue } from '@tessera/api';
import {
  dkg,
  type EcdsaSignature,
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

export interface ProtocolRunner {
  name: ProtocolNameValue;
  kind: SessionKind;
  totalRounds: number;
  receive(
    s: Session<unknown>,
    env: Parameters<typeof dkg.receive>[1],
    o: ReceiveOptions
  ): Step<Session<unknown>, CoreResult>;
  encode(s: Session<unknown>): Uint8Array;
  decode(b: Uint8Array): Session<unknown>;
}

type AnyReceive = (
  s: Session<unknown>,
  e: Parameters<typeof dkg.receive>[1],
  o: ReceiveOptions
) => Step<Session<unknown>, CoreResult>;

export const RUNNERS: Record<ProtocolNameValue, ProtocolRunner> = {
  dkg: {
    name: 'dkg',
    kind: 'keygen',
    totalRounds: 4,
    receive: dkg.receive as unknown as AnyReceive,
    encode: (s) => dkg.encodeSession(s as Parameters<typeof dkg.encodeSession>[0]),
    decode: (b) => dkg.decodeSession(b) as Session<unknown>,
  },
  reshare: {
    name: 'reshare',
    kind: 'refresh',
    totalRounds: 4,
    receive: reshare.receive as unknown as AnyReceive,
    encode: (s) => reshare.encodeSession(s as Parameters<typeof reshare.encodeSession>[0]),
    decode: (b) => reshare.decodeSession(b) as Session<unknown>,
  },
  'ecdsa.sign': {
    name: 'ecdsa.sign',
    kind: 'sign',
    totalRounds: 3,
    receive: ecdsaSign.receive as unknown as AnyReceive,
    encode: (s) => ecdsaSign.encodeSession(s as Parameters<typeof ecdsaSign.encodeSession>[0]),
    decode: (b) => ecdsaSign.decodeSession(b) as Session<unknown>,
  },
  'frost.sign': {
    name: 'frost.sign',
    kind: 'sign',
    totalRounds: 2,
    receive: frostSign.receive as unknown as AnyReceive,
    encode: (s) => frostSign.encodeSession(s as Parameters<typeof frostSign.encodeSession>[0]),
    decode: (b) => frostSign.decodeSession(b) as Session<unknown>,
  },
};

export const isKeyShare = (r: CoreResult): r is KeyShare => r instanceof KeyShare;
export const isEcdsaSignature = (r: CoreResult): r is EcdsaSignature =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'der' in r;
export const isReshareResult = (r: CoreResult): r is ReshareResult =>
  !(r instanceof Uint8Array) && !(r instanceof KeyShare) && 'epoch' in r && 'keyId' in r;
