/**
 * A node's long-term identity in the 2-of-3 topology (docs/topologies.md): an Ed25519 key pair
 * that signs every envelope the node sends to the other node, and an X25519 key pair that the
 * other node seals its envelopes to. Created at the node's first start, kept in the store (the
 * instances of one node share it) with its secret half sealed like a share, and published at
 * `GET /v1/node/identity`; its public half is also written to `DATA/node-identity.json` so that
 * `tessera node identity` can print it without the key-encryption key.
 *
 * The fingerprint clients pin is `SHA-256("tessera/node-identity/v1" ‖ nodeId ‖ ed25519 ‖ x25519)`:
 * it binds both public keys and the node's role, so a client pinning node 2's fingerprint cannot
 * be handed node 1 in its place.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Sealer } from '../custody.ts';
import type { NodeId, NodeIdentityPublic, Store } from '../store/store.ts';

export const NODE_IDS: readonly NodeId[] = ['node1', 'node2'];
/** The party id of each node in a 2-of-3 key: the client is party 1. */
export const NODE_PARTY: Record<NodeId, number> = { node1: 2, node2: 3 };
export const IDENTITY_FILE = 'node-identity.json';
const META = 'node_identity';
const VERSION = 1;

export function fingerprintOf(nodeId: NodeId, ed: Uint8Array, x: Uint8Array): string {
  return bytesToHex(
    sha256(concatBytes(utf8ToBytes('tessera/node-identity/v1'), utf8ToBytes(nodeId), ed, x))
  );
}

/** A public identity whose fingerprint is its own, with well-formed keys; else null. */
export function checkedIdentity(p: unknown): NodeIdentityPublic | null {
  if (typeof p !== 'object' || p === null) return null;
  const o = p as Record<string, unknown>;
  const hex64 = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  if (!(o.nodeId === 'node1' || o.nodeId === 'node2')) return null;
  if (!hex64(o.ed25519) || !hex64(o.x25519) || !hex64(o.fingerprint)) return null;
  const ed = hexToBytes(o.ed25519 as string);
  const x = hexToBytes(o.x25519 as string);
  try {
    ed25519.Point.fromBytes(ed).assertValidity();
  } catch {
    return null;
  }
  if (fingerprintOf(o.nodeId, ed, x) !== o.fingerprint) return null;
  return {
    nodeId: o.nodeId,
    ed25519: o.ed25519 as string,
    x25519: o.x25519 as string,
    fingerprint: o.fingerprint as string,
  };
}

/** The node's identity with its secret keys, held in memory only while the node runs. */
export class NodeIdentity {
  readonly public: NodeIdentityPublic;
  readonly #edSecret: Uint8Array;
  readonly #xSecret: Uint8Array;

  private constructor(nodeId: NodeId, edSecret: Uint8Array, xSecret: Uint8Array) {
    this.#edSecret = edSecret;
    this.#xSecret = xSecret;
    const ed = ed25519.getPublicKey(edSecret);
    const x = x25519.getPublicKey(xSecret);
    this.public = {
      nodeId,
      ed25519: bytesToHex(ed),
      x25519: bytesToHex(x),
      fingerprint: fingerprintOf(nodeId, ed, x),
    };
  }

  get nodeId(): NodeId {
    return this.public.nodeId;
  }

  get party(): number {
    return NODE_PARTY[this.public.nodeId];
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.#edSecret);
  }

  /** X25519 with our receiving key. */
  agree(peerPublic: Uint8Array): Uint8Array {
    return x25519.getSharedSecret(this.#xSecret, peerPublic);
  }

  /**
   * The node's identity from the store, created on first start (the first instance to write it
   * wins; the others read it back). The public half goes to `file`.
   */
  static async open(
    nodeId: NodeId,
    store: Pick<Store, 'getMeta' | 'putMetaIfAbsent'>,
    sealer: Sealer,
    file: string
  ): Promise<NodeIdentity> {
    let blob = await store.getMeta(META);
    if (!blob) {
      const secret = concatBytes(new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32)));
      const sealed = sealer.sealIdentity(nodeId, secret);
      secret.fill(0);
      blob = await store.putMetaIfAbsent(META, concatBytes(new Uint8Array([VERSION]), sealed));
    }
    if (blob[0] !== VERSION) throw new Error('the stored node identity has an unknown version');
    // A store made for the other node refuses to open: its AAD names the node.
    const secret = sealer.openIdentity(nodeId, blob.subarray(1));
    const id = new NodeIdentity(nodeId, secret.slice(0, 32), secret.slice(32, 64));
    secret.fill(0);
    writePublic(file, id.public);
    return id;
  }
}

function writePublic(file: string, p: NodeIdentityPublic): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(p, null, 2)}\n`);
  renameSync(tmp, file);
}

/** The public identity a node wrote to its data directory (`tessera node identity`). */
export function readNodeIdentity(file: string): NodeIdentityPublic {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(
      `no node identity at ${file}: start the server with --node-id first (${(e as Error).message})`
    );
  }
  const id = checkedIdentity(parsed);
  if (!id) throw new Error(`${file} is not a valid node identity`);
  return id;
}
