/**
 * The session engine alone, with a fake two-round protocol: no listening server, no threshold
 * cryptography (an in-memory SQLite store, the real sealer). It pins the lifecycle every
 * protocol inherits: the compare-and-swap commit, byte-identical replay, aborts and expiry
 * destroying state.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import type { ProtocolNameValue } from '@tessera/api';
import { type Envelope, encodeEnvelope, type Session } from '@tessera/core';
import { Type } from 'typebox';
import { type Compute, runStep, type StepJob } from '../src/compute.ts';
import { loadConfig } from '../src/config.ts';
import { Sealer } from '../src/custody.ts';
import { createLogger } from '../src/log.ts';
import { Metrics } from '../src/metrics.ts';
import { SessionEngine } from '../src/sessions/engine.ts';
import {
  CLIENT_PARTY,
  SERVER_PARTY,
  type ServerProtocol,
  sessionCodec,
  startRoute,
} from '../src/sessions/protocol.ts';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite.ts';

const PROTO = 'fake' as ProtocolNameValue;
const IDLE_MS = 300_000;

/**
 * The fake protocol's core: round 1 answers with one envelope, round 2 ends with a result. Its
 * session is JSON; `received` counts the envelopes it was fed (a replay must feed none).
 */
let received = 0;
type FakeSession = Session<{ seen: number }>;
const fakeCore = {
  rounds: 2,
  receive(s: FakeSession, env: Envelope) {
    received++;
    const next: FakeSession = { ...s, round: s.round + 1, state: { seen: s.state!.seen + 1 } };
    if (env.round === 2) return { session: next, out: [], result: new Uint8Array([1, 2, 3]) };
    const out: Envelope[] = [
      { v: 1, proto: PROTO, sid: s.sid, round: 1, from: SERVER_PARTY, to: 0, body: env.body },
    ];
    return { session: next, out };
  },
  encodeSession: (s: FakeSession) => new TextEncoder().encode(JSON.stringify(s)),
  decodeSession: (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as FakeSession,
};
const codec = sessionCodec(
  {
    name: PROTO,
    kind: 'keygen',
    loadsShare: false,
    guardedRounds: [],
    lane: 'sign',
  },
  fakeCore
);
const fake: ServerProtocol<{ sid: string }> = {
  name: 'fake',
  sessions: [codec],
  // Never registered: this test drives the engine without HTTP.
  route: startRoute({
    path: '/fake',
    body: Type.Object({ sid: Type.String() }),
    quota: (limits) => ({ scope: 'keygen', max: limits.keygensPerHourPerSubject }),
    input: (_params, body) => ({ sid: body.sid }),
  }),
  async start(_ctx, _subject, { sid }) {
    const session: FakeSession = {
      v: 1,
      proto: PROTO,
      sid,
      me: SERVER_PARTY,
      peers: [CLIENT_PARTY],
      round: 1,
      status: 'active',
      inbox: [],
      state: { seen: 0 },
    };
    return {
      codec,
      scheme: 'ed25519',
      keyId: null,
      epoch: null,
      state: codec.encode(session),
      round: 1,
      out: [],
      nonces: [],
      params: { scheme: 'ed25519', threshold: 2, parties: [1, 2] },
      exclusive: false,
      audit: { action: 'fake.start' },
    };
  },
  finish: (_ctx, _rec, _key, result) => ({
    result: { keyId: Buffer.from(result as Uint8Array).toString('hex'), epoch: '00' },
    effects: [],
    audit: [],
  }),
};

/**
 * Steps run here; `hold` parks the next step after its computation, before its commit, until
 * the returned function is called (another instance can commit meanwhile).
 */
class FakeCompute implements Compute {
  #gate: Promise<void> | null = null;
  hold(): () => void {
    let open = () => {};
    this.#gate = new Promise((r) => {
      open = r;
    });
    return open;
  }
  async step(job: StepJob) {
    const outcome = runStep(job, undefined, codec);
    const gate = this.#gate;
    this.#gate = null;
    if (gate) await gate;
    return outcome;
  }
  signStart(): never {
    throw new Error('not used');
  }
  payload(): never {
    throw new Error('not used');
  }
}

let store: SqliteStore;
let clock: number;
let compute: FakeCompute;
const sealer = new Sealer(new Uint8Array(randomBytes(32)));
const config = loadConfig({ data: '/nonexistent', dev: true }, {});

function engine(): SessionEngine {
  return new SessionEngine({
    store,
    sealer,
    config: { ...config, sessions: { idleMs: IDLE_MS, lifetimeMs: 2 * IDLE_MS } },
    metrics: new Metrics(),
    log: createLogger('silent'),
    compute,
    protocols: [fake],
    now: () => clock,
  });
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
/** The client's envelope of `round`, base64 as a step carries it. */
const message = (sid: string, round: number, body = [round]) =>
  b64(
    encodeEnvelope({
      v: 1,
      proto: PROTO,
      sid,
      round,
      from: CLIENT_PARTY,
      to: SERVER_PARTY,
      body: new Uint8Array(body),
    })
  );

async function open(e: SessionEngine): Promise<{ id: string; sid: string }> {
  const sid = Buffer.from(randomBytes(32)).toString('hex');
  const started = await e.start(fake, 'alice', { sid });
  assert.equal(started.params.sid, sid);
  return { id: started.sessionId, sid };
}

describe('session engine (fake protocol)', () => {
  beforeEach(async () => {
    store = openSqliteStore('sqlite::memory:');
    await store.init();
    clock = 1_000_000;
    compute = new FakeCompute();
    received = 0;
  });

  it("a protocol missing from the engine's list cannot start a session", async () => {
    const e = new SessionEngine({
      store,
      sealer,
      config,
      metrics: new Metrics(),
      log: createLogger('silent'),
      compute,
      now: () => clock,
    });
    await assert.rejects(e.start(fake, 'alice', { sid: '00'.repeat(32) }), { code: 'INTERNAL' });
  });

  it('runs a session to its end and stores its reply', async () => {
    const e = engine();
    const s = await open(e);
    const r1 = JSON.parse(await e.step('alice', s.id, [message(s.sid, 1)]));
    assert.equal(r1.status, 'active');
    assert.equal(r1.messages.length, 1);
    const r2 = JSON.parse(await e.step('alice', s.id, [message(s.sid, 2)]));
    assert.deepEqual([r2.status, r2.result], ['done', { keyId: '010203', epoch: '00' }]);
    const rec = await store.getSession(s.id);
    assert.equal(rec?.status, 'done');
    assert.equal(rec?.state, null);
  });

  it('a byte-identical resend gets the byte-identical reply without running the protocol', async () => {
    const e = engine();
    const s = await open(e);
    const first = await e.step('alice', s.id, [message(s.sid, 1)]);
    const fed = received;
    clock += 1000;
    assert.equal(await e.step('alice', s.id, [message(s.sid, 1)]), first);
    // From another instance too: the reply is the stored one.
    assert.equal(await engine().step('alice', s.id, [message(s.sid, 1)]), first);
    assert.equal(received, fed);
  });

  it('a changed resend of an answered round aborts the session and destroys its state', async () => {
    const e = engine();
    const s = await open(e);
    await e.step('alice', s.id, [message(s.sid, 1)]);
    await assert.rejects(e.step('alice', s.id, [message(s.sid, 1, [9])]), {
      code: 'PROTOCOL_VIOLATION',
    });
    const rec = await store.getSession(s.id);
    assert.deepEqual([rec?.status, rec?.state, rec?.lastReply], ['aborted', null, null]);
    await assert.rejects(e.step('alice', s.id, [message(s.sid, 2)]), { code: 'SESSION_CLOSED' });
  });

  it('of two instances committing the same step, the second returns the first one’s reply', async () => {
    const [a, b] = [engine(), engine()];
    const s = await open(a);
    const release = compute.hold();
    const slow = a.step('alice', s.id, [message(s.sid, 1)]);
    // Let a's step reach the gate before b runs the same request to its commit.
    await new Promise((r) => setTimeout(r, 20));
    const committed = await b.step('alice', s.id, [message(s.sid, 1)]);
    release();
    assert.equal(await slow, committed);
    assert.equal((await store.getSession(s.id))?.version, 1);
  });

  it('a conflicting commit (another request won the step) releases nothing: SESSION_BUSY', async () => {
    const [a, b] = [engine(), engine()];
    const s = await open(a);
    const release = compute.hold();
    const slow = a.step('alice', s.id, [message(s.sid, 1, [7])]);
    await new Promise((r) => setTimeout(r, 20));
    const won = await b.step('alice', s.id, [message(s.sid, 1, [8])]);
    release();
    await assert.rejects(slow, { code: 'SESSION_BUSY' });
    const rec = await store.getSession(s.id);
    assert.deepEqual([rec?.version, rec?.lastReply], [1, won]);
  });

  it('a client abort destroys the state; the session stays aborted', async () => {
    const e = engine();
    const s = await open(e);
    await e.step('alice', s.id, [message(s.sid, 1)]);
    await assert.rejects(e.abortByClient('mallory', s.id, 'X'), { code: 'NOT_FOUND' });
    await e.abortByClient('alice', s.id, 'USER_CANCELLED');
    const rec = await store.getSession(s.id);
    assert.deepEqual([rec?.status, rec?.state, rec?.lastRequest], ['aborted', null, null]);
    await e.abortByClient('alice', s.id, 'USER_CANCELLED');
    await assert.rejects(e.step('alice', s.id, [message(s.sid, 1)]), { code: 'SESSION_CLOSED' });
  });

  it('an idle session expires: SESSION_EXPIRED, state destroyed, no protocol run', async () => {
    const e = engine();
    const s = await open(e);
    await e.step('alice', s.id, [message(s.sid, 1)]);
    const fed = received;
    clock += IDLE_MS + 1;
    await assert.rejects(e.step('alice', s.id, [message(s.sid, 2)]), { code: 'SESSION_EXPIRED' });
    const rec = await store.getSession(s.id);
    assert.deepEqual([rec?.status, rec?.state], ['expired', null]);
    assert.equal(received, fed);
    await assert.rejects(e.abortByClient('alice', s.id, 'X'), { code: 'SESSION_EXPIRED' });
  });

  it('the reaper expires idle sessions and destroys their state', async () => {
    const e = engine();
    const s = await open(e);
    await e.step('alice', s.id, [message(s.sid, 1)]);
    clock += IDLE_MS - 1;
    assert.equal(await e.reap(), 0, 'not idle long enough yet');
    clock += 2;
    assert.equal(await e.reap(), 1);
    const rec = await store.getSession(s.id);
    assert.deepEqual([rec?.status, rec?.state], ['expired', null]);
  });
});
