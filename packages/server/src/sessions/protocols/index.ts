/**
 * The protocols the server runs: adding one means adding its file and listing it here.
 * @module
 */
import type { ServerProtocol, SessionCodec } from '../protocol.ts';
import { keygen } from './keygen.ts';
import { recover } from './recover.ts';
import { refresh } from './refresh.ts';
import { sign } from './sign.ts';

export const PROTOCOLS: readonly ServerProtocol<never>[] = [keygen, sign, refresh, recover];

/** Stored sessions find their protocol by their codec (the first protocol to list it). */
const BY_SESSION = new Map<string, { codec: SessionCodec; protocol: ServerProtocol<never> }>();
for (const protocol of PROTOCOLS)
  for (const codec of protocol.sessions)
    if (!BY_SESSION.has(codec.name)) BY_SESSION.set(codec.name, { codec, protocol });

function entry(name: string) {
  const found = BY_SESSION.get(name);
  if (!found) throw new Error(`no protocol runs sessions of "${name}"`);
  return found;
}

/** The codec of a stored session's `protocol`. */
export const codecOf = (name: string): SessionCodec => entry(name).codec;

/** The protocol that finishes sessions of a stored `protocol`. */
export const protocolOf = (name: string): ServerProtocol<never> => entry(name).protocol;
