/**
 * The server's side of enclave attestation (docs/attestation.md, docs/enclave.md).
 *
 * A client asks `GET /v1/attestation?nonce=…`; the provider returns a Nitro document made by the
 * enclave's NSM for that nonce with `user_data = SHA-256(Ed25519 key ‖ X25519 key)` of the
 * server's identity (the one it also uses in relay rooms, sealed in the store like a share). The
 * server signs every session reply with that identity (`signReply`), and a client that asks for
 * it gets the session's envelopes sealed both ways (`@tessera/api` sealed-session.ts): the parent
 * host in front of the enclave terminates TLS, yet it can neither read nor forge them.
 *
 * The NSM is an ioctl on `/dev/nsm`, which Node cannot issue without a native addon, so the Nitro
 * provider runs a small helper program (built from AWS's aws-nitro-enclaves-nsm-api) with
 * `--nonce HEX --user-data HEX` and reads the document's base64 from its stdout.
 * @module
 */
import { execFile } from 'node:child_process';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import {
  type AttestationResponse,
  type AttestedReplyKind,
  attestedReplyMessage,
  identityDigest,
} from '@tessera/api';
import type { PartyIdentity } from '@tessera/core';
import type { Logger } from 'pino';
import { ApiError } from './errors.ts';

/** Makes an attestation document for a nonce and `user_data`. */
export interface AttestationProvider {
  readonly description: string;
  document(nonce: Uint8Array, userData: Uint8Array): Promise<Uint8Array>;
}

const HELPER_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 20 * 1024;
/** Provider calls at once (each one is a round trip to the Nitro hypervisor), and per subject. */
const MAX_IN_FLIGHT = 4;
const MAX_IN_FLIGHT_PER_SUBJECT = 1;

/** The Nitro provider: runs the NSM helper for each document. */
export function nitroHelperProvider(helper: string): AttestationProvider {
  return {
    description: `nitro (${helper})`,
    document: (nonce, userData) =>
      new Promise((resolve, reject) => {
        execFile(
          helper,
          ['--nonce', bytesToHex(nonce), '--user-data', bytesToHex(userData)],
          { timeout: HELPER_TIMEOUT_MS, maxBuffer: 2 * MAX_DOCUMENT_BYTES, encoding: 'utf8' },
          (err, stdout) => {
            // Its exit status only: the message would repeat the command line, nonce included.
            if (err)
              return reject(
                new Error(
                  `the NSM helper failed (${err.killed ? 'timed out' : `exit ${err.code ?? err.signal}`})`
                )
              );
            const text = stdout.trim();
            if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text))
              return reject(new Error('the NSM helper did not print a base64 document'));
            resolve(new Uint8Array(Buffer.from(text, 'base64')));
          }
        );
      }),
  };
}

/** The identity the documents vouch for and the provider that makes them. */
export class Attestor {
  readonly #provider: AttestationProvider;
  /** The server's identity: signs replies, opens sealed sessions. */
  readonly identity: PartyIdentity;
  readonly userData: Uint8Array;
  #inFlight = 0;
  readonly #bySubject = new Map<string, number>();
  readonly #log: Logger | undefined;

  constructor(provider: AttestationProvider, identity: PartyIdentity, log?: Logger) {
    this.#provider = provider;
    this.#log = log;
    this.identity = identity;
    this.userData = identityDigest(identity.public);
  }

  get description(): string {
    return this.#provider.description;
  }

  /**
   * A fresh document for the caller's nonce. One subject has one request at the NSM at a time,
   * so that no token holder can keep the others' requests waiting.
   */
  async attest(subject: string, nonce: Uint8Array): Promise<AttestationResponse> {
    const mine = this.#bySubject.get(subject) ?? 0;
    if (this.#inFlight >= MAX_IN_FLIGHT || mine >= MAX_IN_FLIGHT_PER_SUBJECT)
      throw new ApiError('RATE_LIMITED', 'too many attestation requests at once; retry shortly', {
        retryAfter: 1,
      });
    this.#inFlight++;
    this.#bySubject.set(subject, mine + 1);
    let document: Uint8Array;
    try {
      document = await this.#provider.document(nonce, this.userData);
    } catch (e) {
      this.#log?.warn({ err: (e as Error).message }, 'attestation provider failed');
      throw new ApiError('UNAVAILABLE', 'the enclave could not produce an attestation document', {
        retryAfter: 2,
      });
    } finally {
      this.#inFlight--;
      const left = (this.#bySubject.get(subject) ?? 1) - 1;
      if (left > 0) this.#bySubject.set(subject, left);
      else this.#bySubject.delete(subject);
    }
    if (document.length === 0 || document.length > MAX_DOCUMENT_BYTES)
      throw new ApiError('UNAVAILABLE', 'the enclave produced a malformed attestation document');
    return {
      document: Buffer.from(document).toString('base64'),
      identity: {
        publicKey: bytesToHex(this.identity.public.publicKey),
        x25519: bytesToHex(this.identity.public.x25519),
      },
    };
  }

  /**
   * The identity key's signature on a session reply (hex), over `attestedReplyMessage` of the
   * JSON value the reply is sent as.
   */
  signReply(kind: AttestedReplyKind, reply: object): string {
    const sent = JSON.parse(JSON.stringify(reply)) as object;
    return bytesToHex(ed25519.sign(attestedReplyMessage(kind, sent), this.identity.signingKey));
  }
}
