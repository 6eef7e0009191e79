/**
 * Who is calling: single-use login challenges, the Ed25519 login, bearer tokens and one-time
 * WebSocket tickets. Tokens and tickets are 32 random bytes handed out once; the store keeps
 * only their SHA-256, so a leaked store (or Redis dump) holds nothing a caller can present.
 * Every instance sharing the store accepts every token.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import type { RelayLimits } from './config.ts';
import { RelayError } from './errors.ts';
import { loginMessage, verifyEd25519 } from './manifest.ts';
import type { RoomStore } from './store.ts';

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
const TOKEN = /^[0-9a-f]{64}$/;

export class RelayAuth {
  readonly #store: RoomStore;
  readonly #limits: RelayLimits;
  readonly #now: () => number;

  constructor(store: RoomStore, limits: RelayLimits, now: () => number) {
    this.#store = store;
    this.#limits = limits;
    this.#now = now;
  }

  async challenge(ip: string): Promise<{ challenge: string; expiresAt: number }> {
    const now = this.#now();
    const hit = await this.#store.hit(`ch-ip:${ip}`, 60_000, now);
    if (hit.count > this.#limits.challengesPerMinutePerIp)
      throw new RelayError('RATE_LIMITED', 'too many challenges from this address', {
        retryAfter: Math.max(1, Math.ceil((hit.resetAt - now) / 1000)),
      });
    const challenge = randomBytes(32).toString('hex');
    const expiresAt = now + this.#limits.challengeTtlMs;
    await this.#store.put(`ch:${challenge}`, '1', expiresAt);
    return { challenge, expiresAt };
  }

  async login(
    body: { publicKey: string; challenge: string; signature: string },
    origin: string
  ): Promise<{ token: string; expiresAt: number }> {
    const now = this.#now();
    // Taken before the signature is checked: a challenge is spent by any attempt on it.
    const known = await this.#store.take(`ch:${body.challenge}`, now);
    const failed = new RelayError(
      'LOGIN_FAILED',
      'login failed: unknown, used or expired challenge, or a signature that does not verify'
    );
    if (known === null) throw failed;
    if (
      !verifyEd25519(
        body.signature,
        loginMessage(origin, hexToBytes(body.challenge)),
        body.publicKey
      )
    )
      throw failed;
    const token = randomBytes(32).toString('hex');
    const expiresAt = now + this.#limits.tokenTtlMs;
    await this.#store.put(`tok:${hashOf(token)}`, body.publicKey, expiresAt);
    return { token, expiresAt };
  }

  /** The identity of `Authorization: Bearer TOKEN`, or UNAUTHORIZED. */
  async verifyHeader(authorization: string | undefined): Promise<string> {
    const m = /^Bearer ([0-9a-f]{64})$/.exec(authorization ?? '');
    if (!m?.[1]) throw unauthorized();
    return this.verifyToken(m[1]);
  }

  async verifyToken(token: string): Promise<string> {
    if (!TOKEN.test(token)) throw unauthorized();
    const who = await this.#store.get(`tok:${hashOf(token)}`, this.#now());
    if (who === null) throw unauthorized();
    return who;
  }

  async issueTicket(publicKey: string, roomId: string): Promise<{ ticket: string }> {
    const ticket = randomBytes(32).toString('hex');
    await this.#store.put(
      `tk:${hashOf(ticket)}`,
      `${publicKey}:${roomId}`,
      this.#now() + this.#limits.ticketTtlMs
    );
    return { ticket };
  }

  /** The identity a ticket was issued to, for this room only; the ticket is spent. */
  async redeemTicket(ticket: string, roomId: string): Promise<string> {
    if (!TOKEN.test(ticket)) throw unauthorized();
    const v = await this.#store.take(`tk:${hashOf(ticket)}`, this.#now());
    const [who, room] = (v ?? '').split(':');
    if (!who || room !== roomId) throw unauthorized();
    return who;
  }
}

const unauthorized = () =>
  new RelayError('UNAUTHORIZED', 'a valid bearer token (or WebSocket ticket) is required');
