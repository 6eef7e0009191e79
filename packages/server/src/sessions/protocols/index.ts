/**
 * The protocols the server runs: adding one means adding its file (its sessions, its start route,
 * how it finishes) and listing it here.
 * @module
 */
import type { ServerProtocol, SessionCodec } from '../protocol.ts';
import { keygen } from './keygen.ts';
import { recover } from './recover.ts';
import { refresh } from './refresh.ts';
import { sign } from './sign.ts';

export const PROTOCOLS: readonly ServerProtocol<unknown>[] = [keygen, sign, refresh, recover];

/** Looks up, for a stored session's `protocol`, its codec and the protocol that finishes it. */
export interface SessionTable {
  /** The codec listed under `name`, or undefined. */
  find(name: string): SessionCodec | undefined;
  codecOf(name: string): SessionCodec;
  protocolOf(name: string): ServerProtocol<unknown>;
}

/** The table of `protocols`' codecs; a codec two protocols share belongs to the first listed. */
export function sessionTable(protocols: readonly ServerProtocol<unknown>[]): SessionTable {
  const byName = new Map<string, { codec: SessionCodec; protocol: ServerProtocol<unknown> }>();
  for (const protocol of protocols)
    for (const codec of protocol.sessions)
      if (!byName.has(codec.name)) byName.set(codec.name, { codec, protocol });
  const entry = (name: string) => {
    const found = byName.get(name);
    if (!found) throw new Error(`no protocol runs sessions of "${name}"`);
    return found;
  };
  return {
    find: (name) => byName.get(name)?.codec,
    codecOf: (name) => entry(name).codec,
    protocolOf: (name) => entry(name).protocol,
  };
}

const table = sessionTable(PROTOCOLS);
/** The codec of a stored session's `protocol`, among the server's protocols. */
export const codecOf = (name: string): SessionCodec => table.codecOf(name);
