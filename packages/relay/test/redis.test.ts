/**
 * Two relay processes on one Redis: a subscriber on instance B gets what instance A accepted;
 * after A is killed (SIGKILL) the exchange goes on through B with nothing lost. Runs under
 * CI=true (and fails there without Redis); elsewhere it is skipped unless Redis answers.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  b64,
  call,
  createRoom,
  Identity,
  killGroup,
  post,
  startCli,
  subscribe,
} from './helpers.ts';

const REDIS = process.env.TESSERA_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const CI = process.env.CI === 'true';

async function redisUp(): Promise<boolean> {
  const r = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const up = CI || (await redisUp());
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) killGroup(c, 'SIGKILL');
});

test('two instances on one Redis: B delivers what A accepted; after SIGKILL of A nothing is lost', {
  skip: up ? false : 'no Redis at 127.0.0.1:6379 (set CI=true to require it)',
}, async () => {
  const env = {
    TESSERA_RELAY_REDIS: REDIS,
    TESSERA_RELAY_REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
    // Both instances bind logins to one public origin, as behind a load balancer.
    TESSERA_RELAY_PUBLIC_URL: 'https://relay.example',
  };
  const [A, B] = await Promise.all([startCli([], env, children), startCli([], env, children)]);
  const origin = 'https://relay.example';
  const a = new Identity();
  const b = new Identity();
  await a.login({ url: A.url, origin });
  // A token from one instance works on the other.
  b.token = await b.login({ url: B.url, origin });
  const room = await createRoom({ url: A.url }, [a, b]);
  const sb = await subscribe(B.url, room, b.token);
  const sendVia = (url: string, clientSeq: number, text: string) =>
    post(
      url,
      `/rooms/${room}/messages`,
      { to: b.publicKey, clientSeq, envelope: b64(text) },
      a.token
    );
  assert.equal((await sendVia(A.url, 1, 'via A 1')).body.seq, 1);
  assert.equal((await sendVia(A.url, 2, 'via A 2')).body.seq, 2);
  await sb.waitFor(2);
  killGroup(A.child, 'SIGKILL');
  await once(A.child, 'exit');
  // A's sender retries its last message on B: same seq, no duplicate.
  assert.equal((await sendVia(B.url, 2, 'via A 2')).body.seq, 2);
  assert.equal((await sendVia(B.url, 3, 'via B 3')).body.seq, 3);
  await sb.waitFor(3);
  sb.close();
  // A dropped subscriber resumes on B after what it saw: everything, once.
  const resumed = await subscribe(B.url, room, b.token, 1);
  await resumed.waitFor(2);
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(
    resumed.events.map((e) => [e.data.seq, Buffer.from(e.data.envelope, 'base64').toString()]),
    [
      [2, 'via A 2'],
      [3, 'via B 3'],
    ]
  );
  resumed.close();
  B.child.kill('SIGTERM');
  await once(B.child, 'exit');
});

test('invitations are shared: a room created on A is listed on B for its member', {
  skip: up ? false : 'no Redis at 127.0.0.1:6379 (set CI=true to require it)',
}, async () => {
  const env = {
    TESSERA_RELAY_REDIS: REDIS,
    TESSERA_RELAY_REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
    TESSERA_RELAY_PUBLIC_URL: 'https://relay.example',
  };
  const [A, B] = await Promise.all([startCli([], env, children), startCli([], env, children)]);
  const origin = 'https://relay.example';
  const a = new Identity();
  const b = new Identity();
  await a.login({ url: A.url, origin });
  await b.login({ url: B.url, origin });
  const r1 = await createRoom({ url: A.url }, [a, b]);
  const r2 = await createRoom({ url: A.url }, [a, b]);
  const list = await call(B.url, 'GET', `/rooms?from=${a.publicKey}`, undefined, b.token);
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.rooms.map((x: { roomId: string }) => x.roomId),
    [r2, r1]
  );
  const none = await call(B.url, 'GET', `/rooms?from=${b.publicKey}`, undefined, a.token);
  assert.deepEqual(none.body.rooms, []);
  for (const c of [A.child, B.child]) killGroup(c, 'SIGKILL');
});
