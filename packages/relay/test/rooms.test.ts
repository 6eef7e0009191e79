/**
 * Room creation from a signed manifest: each refusal (creator not a member, signature by another
 * key, unknown field, too many members, expiry over an hour, duplicate member), idempotent
 * re-creation, a conflicting manifest, the manifest for members only, party indexes, and the
 * per-identity quotas.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  call,
  createRoom,
  Identity,
  manifestOf,
  post,
  relay,
  signedManifest,
  type TestRelay,
} from './helpers.ts';

let r: TestRelay;
const a = new Identity();
const b = new Identity();
const c = new Identity();
before(async () => {
  r = await relay();
  await Promise.all([a.login(r), b.login(r), c.login(r)]);
});
after(() => r.close());

const create = (who: Identity, manifest: object, signer = who) =>
  post(r.url, '/rooms', signedManifest(signer, manifest), who.token);

test('a signed manifest makes a room; the same manifest again is idempotent, another is refused', async () => {
  const m = manifestOf([a, b]);
  const first = await create(a, m);
  assert.equal(first.status, 200);
  assert.equal(first.body.roomId, m.roomId);
  assert.match(first.body.manifestHash, /^[0-9a-f]{64}$/);
  assert.equal(first.body.expiresAt, m.expiresAt);
  const again = await create(a, m);
  assert.deepEqual(again.body, first.body);
  const other = await create(a, { ...m, protocol: 'other' });
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, 'CONFLICT');

  const info = await call(r.url, 'GET', `/rooms/${m.roomId}`, undefined, b.token);
  assert.equal(info.status, 200);
  assert.equal(info.body.manifestHash, first.body.manifestHash);
  assert.equal(
    Buffer.from(info.body.manifest, 'base64').toString(),
    JSON.stringify(m),
    'the manifest bytes as signed'
  );
  const outsider = await call(r.url, 'GET', `/rooms/${m.roomId}`, undefined, c.token);
  assert.equal(outsider.status, 403);
  assert.equal(outsider.body.error.code, 'NOT_A_MEMBER');
  const unknown = await call(r.url, 'GET', `/rooms/${'00'.repeat(16)}`, undefined, a.token);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'ROOM_NOT_FOUND');
});

test('refusals: creator not a member, bad signature, unknown field, >16 members, expiry > 1 h, duplicate member, bad hex', async () => {
  const cases: [string, object, Identity?][] = [
    ['creator not a member', manifestOf([b, c])],
    ['signature by another key', manifestOf([a, b]), b],
    ['unknown field', manifestOf([a, b], { extra: { note: 'x' } })],
    ['expiry over an hour', manifestOf([a, b], { expiresAt: Date.now() + 61 * 60_000 })],
    ['expired', manifestOf([a, b], { expiresAt: Date.now() - 1 })],
    ['maxBytes over 8 MiB', manifestOf([a, b], { maxBytes: 8 * 1024 * 1024 + 1 })],
    ['duplicate member', manifestOf([a, b, a])],
    ['bad hex', { ...manifestOf([a, b]), roomId: 'XY'.repeat(16) }],
  ];
  for (const [what, m, signer] of cases) {
    const res = await create(a, m, signer);
    assert.equal(res.status, 400, what);
    assert.equal(res.body.error.code, 'BAD_MANIFEST', what);
  }
  const many = Array.from({ length: 17 }, (_, i) => (i === 0 ? a : new Identity()));
  const tooMany = await create(a, manifestOf(many));
  assert.equal(tooMany.status, 400);
  assert.equal(tooMany.body.error.code, 'TOO_MANY_MEMBERS');
  const notJson = await post(
    r.url,
    '/rooms',
    { manifest: Buffer.from('nope').toString('base64'), signature: '00'.repeat(64) },
    a.token
  );
  assert.equal(notJson.body.error.code, 'BAD_MANIFEST');
  const schema = await post(r.url, '/rooms', { manifest: 'x', extra: 1 }, a.token);
  assert.equal(schema.body.error.code, 'SCHEMA');
});

test('party indexes are 1..n in order of first request, the same on every call', async () => {
  const room = await createRoom(r, [a, b, c]);
  const idx = async (who: Identity) =>
    (await post(r.url, `/rooms/${room}/issue_unique_idx`, {}, who.token)).body.index;
  assert.equal(await idx(c), 1);
  assert.equal(await idx(a), 2);
  assert.equal(await idx(c), 1);
  assert.equal(await idx(b), 3);
  assert.equal(await idx(a), 2);
});

test('quotas: 8 open rooms per identity (TOO_MANY_ROOMS), 10 creations a minute (RATE_LIMITED)', async () => {
  const q = await relay({ limits: { roomCreationsPerMinute: 100 } });
  const x = new Identity();
  const y = new Identity();
  await Promise.all([x.login(q), y.login(q)]);
  try {
    for (let i = 0; i < 8; i++) await createRoom(q, [x, y]);
    const ninth = await post(q.url, '/rooms', signedManifest(x, manifestOf([x, y])), x.token);
    assert.equal(ninth.status, 429);
    assert.equal(ninth.body.error.code, 'TOO_MANY_ROOMS');
  } finally {
    await q.close();
  }
  const q2 = await relay();
  await x.login(q2);
  try {
    for (let i = 0; i < 10; i++) {
      const res = await post(
        q2.url,
        '/rooms',
        signedManifest(x, manifestOf([x, y], { expiresAt: 1 })),
        x.token
      );
      assert.equal(res.body.error.code, 'BAD_MANIFEST');
    }
    // Refused manifests do not count; valid creations do.
    const ok = await relay({ limits: { roomsPerIdentity: 100 } });
    await x.login(ok);
    try {
      for (let i = 0; i < 10; i++) await createRoom(ok, [x, y]);
      const eleventh = await post(ok.url, '/rooms', signedManifest(x, manifestOf([x, y])), x.token);
      assert.equal(eleventh.status, 429);
      assert.equal(eleventh.body.error.code, 'RATE_LIMITED');
      assert.ok(Number(eleventh.headers.get('retry-after')) >= 1);
    } finally {
      await ok.close();
    }
  } finally {
    await q2.close();
  }
});

test('an idle room closes after its idle timeout; an expired room is gone', async () => {
  const room = await createRoom(r, [a, b]);
  r.clock.offset = 30 * 60_000 + 1000;
  try {
    const res = await call(r.url, 'GET', `/rooms/${room}`, undefined, a.token);
    assert.equal(res.body.error.code, 'UNAUTHORIZED', 'the token expired first (15 min)');
    await Promise.all([a.login(r)]);
    const gone = await call(r.url, 'GET', `/rooms/${room}`, undefined, a.token);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'ROOM_NOT_FOUND');
  } finally {
    r.clock.offset = 0;
    await a.login(r);
  }
});

test('GET /rooms?from=…: the open rooms those creators made with the caller, newest first; no one else sees them', async () => {
  const [x, y, z] = [new Identity(), new Identity(), new Identity()];
  await Promise.all([x.login(r), y.login(r), z.login(r)]);
  const first = await createRoom(r, [x, y]);
  const second = await createRoom(r, [x, y]);
  const byZ = await createRoom(r, [z, y]);
  const list = (who: Identity, from: Identity[]) =>
    call(
      r.url,
      'GET',
      `/rooms?from=${from.map((i) => i.publicKey).join(',')}`,
      undefined,
      who.token
    );
  const mine = await list(y, [x]);
  assert.equal(mine.status, 200);
  assert.deepEqual(
    mine.body.rooms.map((m: { roomId: string }) => m.roomId),
    [second, first]
  );
  const room = mine.body.rooms[0];
  assert.equal(room.creator, x.publicKey);
  assert.equal(JSON.parse(Buffer.from(room.manifest, 'base64').toString()).roomId, second);
  assert.match(room.signature, /^[0-9a-f]{128}$/);
  // Asked by creator: z's room is listed only when z is asked about.
  assert.deepEqual(
    (await list(y, [z, x])).body.rooms.map((m: { roomId: string }) => m.roomId).sort(),
    [first, second, byZ].sort()
  );
  // The creator is not invited to its own rooms; an outsider sees nothing.
  assert.deepEqual((await list(x, [x])).body.rooms, []);
  assert.deepEqual((await list(c, [x, z])).body.rooms, []);
  const bad = await call(r.url, 'GET', '/rooms?from=zz', undefined, y.token);
  assert.equal(bad.status, 400);
  const anon = await call(r.url, 'GET', `/rooms?from=${x.publicKey}`);
  assert.equal(anon.status, 401);
  // An expired room is no longer listed.
  r.clock.offset += 11 * 60_000;
  try {
    assert.deepEqual((await list(y, [x])).body.rooms, []);
  } finally {
    r.clock.offset -= 11 * 60_000;
  }
});

test('TESSERA_RELAY_LIMITS changes the bounds; an unknown name or a bad value is refused', async () => {
  const { loadRelayConfig } = await import('@tessera/relay');
  const c = loadRelayConfig({ dev: true }, { TESSERA_RELAY_LIMITS: '{"roomsPerIdentity":32}' });
  assert.equal(c.limits.roomsPerIdentity, 32);
  assert.equal(c.limits.members, 16);
  for (const bad of ['{"rooms":1}', '{"members":0}', '{"members":1.5}', '[1]', 'x'])
    assert.throws(() => loadRelayConfig({ dev: true }, { TESSERA_RELAY_LIMITS: bad }), {
      name: 'ConfigError',
    });
});
