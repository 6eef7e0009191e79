/**
 * Server-level adversarial tests (docs/security.md, "Co-signing server"): authentication, ownership, malformed and
 * oversized input, replays, wrong rounds, changed resends, concurrency, rate limits, policy.
 * Each gets its documented 4xx code; none produces a 500 or a signature.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeEnvelope, dkg, type Envelope, encodeEnvelope } from '@tessera/core';
import { devKey } from '@tessera/server';
import { importJWK, SignJWT } from 'jose';
import { serializeTransaction } from 'viem';
import { rateLimitKey } from '../src/ratelimit.ts';
import { call, fresh, fromHex, type TestServer, testServer } from './helpers.ts';

const b64 = (e: Envelope) => Buffer.from(encodeEnvelope(e)).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe('server adversarial tests', () => {
  let t: TestServer;
  let alice: string;
  let mallory: string;
  let aliceKey: { keyId: string; publicKey: string };
  before(async () => {
    t = await testServer();
    alice = await t.token('alice');
    mallory = await t.token('mallory');
    const c = await t.client('alice');
    aliceKey = await c.createKey({ scheme: 'ed25519' });
  });
  after(() => t.close());

  const signBody = () => ({ payload: { kind: 'message', message: 'aa' }, ...fresh() });

  test('missing, malformed, expired, wrong audience/issuer, nbf, alg none, HS256 with the public key → 401', async () => {
    const { privateJwk, publicJwk } = await devKey(t.data);
    const key = await importJWK(privateJwk, 'EdDSA');
    const base = () =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid as string })
        .setSubject('alice');
    const now = Math.floor(Date.now() / 1000);
    const tokens: Record<string, string | undefined> = {
      missing: undefined,
      garbage: 'not-a-jwt',
      expired: await base()
        .setIssuer('tessera')
        .setAudience('tessera')
        .setExpirationTime(now - 120)
        .sign(key),
      wrongAudience: await base()
        .setIssuer('tessera')
        .setAudience('other')
        .setExpirationTime('1h')
        .sign(key),
      wrongIssuer: await base()
        .setIssuer('evil')
        .setAudience('tessera')
        .setExpirationTime('1h')
        .sign(key),
      notBefore: await base()
        .setIssuer('tessera')
        .setAudience('tessera')
        .setNotBefore(now + 3600)
        .setExpirationTime('2h')
        .sign(key),
      noExpiry: await base().setIssuer('tessera').setAudience('tessera').sign(key),
      algNone: `${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: 'alice', iss: 'tessera', aud: 'tessera', exp: now + 3600 }))}.`,
      hs256WithPublicKey: await new SignJWT({ sub: 'alice' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('tessera')
        .setAudience('tessera')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      jkuHeader: await new SignJWT({})
        .setProtectedHeader({
          alg: 'EdDSA',
          jku: 'http://127.0.0.1:1/jwks.json',
          kid: '../../etc/passwd',
        })
        .setSubject('alice')
        .setIssuer('tessera')
        .setAudience('tessera')
        .setExpirationTime('1h')
        .sign(key),
    };
    for (const [name, token] of Object.entries(tokens)) {
      for (const [method, path, body] of [
        ['GET', '/v1/keys', undefined],
        ['POST', `/v1/keys/${aliceKey.keyId}/sign`, signBody()],
      ] as const) {
        const r = await call(t.url, method, path, {
          ...(token ? { token } : {}),
          ...(body ? { body } : {}),
        });
        assert.equal(r.status, 401, `${name} ${method} ${path}: ${r.text}`);
        assert.equal(r.json.error?.code, 'UNAUTHORIZED');
      }
    }
    // The health and status routes need no token.
    assert.equal((await call(t.url, 'GET', '/v1/health')).status, 200);
    assert.equal((await call(t.url, 'GET', '/v1/status')).status, 200);
  });

  test("another subject's key id is a 404, exactly like a missing one", async () => {
    const missing = 'ab'.repeat(32);
    for (const [method, path, body] of [
      ['GET', '/v1/keys/ID', undefined],
      ['POST', '/v1/keys/ID/sign', signBody],
      ['POST', '/v1/keys/ID/refresh', () => ({ epoch: '00'.repeat(32), ...fresh() })],
    ] as const) {
      const theirs = await call(t.url, method, path.replace('ID', aliceKey.keyId), {
        token: mallory,
        ...(body ? { body: body() } : {}),
      });
      const none = await call(t.url, method, path.replace('ID', missing), {
        token: mallory,
        ...(body ? { body: body() } : {}),
      });
      assert.equal(theirs.status, 404, theirs.text);
      assert.deepEqual(theirs.json, JSON.parse(none.text.replace(missing, aliceKey.keyId)));
    }
    const list = await call(t.url, 'GET', '/v1/keys', { token: mallory });
    assert.deepEqual(list.json, { keys: [] });
  });

  test('session ids guessed or of another subject grant nothing; tickets are one-time; no token in the URL', async () => {
    const started = await call(t.url, 'POST', `/v1/keys/${aliceKey.keyId}/sign`, {
      token: alice,
      body: signBody(),
    });
    assert.equal(started.status, 201, started.text);
    const sid = started.json.sessionId as string;
    const step = { messages: ['AAAA'] };
    assert.equal(
      (await call(t.url, 'POST', `/v1/sessions/${sid}/messages`, { token: mallory, body: step }))
        .status,
      404
    );
    assert.equal(
      (
        await call(t.url, 'POST', `/v1/sessions/${'0'.repeat(32)}/messages`, {
          token: alice,
          body: step,
        })
      ).status,
      404
    );
    assert.equal(
      (await call(t.url, 'POST', `/v1/sessions/${sid}/ticket`, { token: mallory })).status,
      404
    );
    const { WebSocket } = await import('ws');
    const upgrade = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
    const wsUrl = `${t.url.replace('http', 'ws')}/v1/sessions/${sid}/ws`;
    assert.equal(await upgrade(wsUrl), 401, 'no credentials');
    assert.equal(
      await upgrade(`${wsUrl}?token=${alice}`),
      400,
      'a token in the query string is refused'
    );
    assert.equal(await upgrade(`${wsUrl}?ticket=${'0'.repeat(64)}`), 401, 'an unknown ticket');
    assert.equal(
      await upgrade(wsUrl, { authorization: `Bearer ${mallory}` }),
      404,
      "another subject's session"
    );
    assert.equal(
      await upgrade(wsUrl, { authorization: `Bearer ${alice}`, origin: 'https://evil.example' }),
      403,
      'CSWSH'
    );
    const ticket = (await call(t.url, 'POST', `/v1/sessions/${sid}/ticket`, { token: alice })).json
      .ticket as string;
    assert.equal(await upgrade(`${wsUrl}?ticket=${ticket}`), 101);
    assert.equal(await upgrade(`${wsUrl}?ticket=${ticket}`), 401, 'a ticket works once');
  });

  test('oversized, malformed, unknown fields, wrong types, non-canonical hex, unsupported curves → 4xx, nothing persisted', async () => {
    const keygen = (body: unknown) => call(t.url, 'POST', '/v1/keys', { token: mallory, body });
    const cases: [string, Promise<Awaited<ReturnType<typeof call>>>, number, string][] = [
      [
        '10 MB body',
        call(t.url, 'POST', '/v1/keys', {
          token: mallory,
          raw: `{"scheme":"${'a'.repeat(10 * 1024 * 1024)}"}`,
        }),
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      [
        'not JSON',
        call(t.url, 'POST', '/v1/keys', { token: mallory, raw: '{"scheme":' }),
        400,
        'SCHEMA',
      ],
      [
        'nested 10,000 deep',
        call(t.url, 'POST', '/v1/keys', {
          token: mallory,
          raw: `${'['.repeat(10000)}${']'.repeat(10000)}`,
        }),
        400,
        'SCHEMA',
      ],
      ['unknown field', keygen({ scheme: 'ed25519', extra: 1, ...fresh() }), 400, 'SCHEMA'],
      ['wrong type', keygen({ scheme: 7, ...fresh() }), 400, 'SCHEMA'],
      [
        'negative timestamp',
        keygen({ scheme: 'ed25519', nonce: '00'.repeat(16), timestamp: -1 }),
        400,
        'SCHEMA',
      ],
      [
        'float timestamp',
        keygen({ scheme: 'ed25519', nonce: '00'.repeat(16), timestamp: 1.5 }),
        400,
        'SCHEMA',
      ],
      [
        'upper-case hex nonce',
        keygen({ scheme: 'ed25519', nonce: 'AB'.repeat(16), timestamp: Date.now() }),
        400,
        'SCHEMA',
      ],
      ['secp256r1', keygen({ scheme: 'secp256r1', ...fresh() }), 400, 'UNSUPPORTED_CURVE'],
      ['ed448', keygen({ scheme: 'ed448', ...fresh() }), 400, 'UNSUPPORTED_CURVE'],
      ['missing scheme', keygen({ ...fresh() }), 400, 'SCHEMA'],
      [
        'stale timestamp',
        keygen({ scheme: 'ed25519', nonce: '11'.repeat(16), timestamp: Date.now() - 3600_000 }),
        400,
        'STALE_REQUEST',
      ],
      [
        'bad key id',
        call(t.url, 'GET', '/v1/keys/..%2f..%2fetc', { token: mallory }),
        400,
        'SCHEMA',
      ],
      [
        'message over its limit',
        call(t.url, 'POST', `/v1/keys/${aliceKey.keyId}/sign`, {
          token: alice,
          body: { payload: { kind: 'message', message: 'ab'.repeat(100_000) }, ...fresh() },
        }),
        400,
        'SCHEMA',
      ],
      [
        '1 MB hex field',
        call(t.url, 'POST', `/v1/keys/${aliceKey.keyId}/sign`, {
          token: alice,
          body: { payload: { kind: 'digest', digest: 'ab'.repeat(500_000) }, ...fresh() },
        }),
        413,
        'PAYLOAD_TOO_LARGE',
      ],
    ];
    for (const [name, p, status, code] of cases) {
      const r = await p;
      assert.equal(r.status, status, `${name}: ${r.text.slice(0, 200)}`);
      assert.equal(r.json.error?.code, code, name);
    }
    assert.deepEqual((await call(t.url, 'GET', '/v1/keys', { token: mallory })).json, { keys: [] });
  });

  test('a start request replayed with the same nonce starts nothing new; another request with it is refused', async () => {
    const body = { scheme: 'ed25519', ...fresh() };
    const first = await call(t.url, 'POST', '/v1/keys', { token: mallory, body });
    assert.equal(first.status, 201);
    // The identical request is answered with the first one's reply (idempotent starts).
    const again = await call(t.url, 'POST', '/v1/keys', { token: mallory, body });
    assert.equal(again.status, 201);
    assert.equal(again.text, first.text);
    const other = await call(t.url, 'POST', '/v1/keys', {
      token: mallory,
      body: { ...body, scheme: 'bip340' },
    });
    assert.equal(other.status, 409);
    assert.equal(other.json.error?.code, 'REPLAYED_REQUEST');
  });

  test('wrong rounds abort; an identical resend gets byte-identical bytes; a changed resend aborts and wipes', async () => {
    // A key generation driven by hand with the core, so that envelopes can be altered.
    const start = async () => {
      const r = await call(t.url, 'POST', '/v1/keys', {
        token: mallory,
        body: { scheme: 'ed25519', ...fresh() },
      });
      const sid0 = fromHex((r.json.params as { sid0: string }).sid0);
      const me = dkg.start({ scheme: 'ed25519', threshold: 2, parties: 2, me: 1, sid0 });
      return { sid: r.json.sessionId as string, me };
    };
    const stepOf = (sid: string, messages: string[]) =>
      call(t.url, 'POST', `/v1/sessions/${sid}/messages`, { token: mallory, body: { messages } });

    // A round-3 message while the server collects round 1.
    const a = await start();
    const r1 = a.me.out[0] as Envelope;
    const early = await stepOf(a.sid, [b64({ ...r1, round: 3 })]);
    assert.equal(early.status, 400, early.text);
    assert.equal(early.json.error?.code, 'PROTOCOL_VIOLATION');
    const closed = await stepOf(a.sid, [b64(r1)]);
    assert.equal(closed.status, 410);
    assert.equal(closed.json.error?.code, 'SESSION_CLOSED');

    // A valid round 1, its identical resend, then a changed one.
    const b = await start();
    const msgs = b.me.out.map(b64);
    const first = await stepOf(b.sid, msgs);
    assert.equal(first.status, 200, first.text);
    const resend = await stepOf(b.sid, msgs);
    assert.equal(resend.text, first.text, 'byte-identical cached reply');
    const changed = b.me.out.map((e) => ({ ...e, body: e.body.slice() }));
    const body = (changed[0] as Envelope).body;
    body[5] = (body[5] as number) ^ 1;
    const bad = await stepOf(b.sid, changed.map(b64));
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error?.code, 'PROTOCOL_VIOLATION');
    const rec = await t.srv.store.getSession(b.sid);
    assert.equal(rec?.status, 'aborted');
    assert.equal(rec?.state, null, 'state destroyed');
    // An unknown message type (garbage envelope) aborts too.
    const c = await start();
    const garbage = await stepOf(c.sid, [Buffer.from('garbage').toString('base64')]);
    assert.equal(garbage.json.error?.code, 'PROTOCOL_VIOLATION');
  });

  const newKey = async () => (await t.client('alice')).createKey({ scheme: 'ed25519' });

  test('a tampered protocol message aborts naming the client (party 1), with an audit event', async () => {
    const key = await newKey();
    const started = await call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, {
      token: alice,
      body: { payload: { kind: 'message', message: 'bb' }, ...fresh() },
    });
    assert.equal(started.status, 201, started.text);
    // No share is needed to forge: party 1's round-1 commitments are replaced by bytes that are no points.
    const env: Envelope = {
      v: 1,
      proto: 'frost.sign',
      sid: decodeEnvelope(
        fromHex(
          Buffer.from((started.json.messages as string[])[0] as string, 'base64').toString('hex')
        )
      ).sid,
      round: 1,
      from: 1,
      to: 0,
      body: new Uint8Array(72).fill(0xff),
    };
    const r = await call(
      t.url,
      'POST',
      `/v1/sessions/${started.json.sessionId as string}/messages`,
      { token: alice, body: { messages: [b64(env)] } }
    );
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.error?.code, 'PROTOCOL_ABORT');
    assert.equal(r.json.error?.details?.culprit, 1);
    const audit = await t.srv.store.listAudit({ keyId: key.keyId, limit: 5 });
    assert.ok(
      audit.some((e) => e.outcome === 'abort' && (e.details as { culprit?: number }).culprit === 1)
    );
  });

  test('a second signing session of one key is refused with KEY_BUSY while the first is active', async () => {
    const key = await newKey();
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, { token: alice, body: signBody() })
      )
    );
    assert.equal(
      results.filter((r) => r.status === 201).length,
      1,
      results.map((r) => r.status).join(',')
    );
    for (const r of results.filter((r) => r.status !== 201))
      assert.equal(r.json.error?.code, 'KEY_BUSY');
  });
});

describe('limits and policy', () => {
  let t: TestServer;
  before(async () => {
    t = await testServer({
      dev: true,
      limits: { keygensPerHourPerSubject: 2 },
      policy: {
        blindSigning: false,
        maxValueWei: '1000',
        allowedChainIds: [1],
        dailyLimit: 3,
        allowedDestinations: ['0x000000000000000000000000000000000000dEaD'],
      },
    });
  });
  after(() => t.close());

  test('the per-subject key generation limit answers 429 with Retry-After', async () => {
    const token = await t.token('limited');
    const codes: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 3; i++) {
      last = await call(t.url, 'POST', '/v1/keys', {
        token,
        body: { scheme: 'ed25519', ...fresh() },
      });
      codes.push(last.status);
    }
    assert.deepEqual(codes, [201, 201, 429]);
    assert.equal(last?.json.error?.code, 'RATE_LIMITED');
    assert.ok(Number(last?.headers.get('retry-after')) > 0);
  });

  test('blind digests, over-limit values, other chains and the daily count are refused before round 1', async () => {
    const c = await t.client('policy');
    const key = await c.createKey({ scheme: 'ecdsa' });
    const tx = (value: bigint, chainId: number) =>
      serializeTransaction({
        type: 'eip1559',
        chainId,
        nonce: 0,
        to: '0x000000000000000000000000000000000000dEaD',
        value,
        maxFeePerGas: 2n,
        maxPriorityFeePerGas: 1n,
        gas: 21000n,
      }).slice(2);
    const token = await t.token('policy');
    const start = (payload: unknown) =>
      call(t.url, 'POST', `/v1/keys/${key.keyId}/sign`, { token, body: { payload, ...fresh() } });
    for (const [name, payload] of [
      ['raw digest', { kind: 'digest', digest: '11'.repeat(32) }],
      ['unprefixed message', { kind: 'message', message: 'aa', hash: 'keccak256' }],
      ['value over the limit', { kind: 'eip1559', transaction: tx(1001n, 1) }],
      ['other chain', { kind: 'eip1559', transaction: tx(1n, 5) }],
    ] as const) {
      const r = await start(payload);
      assert.equal(r.status, 403, `${name}: ${r.text}`);
      assert.equal(r.json.error?.code, 'POLICY_DENIED', name);
    }
    // Every transaction kind meets the same destination, value and chain checks.
    const other = '0x1111111111111111111111111111111111111111' as const;
    const common = { chainId: 1, nonce: 0, gas: 21000n, gasPrice: 2n } as const;
    for (const [kind, transaction] of [
      [
        'eip1559',
        serializeTransaction({
          ...common,
          type: 'eip1559',
          to: other,
          value: 1n,
          gasPrice: undefined,
          maxFeePerGas: 2n,
          maxPriorityFeePerGas: 1n,
        }),
      ],
      ['eip2930', serializeTransaction({ ...common, type: 'eip2930', to: other, value: 1n })],
      ['legacy', serializeTransaction({ ...common, type: 'legacy', to: other, value: 1n })],
      ['legacy', serializeTransaction({ ...common, type: 'legacy', to: undefined, value: 1n })],
      [
        'eip2930',
        serializeTransaction({
          ...common,
          type: 'eip2930',
          to: '0x000000000000000000000000000000000000dEaD',
          value: 5000n,
        }),
      ],
    ] as const) {
      const r = await start({ kind, transaction: transaction.replace(/^0x/, '') });
      assert.equal(r.json.error?.code, 'POLICY_DENIED', `${kind}: ${r.text}`);
    }
    const malformed = await start({ kind: 'eip1559', transaction: 'deadbeef' });
    assert.equal(malformed.json.error?.code, 'BAD_PAYLOAD');
    assert.equal(await t.srv.store.countSignSessions(key.keyId, 0), 0, 'no session was started');
    for (let i = 0; i < 3; i++)
      await c.sign(key.keyId, { kind: 'eip1559', transaction: tx(BigInt(i), 1) });
    const over = await start({ kind: 'eip1559', transaction: tx(5n, 1) });
    assert.equal(over.json.error?.code, 'POLICY_DENIED', 'daily count');
  });
});

describe('rate-limit bypass', () => {
  test('an IPv6 client is bucketed by its /64; IPv4 and IPv4-mapped addresses by the address', () => {
    const cases: [string, string][] = [
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
      ['2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['::ffff:192.0.2.7', '192.0.2.7'],
      ['192.0.2.7', '192.0.2.7'],
    ];
    for (const [ip, bucket] of cases) assert.equal(rateLimitKey(ip), bucket, ip);
  });

  test('rotating X-Forwarded-For without trustProxy buys no new bucket; path variants are 404', async () => {
    const t = await testServer({ dev: true, limits: { requestsPerMinutePerIp: 5 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await call(t.url, 'GET', '/v1/status', {
          headers: { 'x-forwarded-for': `198.51.100.${i}, 2001:db8::${i}` },
        });
        codes.push(r.status);
      }
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await t.close();
    }
    const u = await testServer({ dev: true });
    try {
      const token = await u.token('variants');
      for (const path of ['/V1/keys', '/v1/Keys', '/v1/keys/', '//v1/keys', '/v1//keys']) {
        const r = await call(u.url, 'POST', path, {
          token,
          body: { scheme: 'ed25519', ...fresh() },
        });
        assert.equal(r.status, 404, path);
      }
    } finally {
      await u.close();
    }
  });
});
