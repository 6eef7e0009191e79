/**
 * Verification keys from a JWKS URL (`auth.jwksUrl`): a key set served over loopback HTTP, key
 * rotation picked up on an unknown `kid`, a set that cannot be fetched answered with 503 (the
 * token is not judged), and the configuration checks on the URL. Then the same from a JWKS file
 * (`auth.jwksFile`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { Authenticator, ConfigError, loadConfig } from '@tessera/server';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

const noTickets = { putTicket: async () => {}, takeTicket: async () => null };
const ISS = 'https://issuer.example';
const AUD = 'tessera-test';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

const token = (k: SigningKey, sub: string, claims: { aud?: string } = {}) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: k.kid })
    .setIssuer(ISS)
    .setAudience(claims.aud ?? AUD)
    .setSubject(sub)
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime('10m')
    .sign(k.privateKey);

/** What the JWKS endpoint answers: a status and a body. */
let answer: { status: number; body: unknown } = { status: 200, body: { keys: [] } };
let fetches = 0;
let server: Server;
let url: string;
let a: SigningKey;
let b: SigningKey;

before(async () => {
  [a, b] = await Promise.all([signingKey('key-a'), signingKey('key-b')]);
  server = createServer((_req, res) => {
    fetches++;
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
after(() => {
  mock.timers.reset();
  server.close();
});

/** An authenticator whose keys come from `jwksUrl` (by default the test's key-set server). */
const authenticator = (jwksUrl = url) =>
  Authenticator.create(
    loadConfig({ data: '/nonexistent', auth: { jwksUrl, issuer: ISS, audience: AUD } }, {}),
    noTickets
  );

describe('auth.jwksUrl', () => {
  it('verifies tokens against the served keys, and picks up a rotation on an unknown kid', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    answer = { status: 200, body: { keys: [a.jwk] } };
    fetches = 0;
    const auth = await authenticator();
    assert.equal(await auth.verify(`Bearer ${await token(a, 'alice')}`), 'alice');
    assert.equal(fetches, 1);
    // Signed by a key the set does not hold, with the wrong audience: refused.
    await assert.rejects(auth.verify(`Bearer ${await token(b, 'mallory')}`), {
      code: 'UNAUTHORIZED',
    });
    await assert.rejects(auth.verify(`Bearer ${await token(a, 'alice', { aud: 'other' })}`), {
      code: 'UNAUTHORIZED',
    });
    assert.equal(fetches, 1, 'an unknown kid within 30 s of a fetch does not fetch again');

    // Rotation: the issuer now publishes only key B.
    answer = { status: 200, body: { keys: [b.jwk] } };
    mock.timers.tick(31_000);
    assert.equal(await auth.verify(`Bearer ${await token(b, 'bob')}`), 'bob');
    assert.equal(fetches, 2);
    await assert.rejects(auth.verify(`Bearer ${await token(a, 'alice')}`), {
      code: 'UNAUTHORIZED',
    });
    mock.timers.reset();
  });

  it('a key set that cannot be fetched is a 503 with Retry-After, never a 401 or a pass', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    answer = { status: 200, body: { keys: [a.jwk] } };
    const auth = await authenticator();
    assert.equal(await auth.verify(`Bearer ${await token(a, 'alice')}`), 'alice');
    for (const broken of [
      { status: 500, body: { error: 'down' } },
      { status: 200, body: { nokeys: true } },
      { status: 200, body: { keys: [null] } },
    ]) {
      answer = broken;
      mock.timers.tick(601_000); // past the 10-minute life of the fetched set
      await assert.rejects(auth.verify(`Bearer ${await token(a, 'alice')}`), (e: unknown) => {
        const err = e as { code: string; status: number; retryAfter: number };
        assert.equal(err.code, 'UNAVAILABLE', JSON.stringify(broken));
        assert.equal(err.status, 503);
        assert.equal(err.retryAfter, 5);
        return true;
      });
    }
    // Right after a failure no new fetch is tried for 5 s: still 503, and the URL is not asked.
    answer = { status: 200, body: { keys: [a.jwk] } };
    const asked = fetches;
    await assert.rejects(auth.verify(`Bearer ${await token(a, 'dave')}`), {
      code: 'UNAVAILABLE',
    });
    assert.equal(fetches, asked, 'no fetch within 5 s of a failed one');
    // The endpoint is back: after the pause the same kind of token passes again.
    mock.timers.tick(5_001);
    assert.equal(await auth.verify(`Bearer ${await token(a, 'carol')}`), 'carol');
    mock.timers.reset();
  });

  it('does not follow a redirect to another key set', async () => {
    const attacker = await signingKey('attacker');
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [attacker.jwk] }));
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/jwks`;
      const redirecting = createServer((_req, res) => {
        res.writeHead(302, { location: evilUrl });
        res.end();
      });
      await new Promise<void>((r) => redirecting.listen(0, '127.0.0.1', r));
      try {
        const port = (redirecting.address() as AddressInfo).port;
        const auth = await authenticator(`http://127.0.0.1:${port}/jwks`);
        await assert.rejects(auth.verify(`Bearer ${await token(attacker, 'mallory')}`), {
          code: 'UNAVAILABLE',
        });
      } finally {
        redirecting.close();
      }
    } finally {
      evil.close();
    }
  });

  it('uses only the public members of a served key that carries private ones', async () => {
    const jwkWithPrivate: JWK = { ...(await exportJWK(a.privateKey)), kid: a.kid, alg: 'ES256' };
    assert.ok(jwkWithPrivate.d, 'the served key carries its private scalar');
    answer = { status: 200, body: { keys: [jwkWithPrivate] } };
    const auth = await authenticator();
    assert.equal(await auth.verify(`Bearer ${await token(a, 'erin')}`), 'erin');
  });

  it('an unreachable URL is a 503', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const auth = await authenticator(`http://127.0.0.1:${port}/jwks`);
    await assert.rejects(auth.verify(`Bearer ${await token(a, 'alice')}`), {
      code: 'UNAVAILABLE',
    });
  });

  it('an HS256 token made with a symmetric key of the served set is refused', async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const oct: JWK = { kty: 'oct', kid: 'hmac', k: Buffer.from(secret).toString('base64url') };
    answer = { status: 200, body: { keys: [a.jwk, oct] } };
    const auth = await authenticator();
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'hmac' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('mallory')
      .setExpirationTime('10m')
      .sign(secret);
    await assert.rejects(auth.verify(`Bearer ${hs}`), { code: 'UNAUTHORIZED' });
    assert.equal(await auth.verify(`Bearer ${await token(a, 'alice')}`), 'alice');
  });

  it('the URL must be https (http only to loopback), without credentials, and alone', () => {
    const load = (auth: Record<string, string>) => () =>
      loadConfig({ data: '/nonexistent', auth }, {});
    for (const bad of [
      'http://issuer.example/jwks',
      'ftp://127.0.0.1/jwks',
      'not a url',
      'https://user:pw@issuer.example/jwks',
    ])
      assert.throws(load({ jwksUrl: bad }), ConfigError, bad);
    assert.throws(load({ jwksUrl: 'https://issuer.example/jwks', jwksFile: 'jwks.json' }), {
      message: /one of jwksUrl and jwksFile/,
    });
    for (const good of [
      'https://issuer.example/.well-known/jwks.json',
      'http://localhost:8080/jwks',
      'http://[::1]:8080/jwks',
    ])
      assert.doesNotThrow(load({ jwksUrl: good }), good);
  });
});

describe('auth.jwksFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-jwks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fromFile = (set: unknown) => {
    const file = join(dir, `${crypto.randomUUID()}.json`);
    writeFileSync(file, JSON.stringify(set));
    return Authenticator.create(
      loadConfig({ data: dir, auth: { jwksFile: file, issuer: ISS, audience: AUD } }, {}),
      noTickets
    );
  };

  it('verifies tokens of the keys in the file and refuses the others', async () => {
    const auth = await fromFile({ keys: [a.jwk] });
    assert.equal(await auth.verify(`Bearer ${await token(a, 'alice')}`), 'alice');
    await assert.rejects(auth.verify(`Bearer ${await token(b, 'bob')}`), { code: 'UNAUTHORIZED' });
  });

  it('refuses a file with a symmetric key, or one that is not a key set', async () => {
    const oct = { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' };
    await assert.rejects(fromFile({ keys: [a.jwk, oct] }), /symmetric keys are not accepted/);
    await assert.rejects(fromFile({ nokeys: [] }), /not a JSON Web Key Set/);
  });
});
