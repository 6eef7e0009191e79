/**
 * The per-round step body limits (`CLIENT_ROUND_KIB` in @tessera/api) against the envelopes the
 * core really makes: every protocol, with 2 parties and with 3 (3-of-3, the largest bodies), as
 * the client party sends them to the server (its broadcast and its p2p message to party 2).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CLIENT_ROUND_KIB,
  type CoreProtocolName,
  MAX_STEP_BODY_BYTES,
  stepBodyLimit,
} from '@tessera/api';
import { type Envelope, encodeEnvelope } from '@tessera/core';
import { simulate } from '@tessera/core/testing';

describe('step body limits per protocol round', () => {
  test('the table covers every round of every protocol with 2 and 3 parties', async () => {
    // Per run: the client's bytes of each round; over all runs: the largest.
    const measured = new Map<string, number>();
    let run = new Map<string, number>();
    const record = (e: Envelope) => {
      if (e.from !== 1 || (e.to !== 0 && e.to !== 2)) return undefined;
      const k = `${e.proto}#${e.round}`;
      run.set(k, (run.get(k) ?? 0) + encodeEnvelope(e).length);
      measured.set(k, Math.max(measured.get(k) ?? 0, run.get(k) as number));
      return undefined;
    };
    for (const [threshold, parties] of [
      [2, 2],
      [3, 3],
    ] as const) {
      for (const scheme of ['ecdsa', 'ed25519', 'bip340'] as const) {
        run = new Map();
        const shares = await simulate.keygen(scheme, { threshold, parties, tamper: record });
        await simulate.refresh(shares, { tamper: record });
        const digest = new Uint8Array(32).fill(7);
        if (scheme === 'ecdsa') await simulate.sign('ecdsa', shares, digest, { tamper: record });
        else await simulate.sign(scheme, shares, digest, { tamper: record });
      }
    }
    const seen = new Set<string>();
    for (const [k, bytes] of measured) {
      const [proto, round] = k.split('#') as [CoreProtocolName, string];
      const kib = CLIENT_ROUND_KIB[proto]?.[Number(round) - 1];
      assert.ok(kib !== undefined, `${k} is in the table`);
      assert.ok(bytes <= kib * 1024, `${k}: ${bytes} bytes measured, ${kib} KiB in the table`);
      seen.add(proto);
    }
    assert.deepEqual([...seen].sort(), Object.keys(CLIENT_ROUND_KIB).sort());
  });

  test('a limit covers a step from its round on and a resend of the rounds before', () => {
    const base64 = (kib: number) => Math.ceil((kib * 1024) / 3) * 4;
    for (const [proto, rounds] of Object.entries(CLIENT_ROUND_KIB) as [
      CoreProtocolName,
      readonly number[],
    ][])
      for (let r = 1; r <= rounds.length; r++) {
        const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
        const limit = stepBodyLimit(proto, r);
        assert.ok(limit >= base64(sum(rounds.slice(r - 1))) * 2, `${proto} round ${r}: ahead`);
        assert.ok(limit >= base64(sum(rounds.slice(0, r - 1))) * 2, `${proto} round ${r}: resend`);
        assert.ok(limit <= MAX_STEP_BODY_BYTES);
      }
    // Far below the 24 MiB every step could send before.
    assert.ok(MAX_STEP_BODY_BYTES < 256 * 1024, String(MAX_STEP_BODY_BYTES));
  });
});
