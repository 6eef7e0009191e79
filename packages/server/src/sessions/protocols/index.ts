/**
 * The protocols the server runs: adding one means adding its file (its sessions, its start route,
 * how it finishes) and listing it here.
 * @module
 */
import type { ServerProtocol, SessionCodec } from '../protocol.ts';
import { keygen } from './keygen.ts';
import { recover } from './recover.ts';
import { recovery } from './recovery.ts';
import { refresh } from './refresh.ts';
import { sign } from './sign.ts';

// A protocol that shares its codec with another and claims only some of its sessions (`owns`)
// comes before it.
export const PROTOCOLS: readonly ServerProtocol<unknown>[] = [
  keygen,
  sign,
  recovery,
  refresh,
  recover,
];

/** Looks up, for a stored session's `protocol`, its codec and the protocol that finishes it. */
export interface SessionTable {
  /** The codec listed under `name`, or undefined. */
  find(name: string): SessionCodec | undefined;
  codecOf(name: string): SessionCodec;
  /** The protocol that finishes a session of `name` (the first listed that owns `params`). */
  protocolOf(name: string, params?: Readonly<Record<string, unknown>>): ServerProtocol<unknown>;
}

/** The table of `protocols`' codecs; a codec two protocols share belongs to the first listed. */
export function sessionTable(protocols: readonly ServerProtocol<unknown>[]): SessionTable {
  const byName = new Map<string, { codec: SessionCodec; protocols: ServerProtocol<unknown>[] }>();
  for (const protocol of protocols)
    for (const codec of protocol.sessions) {
      const entry = byName.get(codec.name);
      if (entry) entry.protocols.push(protocol);
      else byName.set(codec.name, { codec, protocols: [protocol] });
    }
  const entry = (name: string) => {
    const found = byName.get(name);
    if (!found) throw new Error(`no protocol runs sessions of "${name}"`);
    return found;
  };
  return {
    find: (name) => byName.get(name)?.codec,
    codecOf: (name) => entry(name).codec,
    protocolOf: (name, params) => {
      const candidates = entry(name).protocols;
      return (candidates.find((p) => !p.owns || p.owns(params ?? {})) ??
        candidates[0]) as ServerProtocol<unknown>;
    },
  };
}

const table = sessionTable(PROTOCOLS);
/** The codec of a stored session's `protocol`, among the server's protocols. */
export const codecOf = (name: string): SessionCodec => table.codecOf(name);
