/**
 * Fuzzing (docs/security.md A-63), sized for CI: random and mutated input to every decoder the
 * server runs — REST bodies, envelopes inside step requests, stored share blobs and session
 * states — never crashes, never answers 500, and always fails with a typed error. (A
 * 10-minute coverage-guided run per decoder in a nightly job would go further; there is no
 * nightly job yet, so `FUZZ_RUNS` scales these properties up by hand.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  DecodeError,
  decodeEnvelope,
  ecdsaSign,
  encodeEnvelope,
  KeyShare,
  TesseraError,
} from '@tessera/core';
import { memoryLedgerForTests, simulate } from '@tessera/core/testing';
import fc from 'fast-check';
import { call, fresh, type TestServer, testServer } from './helpers.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

/** A valid encoding with a few bytes changed, cut short, or extended. */
const mutated = (base: Uint8Array) =>
  fc
    .record({
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 8 }),
    })
    .map(({ edits, cut, extra }) => {
      const b = base.slice(0, cut === undefined ? base.length : cut % (base.length + 1));
      for (const [at, v] of edits) if (b.length) b[at % b.length] = v;
      return new Uint8Array([...b, ...extra]);
    });
const anyBytes = (base: Uint8Array) => fc.oneof(mutated(base), fc.uint8Array({ maxLength: 300 }));

/** Succeeds, or throws one of the core's typed errors (never a TypeError, RangeError...). */
function typedOrOk(decode: () => unknown): void {
  try {
    decode();
  } catch (e) {
    assert.ok(
      e instanceof TesseraError || e instanceof DecodeError,
      `untyped ${(e as Error).name}: ${(e as Error).message}`
    );
  }
}

describe('decoders under random and mutated input', () => {
  let share: KeyShare;
  let state: Uint8Array;
  let envelope: Uint8Array;
  before(async () => {
    [share] = (await simulate.keygen('ecdsa', { threshold: 2, parties: 2 })) as [KeyShare];
    const started = ecdsaSign.start(
      {
        share,
        signers: [1, 2],
        rid: new Uint8Array(randomBytes(32)),
        digest: new Uint8Array(32),
      },
      { ledger: memoryLedgerForTests() }
    );
    state = ecdsaSign.encodeSession(started.session);
    envelope = encodeEnvelope(started.out.at(-1) as (typeof started.out)[number]);
  });

  test('envelopes, stored shares and session states: typed errors only', () => {
    fc.assert(
      fc.property(anyBytes(envelope), (b) => typedOrOk(() => decodeEnvelope(b))),
      { numRuns: RUNS * 5 }
    );
    fc.assert(
      fc.property(anyBytes(share.toBytes()), (b) => typedOrOk(() => KeyShare.fromBytes(b))),
      { numRuns: RUNS * 5 }
    );
    fc.assert(
      fc.property(anyBytes(state), (b) => typedOrOk(() => ecdsaSign.decodeSession(b))),
      { numRuns: RUNS * 5 }
    );
  });
});

describe('REST bodies and step envelopes', () => {
  let t: TestServer;
  let token: string;
  let keyId: string;
  let client: Awaited<ReturnType<TestServer['client']>>;
  before(async () => {
    t = await testServer({ dev: true, logLevel: 'silent' });
    token = await t.token('fuzz');
    client = await t.client('fuzz');
    keyId = (await client.createKey({ scheme: 'ed25519' })).keyId;
  });
  after(() => t.close());

  const expect4xx = (r: Awaited<ReturnType<typeof call>>, what: string) => {
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(typeof r.json.error?.code, 'string', `${what}: a typed error body`);
  };

  test('random JSON to every POST route is a typed 4xx', async () => {
    const routes = [
      '/v1/keys',
      `/v1/keys/${keyId}/sign`,
      `/v1/keys/${keyId}/refresh`,
      `/v1/keys/${keyId}/refresh/confirm`,
      `/v1/sessions/${'ab'.repeat(16)}/messages`,
      `/v1/sessions/${'ab'.repeat(16)}/ticket`,
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue(), async (route, body) => {
        expect4xx(await call(t.url, 'POST', route, { token, body }), route);
      }),
      { numRuns: RUNS * 2 }
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.string({ maxLength: 200 }),
        async (route, raw) => {
          expect4xx(await call(t.url, 'POST', route, { token, raw }), `${route} raw`);
        }
      ),
      { numRuns: RUNS }
    );
  });

  test('mutated envelopes in a live session are a typed 4xx, and never a signature', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.boolean(),
        async (junk, asBase64) => {
          // A key per case: a step refused by the schema leaves its session active (and the key busy).
          const key = (await client.createKey({ scheme: 'ed25519' })).keyId;
          const start = await call(t.url, 'POST', `/v1/keys/${key}/sign`, {
            token,
            body: { payload: { kind: 'message', message: 'abcd' }, ...fresh() },
          });
          assert.equal(start.status, 201, start.text);
          const sid = (start.json as { sessionId: string }).sessionId;
          const messages = [
            asBase64 ? Buffer.from(junk).toString('base64') : Buffer.from(junk).toString('latin1'),
          ];
          const r = await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
            token,
            body: { messages },
          });
          expect4xx(r, 'step');
          assert.equal((r.json as { result?: unknown }).result, undefined);
          const again = await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, {
            token,
            body: { messages },
          });
          expect4xx(again, 'resend');
        }
      ),
      { numRuns: RUNS }
    );
  });
});
