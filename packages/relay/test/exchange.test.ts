/**
 * Moving envelopes: a two-member exchange over SSE with a dropped connection resumed by
 * Last-Event-ID (nothing lost, nothing acknowledged replayed), idempotent resends by clientSeq,
 * non-members refused, each message quota's code, a WebSocket exchange (bearer subprotocol and
 * ticket), and logs that never carry an envelope.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { b64, createRoom, Identity, post, relay, subscribe, type TestRelay } from './helpers.ts';

let r: TestRelay;
const a = new Identity();
const b = new Identity();
const c = new Identity();
before(async () => {
  r = await relay();
  await Promise.all([a.login(r), b.login(r), c.login(r)]);
});
after(() => r.close());

const send = (
  room: string,
  from: Identity,
  to: Identity | null,
  clientSeq: number,
  text: string
) =>
  to === null
    ? post(r.url, `/rooms/${room}/broadcast`, { clientSeq, envelope: b64(text) }, from.token)
    : post(
        r.url,
        `/rooms/${room}/messages`,
        { to: to.publicKey, clientSeq, envelope: b64(text) },
        from.token
      );

test('two members over SSE: a dropped connection resumes with Last-Event-ID, nothing lost or duplicated', async () => {
  const room = await createRoom(r, [a, b]);
  const sb = await subscribe(r.url, room, b.token);
  assert.equal((await send(room, a, b, 1, 'one')).body.seq, 1);
  assert.equal((await send(room, a, null, 2, 'two')).body.seq, 2);
  const got = await sb.waitFor(2);
  assert.deepEqual(
    got.map((e) => [
      e.id,
      e.data.from,
      e.data.to,
      Buffer.from(e.data.envelope, 'base64').toString(),
    ]),
    [
      ['1', a.publicKey, b.publicKey, 'one'],
      ['2', a.publicKey, null, 'two'],
    ]
  );
  assert.equal(got[0]?.data.clientSeq, 1);
  sb.close();
  // Sent while B is away.
  await send(room, a, b, 3, 'three');
  await send(room, b, a, 1, 'to a');
  await send(room, a, b, 4, 'four');
  const resumed = await subscribe(r.url, room, b.token, 2);
  const events = await resumed.waitFor(2);
  await new Promise((res) => setTimeout(res, 100));
  assert.deepEqual(
    resumed.events.map((e) => e.data.seq),
    [3, 5],
    'after 2, only what is addressed to B, once'
  );
  assert.equal(Buffer.from(events[1]!.data.envelope, 'base64').toString(), 'four');
  resumed.close();
  // Last-Event-ID 2 acknowledged 1 and 2; a fresh subscription without it starts after the ack.
  const fresh = await subscribe(r.url, room, b.token);
  await fresh.waitFor(2);
  assert.deepEqual(
    fresh.events.map((e) => e.data.seq),
    [3, 5]
  );
  assert.equal((await post(r.url, `/rooms/${room}/ack`, { upTo: 5 }, b.token)).status, 200);
  await send(room, a, b, 5, 'six');
  await fresh.waitFor(3);
  fresh.close();
  const afterAck = await subscribe(r.url, room, b.token);
  await afterAck.waitFor(1);
  assert.deepEqual(
    afterAck.events.map((e) => e.data.seq),
    [6]
  );
  afterAck.close();
  // A's own broadcast is not sent back to A; B's message to A is.
  const sa = await subscribe(r.url, room, a.token);
  await sa.waitFor(1);
  assert.deepEqual(
    sa.events.map((e) => [e.data.seq, e.data.from]),
    [[4, b.publicKey]]
  );
  sa.close();
});

test('a resend with the same clientSeq and body gets the same seq; another body is 409', async () => {
  const room = await createRoom(r, [a, b]);
  const first = await send(room, a, b, 7, 'hello');
  const again = await send(room, a, b, 7, 'hello');
  assert.equal(again.status, 200);
  assert.equal(again.body.seq, first.body.seq);
  const other = await send(room, a, b, 7, 'different');
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, 'CONFLICT');
  const sb = await subscribe(r.url, room, b.token);
  await sb.waitFor(1);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(sb.events.length, 1, 'stored once');
  sb.close();
});

test('a non-member is refused on every room call; a member cannot send to a non-member', async () => {
  const room = await createRoom(r, [a, b]);
  const calls = [
    post(r.url, `/rooms/${room}/issue_unique_idx`, {}, c.token),
    send(room, c, a, 1, 'x'),
    send(room, c, null, 1, 'x'),
    post(r.url, `/rooms/${room}/ack`, { upTo: 1 }, c.token),
    post(r.url, `/rooms/${room}/ticket`, {}, c.token),
    fetch(`${r.url}/rooms/${room}/subscribe`, {
      headers: { authorization: `Bearer ${c.token}` },
    }).then(async (res) => ({ status: res.status, body: await res.json() })),
  ];
  for (const res of await Promise.all(calls)) {
    assert.equal(res.status, 403);
    assert.equal((res.body as { error: { code: string } }).error.code, 'NOT_A_MEMBER');
  }
  const toOutsider = await send(room, a, c, 1, 'x');
  assert.equal(toOutsider.body.error.code, 'SCHEMA');
});

test('quotas: MESSAGE_TOO_LARGE, ROOM_FULL, QUEUE_FULL', async () => {
  const q = await relay({ limits: { queuePerRecipient: 3, messageBytes: 1024 } });
  try {
    await Promise.all([a.login(q), b.login(q)]);
    const room = await createRoom(q, [a, b], { maxBytes: 2500 });
    const at = (clientSeq: number, bytes: number) =>
      post(
        q.url,
        `/rooms/${room}/messages`,
        { to: b.publicKey, clientSeq, envelope: Buffer.alloc(bytes, 1).toString('base64') },
        a.token
      );
    const big = await at(1, 1025);
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'MESSAGE_TOO_LARGE');
    const huge = await at(2, 100_000);
    assert.equal(huge.status, 413, 'over the route body limit');
    assert.equal(huge.body.error.code, 'MESSAGE_TOO_LARGE');
    assert.equal((await at(3, 1000)).status, 200);
    assert.equal((await at(4, 1000)).status, 200);
    const full = await at(5, 1000);
    assert.equal(full.status, 413);
    assert.equal(full.body.error.code, 'ROOM_FULL');
    assert.equal((await at(6, 10)).status, 200);
    const queue = await at(7, 10);
    assert.equal(queue.status, 429);
    assert.equal(queue.body.error.code, 'QUEUE_FULL');
    // Acknowledging frees both the queue and the bytes.
    await post(q.url, `/rooms/${room}/ack`, { upTo: 3 }, b.token);
    assert.equal((await at(8, 1000)).status, 200);
  } finally {
    await q.close();
    await Promise.all([a.login(r), b.login(r)]);
  }
});

function openWs(url: string, protocols: string[]): Promise<{ ws: WebSocket; frames: unknown[] }> {
  const ws = new WebSocket(url, protocols);
  const frames: unknown[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((res) => setTimeout(res, 20));
  }
};

test('a WebSocket exchange: bearer subprotocol and one-time ticket; a token in the URL is refused', async () => {
  const room = await createRoom(r, [a, b]);
  const wsUrl = `${r.url.replace('http', 'ws')}/rooms/${room}/ws`;
  const wa = await openWs(wsUrl, ['tessera-relay.v1', `tessera-relay.bearer.${a.token}`]);
  assert.equal(wa.ws.protocol, 'tessera-relay.v1', 'the token is never echoed');
  const ticket = (await post(r.url, `/rooms/${room}/ticket`, {}, b.token)).body.ticket;
  const wb = await openWs(`${wsUrl}?ticket=${ticket}`, ['tessera-relay.v1']);
  await assert.rejects(openWs(`${wsUrl}?ticket=${ticket}`, ['tessera-relay.v1']), /401/);
  await assert.rejects(openWs(`${wsUrl}?token=${a.token}`, ['tessera-relay.v1']), /400/);

  wa.ws.send(
    JSON.stringify({ type: 'message', to: b.publicKey, clientSeq: 1, envelope: b64('ws hi') })
  );
  await until(() => wb.frames.length === 1 && wa.frames.length === 1);
  assert.deepEqual(wa.frames[0], { type: 'accepted', clientSeq: 1, seq: 1 });
  assert.deepEqual(wb.frames[0], {
    seq: 1,
    from: a.publicKey,
    to: b.publicKey,
    envelope: b64('ws hi'),
    clientSeq: 1,
  });
  wb.ws.send(JSON.stringify({ type: 'broadcast', clientSeq: 1, envelope: b64('to all') }));
  wb.ws.send(JSON.stringify({ type: 'ack', upTo: 1 }));
  wb.ws.send(JSON.stringify({ type: 'message', to: 'zz', clientSeq: 2, envelope: '' }));
  await until(() => wa.frames.length === 2 && wb.frames.length === 4);
  assert.deepEqual((wa.frames[1] as { from: string }).from, b.publicKey);
  assert.deepEqual(wb.frames[2], { type: 'acked', upTo: 1 });
  assert.equal((wb.frames[3] as { error: { code: string } }).error.code, 'SCHEMA');
  wa.ws.close();
  wb.ws.close();
});

test('the logs carry no envelope, token or manifest bytes', async () => {
  const room = await createRoom(r, [a, b]);
  const canary = 'CANARY-7f3a9c-envelope-bytes';
  const sb = await subscribe(r.url, room, b.token);
  await send(room, a, b, 1, canary);
  await send(room, a, b, 1, `${canary}-conflict`);
  await send(room, a, null, 2, canary);
  await sb.waitFor(2);
  sb.close();
  const all = r.logs.join('');
  assert.ok(r.logs.length > 10, 'requests were logged');
  for (const secret of [canary, b64(canary), a.token, b.token])
    assert.ok(!all.includes(secret), 'a secret reached the logs');
});
