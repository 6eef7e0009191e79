/**
 * `verifyAttestation` against two real AWS Nitro documents (each at its own time) and against
 * synthetic documents from a test PKI that break one rule at a time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { encode } from 'cborg';
import fc from 'fast-check';
import { AWS_NITRO_ROOT_BASE64, AWS_NITRO_ROOT_SHA256 } from '../src/attestation/aws-root.ts';
import { checkedRoot } from '../src/attestation/chain.ts';
import {
  AttestationError,
  type AttestationErrorCode,
  type AttestationPolicy,
  verifyAttestation,
} from '../src/index.ts';
import {
  AWS_ROOT_PEM,
  coseSign1,
  DEBUG_AT,
  DEBUG_DOC,
  makeCert,
  makeDocument,
  makePki,
  PCR0,
  PROTECTED_ES384,
  p384,
  payloadFields,
  RELEASE_AT,
  RELEASE_DOC,
  T0,
} from './fixtures/nitro.ts';

async function refused(
  doc: Uint8Array,
  policy: AttestationPolicy,
  code: AttestationErrorCode
): Promise<void> {
  await assert.rejects(verifyAttestation(doc, policy), (e: unknown) => {
    assert.ok(e instanceof AttestationError, `not an AttestationError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const RELEASE_PCR0 =
  'e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a';

describe('verifyAttestation: real AWS documents', () => {
  it('accepts the release document at its time and reports its fields', async () => {
    const r = await verifyAttestation(RELEASE_DOC, { now: RELEASE_AT });
    assert.equal(r.valid, true);
    assert.equal(r.moduleId, 'i-0a22e5c5f24d22174-enc0191cceb4289903f');
    assert.equal(r.timestamp, RELEASE_AT);
    assert.equal(Object.keys(r.pcrs).length, 16);
    assert.ok(r.pcrs['0']?.startsWith('e72a46ca'));
    for (const f of [r.userData, r.nonce, r.publicKey]) assert.equal(f, '01'.repeat(1024));
  });

  it('accepts the debug document at its time: PCR0 is all zero', async () => {
    const r = await verifyAttestation(DEBUG_DOC, { now: DEBUG_AT });
    assert.equal(r.pcrs['0'], '00'.repeat(48));
  });

  it('accepts the document tagged with CBOR tag 18 as well as untagged', async () => {
    const tagged = new Uint8Array([0xd2, ...RELEASE_DOC]);
    assert.equal((await verifyAttestation(tagged, { now: RELEASE_AT })).valid, true);
  });

  it('pins PCR0: the release image passes, the debug enclave does not', async () => {
    const pcrs = { 0: RELEASE_PCR0 };
    assert.equal((await verifyAttestation(RELEASE_DOC, { now: RELEASE_AT, pcrs })).valid, true);
    await refused(DEBUG_DOC, { now: DEBUG_AT, pcrs }, 'ATTESTATION_PCR');
  });

  it('refuses the documents today: their chain has expired', async () => {
    await refused(RELEASE_DOC, { now: Date.now() }, 'ATTESTATION_EXPIRED');
    await refused(RELEASE_DOC, { now: RELEASE_AT - 2 * 86_400_000 }, 'ATTESTATION_EXPIRED');
  });

  it('refuses a wrong nonce or user_data, and an old document under a maximum age', async () => {
    const now = RELEASE_AT;
    await refused(RELEASE_DOC, { now, nonce: '02'.repeat(32) }, 'ATTESTATION_NONCE');
    await refused(RELEASE_DOC, { now, userData: '01'.repeat(32) }, 'ATTESTATION_USER_DATA');
    await verifyAttestation(RELEASE_DOC, { now, nonce: '01'.repeat(1024) });
    await refused(RELEASE_DOC, { now: now + 600_000, maxAgeMs: 300_000 }, 'ATTESTATION_STALE');
  });

  it('refuses a changed payload byte, a changed signature byte and a trailing byte', async () => {
    const payloadByte = RELEASE_DOC.slice();
    // A byte inside PCR0's value: the CBOR stays well formed, the signature breaks.
    const at = Buffer.from(payloadByte).indexOf(Buffer.from(RELEASE_PCR0.slice(0, 8), 'hex'));
    assert.ok(at > 0);
    payloadByte[at + 5] = (payloadByte[at + 5] as number) ^ 1;
    await refused(payloadByte, { now: RELEASE_AT }, 'ATTESTATION_SIGNATURE');
    const sigByte = RELEASE_DOC.slice();
    sigByte[sigByte.length - 1] = (sigByte[sigByte.length - 1] as number) ^ 1;
    await refused(sigByte, { now: RELEASE_AT }, 'ATTESTATION_SIGNATURE');
    await refused(new Uint8Array([...RELEASE_DOC, 0]), { now: RELEASE_AT }, 'ATTESTATION_FORMAT');
  });

  it('refuses the real document against another root', async () => {
    const pki = makePki();
    await refused(RELEASE_DOC, { now: RELEASE_AT, root: pki.root }, 'ATTESTATION_CHAIN');
  });

  it('carries the AWS root the test data holds, pinned by its published fingerprint', () => {
    const der = Buffer.from(AWS_ROOT_PEM.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    assert.equal(Buffer.from(der).toString('base64'), AWS_NITRO_ROOT_BASE64);
    assert.equal(createHash('sha256').update(der).digest('hex'), AWS_NITRO_ROOT_SHA256);
  });

  it('refuses a root whose bytes do not match the pinned fingerprint (the corrupted copy)', () => {
    const corrupted = AWS_NITRO_ROOT_BASE64.replace(
      '0d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE',
      '0d0JX28nQPJNS+1kDz1IKLDf9MnJHKMG'
    );
    assert.notEqual(corrupted, AWS_NITRO_ROOT_BASE64);
    assert.throws(
      () => checkedRoot(corrupted, AWS_NITRO_ROOT_SHA256),
      (e: unknown) => e instanceof AttestationError && e.code === 'ATTESTATION_ROOT'
    );
    assert.ok(checkedRoot(AWS_NITRO_ROOT_BASE64, AWS_NITRO_ROOT_SHA256).der.length > 0);
  });
});

describe('verifyAttestation: synthetic documents, one broken rule each', () => {
  const pki = makePki();
  const ok: AttestationPolicy = {
    now: T0,
    root: pki.root,
    pcrs: { 0: PCR0 },
    nonce: new Uint8Array(20).fill(9),
    userData: new Uint8Array(32).fill(7),
    maxAgeMs: 300_000,
  };

  it('accepts a well-formed document, tagged or not', async () => {
    for (const tagged of [false, true]) {
      const r = await verifyAttestation(makeDocument(pki, {}, { tagged }), ok);
      assert.equal(r.nonce, '09'.repeat(20));
      assert.equal(r.publicKey, null);
    }
  });

  it('refuses a document chained to another root', async () => {
    const other = makePki();
    await refused(makeDocument(other), ok, 'ATTESTATION_CHAIN');
    // The other PKI's chain presented with our root first: the intermediate is not ours.
    await refused(
      makeDocument(other, { cabundle: [pki.root, other.intermediate] }),
      ok,
      'ATTESTATION_CHAIN'
    );
    await refused(makeDocument(pki, { cabundle: [pki.intermediate] }), ok, 'ATTESTATION_CHAIN');
  });

  it('refuses an expired or not yet valid leaf, and an expired intermediate', async () => {
    const doc = makeDocument(pki);
    await refused(doc, { ...ok, now: T0 + 4 * 3_600_000, maxAgeMs: 1e9 }, 'ATTESTATION_EXPIRED');
    await refused(doc, { ...ok, now: T0 - 2 * 3_600_000 }, 'ATTESTATION_EXPIRED');
    const r = p384();
    const i = p384();
    const root = makeCert({
      subject: 'r',
      issuer: 'r',
      key: r.publicKey,
      signer: r.privateKey,
      ca: true,
    });
    const oldIntermediate = makeCert({
      subject: 'i',
      issuer: 'r',
      key: i.publicKey,
      signer: r.privateKey,
      ca: true,
      notAfter: T0 - 1,
    });
    const l = p384();
    const leaf = makeCert({ subject: 'l', issuer: 'i', key: l.publicKey, signer: i.privateKey });
    const custom = { ...pki, root, intermediate: oldIntermediate, leaf, leafKey: l.privateKey };
    await refused(makeDocument(custom), { ...ok, root }, 'ATTESTATION_EXPIRED');
  });

  it('refuses a bad signature and a changed payload byte', async () => {
    await refused(makeDocument(pki, {}, { key: p384().privateKey }), ok, 'ATTESTATION_SIGNATURE');
    const doc = makeDocument(pki);
    const at = Buffer.from(doc).indexOf(Buffer.from(PCR0));
    doc[at + 3] = (doc[at + 3] as number) ^ 0x40;
    await refused(doc, ok, 'ATTESTATION_SIGNATURE');
  });

  it('refuses a wrong PCR, a missing PCR, and a PCR that cannot be pinned', async () => {
    await refused(makeDocument(pki), { ...ok, pcrs: { 0: new Uint8Array(48) } }, 'ATTESTATION_PCR');
    const pcrs = new Map([[1, new Uint8Array(48)]]);
    await refused(makeDocument(pki, { pcrs }), ok, 'ATTESTATION_PCR');
    await refused(makeDocument(pki), { ...ok, pcrs: { 5: PCR0 } }, 'ATTESTATION_POLICY');
  });

  it('refuses a document dated more than a minute ahead, or outside its leaf', async () => {
    const { maxAgeMs: _, ...noAge } = ok;
    await refused(makeDocument(pki, { timestamp: T0 + 120_000 }), noAge, 'ATTESTATION_STALE');
    await verifyAttestation(makeDocument(pki, { timestamp: T0 + 30_000 }), ok);
    // The leaf is valid from T0 - 1 h: a document dated before that is not the leaf's.
    await refused(
      makeDocument(pki, { timestamp: T0 - 2 * 3_600_000 }),
      noAge,
      'ATTESTATION_EXPIRED'
    );
  });

  it('refuses a policy that would pin nothing or the wrong size', async () => {
    const doc = makeDocument(pki);
    const asMap = new Map([[0, PCR0]]) as unknown as Record<number, Uint8Array>;
    await refused(doc, { ...ok, pcrs: asMap }, 'ATTESTATION_POLICY');
    await refused(doc, { ...ok, pcrs: { 0: PCR0.subarray(0, 32) } }, 'ATTESTATION_POLICY');
    await refused(doc, { ...ok, pcrs: { 0: 'zz' } }, 'ATTESTATION_POLICY');
  });

  it('refuses a missing or wrong nonce and a missing or wrong user_data', async () => {
    await refused(makeDocument(pki, { nonce: null }), ok, 'ATTESTATION_NONCE');
    await refused(makeDocument(pki, { nonce: new Uint8Array(20) }), ok, 'ATTESTATION_NONCE');
    await refused(makeDocument(pki, { user_data: null }), ok, 'ATTESTATION_USER_DATA');
    await refused(
      makeDocument(pki, { user_data: new Uint8Array(32).fill(8) }),
      ok,
      'ATTESTATION_USER_DATA'
    );
  });

  it('refuses oversized and malformed fields (the AWS content rules)', async () => {
    const big = new Uint8Array(1025);
    const cases: Record<string, unknown>[] = [
      { user_data: big },
      { nonce: big },
      { public_key: big },
      { public_key: new Uint8Array(0) },
      { certificate: new Uint8Array(1025) },
      { cabundle: [] },
      { module_id: '' },
      { module_id: 7 },
      { digest: 'SHA256' },
      { timestamp: 0 },
      { timestamp: 1.5 },
      { pcrs: new Map() },
      { pcrs: new Map([[0, new Uint8Array(32)]]) },
      { pcrs: new Map([[32, new Uint8Array(48)]]) },
      { pcrs: new Map([['0', new Uint8Array(48)]]) },
      { extra: 1 },
    ];
    for (const fields of cases) await refused(makeDocument(pki, fields), ok, 'ATTESTATION_FORMAT');
    const doc = makeDocument(pki);
    const oversized = new Uint8Array(20 * 1024 + 1);
    oversized.set(doc);
    await refused(oversized, ok, 'ATTESTATION_FORMAT');
  });

  it('refuses a COSE header other than exactly ES384, and a non-empty unprotected header', async () => {
    const payload = encode(payloadFields(pki));
    const es256 = encode(new Map([[1, -7]]));
    const extra = encode(
      new Map<number, number | Uint8Array>([
        [1, -35],
        [4, new Uint8Array(1)],
      ])
    );
    await refused(
      coseSign1(payload, pki.leafKey, { protectedHeader: es256 }),
      ok,
      'ATTESTATION_FORMAT'
    );
    await refused(
      coseSign1(payload, pki.leafKey, { protectedHeader: extra }),
      ok,
      'ATTESTATION_FORMAT'
    );
    await refused(
      coseSign1(payload, pki.leafKey, { unprotected: new Map([[4, new Uint8Array(1)]]) }),
      ok,
      'ATTESTATION_FORMAT'
    );
    assert.deepEqual([...PROTECTED_ES384], [0xa1, 0x01, 0x38, 0x22]);
  });

  it('refuses an integer written as a float (one reading of each value)', async () => {
    const payload = encode(payloadFields(pki));
    const at = Buffer.from(payload).indexOf(Buffer.from(encode(T0)));
    assert.ok(at > 0);
    const asFloat = new Uint8Array(9);
    asFloat[0] = 0xfb;
    new DataView(asFloat.buffer).setFloat64(1, T0);
    const floated = new Uint8Array([
      ...payload.subarray(0, at),
      ...asFloat,
      ...payload.subarray(at + encode(T0).length),
    ]);
    await refused(coseSign1(floated, pki.leafKey), ok, 'ATTESTATION_FORMAT');
  });

  it('refuses a duplicate CBOR map key and a non-canonical length', async () => {
    const payload = encode(payloadFields(pki));
    assert.equal(payload[0], 0xa9); // a map of nine entries
    const duplicated = new Uint8Array([
      0xaa,
      ...payload.subarray(1),
      ...encode('digest'),
      ...encode('SHA384'),
    ]);
    await refused(coseSign1(duplicated, pki.leafKey), ok, 'ATTESTATION_FORMAT');
    // The same nine-entry map with its count written in two bytes instead of one.
    const longForm = new Uint8Array([0xb8, 0x09, ...payload.subarray(1)]);
    await refused(coseSign1(longForm, pki.leafKey), ok, 'ATTESTATION_FORMAT');
  });

  it('enforces the CA rules: cA, keyCertSign, path length, names, a CA leaf', async () => {
    const r = p384();
    const i = p384();
    const l = p384();
    const root = makeCert({
      subject: 'r',
      issuer: 'r',
      key: r.publicKey,
      signer: r.privateKey,
      ca: true,
    });
    const inter = (o: Partial<Parameters<typeof makeCert>[0]>) =>
      makeCert({
        subject: 'i',
        issuer: 'r',
        key: i.publicKey,
        signer: r.privateKey,
        ca: true,
        ...o,
      });
    const leaf = (o: Partial<Parameters<typeof makeCert>[0]> = {}) =>
      makeCert({ subject: 'l', issuer: 'i', key: l.publicKey, signer: i.privateKey, ...o });
    const doc = (intermediate: Uint8Array, leafCert: Uint8Array) =>
      makeDocument({ ...pki, root, intermediate, leaf: leafCert, leafKey: l.privateKey });
    const policy = { ...ok, root };
    await verifyAttestation(doc(inter({}), leaf()), policy);
    await refused(doc(inter({ ca: false }), leaf()), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({ noBasicConstraints: true }), leaf()), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({ keyUsage: 0x80 }), leaf()), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({}), leaf({ ca: true })), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({}), leaf({ keyUsage: 0x04 })), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({}), leaf({ issuer: 'someone else' })), policy, 'ATTESTATION_CHAIN');
    await refused(doc(inter({ signer: i.privateKey }), leaf()), policy, 'ATTESTATION_CHAIN');
    // A root allowing no intermediate, with one below it.
    const strictRoot = makeCert({
      subject: 'r',
      issuer: 'r',
      key: r.publicKey,
      signer: r.privateKey,
      ca: true,
      pathLen: 0,
    });
    const second = p384();
    const inter2 = makeCert({
      subject: 'i2',
      issuer: 'i',
      key: second.publicKey,
      signer: i.privateKey,
      ca: true,
    });
    const leaf2 = makeCert({
      subject: 'l',
      issuer: 'i2',
      key: l.publicKey,
      signer: second.privateKey,
    });
    const long = makeDocument(
      { ...pki, root: strictRoot, leaf: leaf2, leafKey: l.privateKey },
      { cabundle: [strictRoot, inter({}), inter2] }
    );
    await refused(long, { ...ok, root: strictRoot }, 'ATTESTATION_CHAIN');
  });

  it('never accepts a document with one byte changed (property)', async () => {
    const doc = makeDocument(pki);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: doc.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, flip) => {
          const bad = doc.slice();
          bad[at] = (bad[at] as number) ^ flip;
          const e = await verifyAttestation(bad, ok).then(
            () => null,
            (err: unknown) => err
          );
          assert.ok(e instanceof AttestationError, `byte ${at}: ${String(e)}`);
        }
      ),
      { numRuns: 300 }
    );
  });

  it('never accepts a truncated document (property)', async () => {
    const doc = makeDocument(pki);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: doc.length - 1 }), async (n) => {
        const e = await verifyAttestation(doc.subarray(0, n), ok).then(
          () => null,
          (err: unknown) => err
        );
        assert.ok(e instanceof AttestationError);
      }),
      { numRuns: 100 }
    );
  });

  it('checks the dates of a cached chain on every call', async () => {
    const doc = makeDocument(pki);
    await verifyAttestation(doc, ok);
    const { maxAgeMs: _, ...noAge } = ok;
    await refused(doc, { ...noAge, now: T0 + 90 * 86_400_000 }, 'ATTESTATION_EXPIRED');
  });
});
