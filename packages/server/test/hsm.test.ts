/**
 * Key custody in a PKCS#11 token, against SoftHSM2 in a fresh token directory: the KEK is born in
 * the token and cannot be read; the data key survives a restart; every misconfiguration (module,
 * token, PIN, key, blob) fails closed with its own code; and a server keeps signing across a
 * restart with a new wrapper, and refuses to start under a PIN or a token that is not its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import {
  devToken,
  HsmError,
  loadConfig,
  Pkcs11KeyWrapper,
  type RunningServer,
  type ServerConfig,
  startServer,
} from '@tessera/server';
import { fromHex, nobleVerify, toHex } from './helpers.ts';

const MODULE =
  [
    process.env.SOFTHSM2_MODULE,
    '/usr/lib/softhsm/libsofthsm2.so',
    '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/local/lib/softhsm/libsofthsm2.so',
    '/opt/homebrew/lib/softhsm/libsofthsm2.so',
  ].find((p) => p && existsSync(p)) ?? null;
const UTIL_OK = spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).status === 0;
const AVAILABLE = UTIL_OK && MODULE !== null;
const MISSING = `SoftHSM2 is not installed (apt-get install softhsm2): ${
  UTIL_OK ? 'no libsofthsm2.so found (set SOFTHSM2_MODULE)' : 'softhsm2-util not on PATH'
}`;

// SoftHSM2 reads SOFTHSM2_CONF at C_Initialize: set it before any wrapper loads the module.
const dir = mkdtempSync(join(tmpdir(), 'tessera-hsm-'));
const conf = join(dir, 'softhsm2.conf');
writeFileSync(
  conf,
  `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`
);
mkdirSync(join(dir, 'tokens'));
process.env.SOFTHSM2_CONF = conf;
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const PIN = { A: '1111-tessera-a', B: '2222-tessera-b' } as const;
const SO_PIN = '5678-so';
const KEY = 'tessera-kek';

function initToken(label: string, pin: string): void {
  const r = spawnSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', SO_PIN],
    { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: 'utf8' }
  );
  assert.equal(r.status, 0, `softhsm2-util --init-token ${label}: ${r.stderr}${r.stdout}`);
}

const cfg = (o: Partial<NonNullable<ServerConfig['pkcs11']>> = {}) => ({
  module: MODULE as string,
  token: 'A',
  keyLabel: KEY,
  pin: PIN.A,
  createKey: true,
  ...o,
});

/** Runs `fn` with a wrapper, closing it whatever happens. */
async function withWrapper<T>(
  c: NonNullable<ServerConfig['pkcs11']>,
  fn: (w: Pkcs11KeyWrapper) => Promise<T>
): Promise<T> {
  const w = Pkcs11KeyWrapper.open(c);
  try {
    return await fn(w);
  } finally {
    w.close();
  }
}

function hsmError(code: string, check?: (e: HsmError) => void) {
  return (e: unknown) => {
    assert.ok(e instanceof HsmError, `expected HsmError ${code}, got ${inspect(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  };
}

type Pkcs11Lib = typeof import('pkcs11js');

/**
 * Opens a logged-in session on `token` through pkcs11js directly (no wrapper open), runs `fn`,
 * and finalises the module whatever happens.
 */
function withTokenSession<T>(
  token: string,
  pin: string,
  rw: boolean,
  fn: (p: Pkcs11Lib, p11: InstanceType<Pkcs11Lib['PKCS11']>, session: Buffer) => T
): T {
  const p = createRequire(import.meta.url)('pkcs11js') as Pkcs11Lib;
  const p11 = new p.PKCS11();
  p11.load(MODULE as string);
  p11.C_Initialize();
  try {
    const slot = p11
      .C_GetSlotList(true)
      .find((s) => p11.C_GetTokenInfo(s).label.trimEnd() === token);
    assert.ok(slot, `token ${token}`);
    const session = p11.C_OpenSession(slot, p.CKF_SERIAL_SESSION | (rw ? p.CKF_RW_SESSION : 0));
    p11.C_Login(session, p.CKU_USER, pin);
    try {
      return fn(p, p11, session);
    } finally {
      p11.C_Logout(session);
      p11.C_CloseSession(session);
    }
  } finally {
    p11.C_Finalize();
  }
}

/** Reads the KEK's attributes through pkcs11js directly, with no wrapper open. */
function inspectKek(token: string, pin: string, label: string) {
  return withTokenSession(token, pin, false, (p, p11, session) => {
    p11.C_FindObjectsInit(session, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_LABEL, value: label },
    ]);
    const keys = p11.C_FindObjects(session, 10);
    p11.C_FindObjectsFinal(session);
    assert.equal(keys.length, 1, 'exactly one KEK in the token');
    const key = keys[0]!;
    const attrs = p11.C_GetAttributeValue(session, key, [
      { type: p.CKA_TOKEN },
      { type: p.CKA_SENSITIVE },
      { type: p.CKA_EXTRACTABLE },
      { type: p.CKA_ALWAYS_SENSITIVE },
      { type: p.CKA_NEVER_EXTRACTABLE },
      { type: p.CKA_LOCAL },
      { type: p.CKA_KEY_TYPE },
    ]);
    const flag = (t: number) => attrs.find((a) => a.type === t)?.value[0] === 1;
    let valueError: unknown = null;
    try {
      p11.C_GetAttributeValue(session, key, [{ type: p.CKA_VALUE }]);
    } catch (e) {
      valueError = e;
    }
    return {
      token: flag(p.CKA_TOKEN),
      sensitive: flag(p.CKA_SENSITIVE),
      extractable: flag(p.CKA_EXTRACTABLE),
      alwaysSensitive: flag(p.CKA_ALWAYS_SENSITIVE),
      neverExtractable: flag(p.CKA_NEVER_EXTRACTABLE),
      local: flag(p.CKA_LOCAL),
      valueError: valueError instanceof Error ? valueError.message : String(valueError),
    };
  });
}

/** Plants an AES key the wrapper must refuse: its value is readable (CKA_SENSITIVE false). */
function plantReadableKey(token: string, pin: string, label: string): void {
  withTokenSession(token, pin, true, (p, p11, session) => {
    p11.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
      { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
      { type: p.CKA_VALUE_LEN, value: 32 },
      { type: p.CKA_TOKEN, value: true },
      { type: p.CKA_PRIVATE, value: true },
      { type: p.CKA_SENSITIVE, value: false },
      { type: p.CKA_EXTRACTABLE, value: true },
      { type: p.CKA_WRAP, value: true },
      { type: p.CKA_UNWRAP, value: true },
      { type: p.CKA_LABEL, value: label },
    ]);
  });
}

if (!AVAILABLE && process.env.CI === 'true')
  test('SoftHSM2 is installed (required in CI)', () => assert.fail(MISSING));

describe('PKCS#11 key custody (SoftHSM2)', {
  concurrency: false,
  skip: AVAILABLE ? false : MISSING,
}, () => {
  before(() => {
    initToken('A', PIN.A);
    initToken('B', PIN.B);
  });

  test('wrap/unwrap round trip; the KEK is generated in the token, sensitive and not extractable', async () => {
    const dataKey = new Uint8Array(randomBytes(32));
    await withWrapper(cfg(), async (w) => {
      assert.equal(w.description, `pkcs11 token "A" key "${KEY}"`);
      assert.ok(!w.description.includes(PIN.A));
      const blob = await w.wrap(dataKey);
      assert.equal(blob.length, 41, 'format byte + RFC 5649 output');
      assert.equal(blob[0], 0x02, 'format: CKM_AES_KEY_WRAP_PAD');
      assert.ok(!Buffer.from(blob).includes(Buffer.from(dataKey)), 'the blob is not the key');
      assert.deepEqual(await w.unwrap(blob), dataKey);
    });
    const { valueError, ...kek } = inspectKek('A', PIN.A, KEY);
    assert.deepEqual(kek, {
      token: true,
      sensitive: true,
      extractable: false,
      alwaysSensitive: true,
      neverExtractable: true,
      local: true,
    });
    assert.equal(valueError, 'CKR_ATTRIBUTE_SENSITIVE', 'CKA_VALUE cannot be read');
  });

  test('a new wrapper instance (a restart) unwraps what the first wrapped, with createKey off', async () => {
    const dataKey = new Uint8Array(randomBytes(32));
    const blob = await withWrapper(cfg(), (w) => w.wrap(dataKey));
    const back = await withWrapper(cfg({ createKey: false }), (w) => w.unwrap(blob));
    assert.deepEqual(back, dataKey);
    assert.equal(inspectKek('A', PIN.A, KEY).sensitive, true, 'still one KEK, no second one');
  });

  test('two wrappers open at once share the module and the login; a wrong PIN is still refused', async () => {
    const a1 = Pkcs11KeyWrapper.open(cfg());
    const b = Pkcs11KeyWrapper.open(cfg({ token: 'B', pin: PIN.B }));
    try {
      const a2 = Pkcs11KeyWrapper.open(cfg());
      const dataKey = new Uint8Array(randomBytes(32));
      const blob = await a1.wrap(dataKey);
      assert.deepEqual(await a2.unwrap(blob), dataKey);
      // The token is logged in: C_Login cannot check this PIN, the wrapper must.
      assert.throws(
        () => Pkcs11KeyWrapper.open(cfg({ pin: '0000-not-the-pin' })),
        hsmError('HSM_PIN', (e) => assert.ok(!e.message.includes('0000-not-the-pin')))
      );
      a2.close();
      a2.close(); // idempotent
      assert.deepEqual(await a1.unwrap(blob), dataKey, 'closing one wrapper keeps the login');
      await assert.rejects(a2.unwrap(blob), hsmError('HSM_FAILURE'));
    } finally {
      a1.close();
      b.close();
    }
    // Everything closed: the module was finalised and initialises again.
    await withWrapper(cfg(), async (w) => assert.equal((await w.wrap(new Uint8Array(32)))[0], 2));
  });

  test('fails closed: createKey off and no key → HSM_KEY_NOT_FOUND', () => {
    assert.throws(
      () => Pkcs11KeyWrapper.open(cfg({ keyLabel: 'never-created', createKey: false })),
      hsmError('HSM_KEY_NOT_FOUND', (e) => assert.match(e.message, /"never-created".*"A"/))
    );
  });

  test('fails closed: an existing key whose value is readable → HSM_KEY_INVALID', () => {
    plantReadableKey('B', PIN.B, 'readable-kek');
    assert.throws(
      () => Pkcs11KeyWrapper.open(cfg({ token: 'B', pin: PIN.B, keyLabel: 'readable-kek' })),
      hsmError('HSM_KEY_INVALID', (e) => assert.match(e.message, /CKA_SENSITIVE is false/))
    );
  });

  test('fails closed: wrong PIN → HSM_PIN, and the PIN is in no message', () => {
    const wrong = 'wrong-pin-7f3a9c';
    assert.throws(
      () => Pkcs11KeyWrapper.open(cfg({ pin: wrong })),
      hsmError('HSM_PIN', (e) => {
        assert.equal(e.ckr, 'CKR_PIN_INCORRECT');
        for (const text of [e.message, e.stack ?? '', inspect(e), JSON.stringify(e)])
          assert.ok(!text.includes(wrong), `PIN leaked: ${text}`);
      })
    );
  });

  test('fails closed: unknown token label → HSM_TOKEN_NOT_FOUND, listing the labels seen', () => {
    assert.throws(
      () => Pkcs11KeyWrapper.open(cfg({ token: 'no-such-token' })),
      hsmError('HSM_TOKEN_NOT_FOUND', (e) => {
        assert.match(e.message, /no token labelled "no-such-token"/);
        assert.match(e.message, /"A"/);
        assert.match(e.message, /"B"/);
      })
    );
  });

  test('fails closed: bad module path → HSM_MODULE', () => {
    assert.throws(
      () => Pkcs11KeyWrapper.open(cfg({ module: join(dir, 'no-such-module.so') })),
      hsmError('HSM_MODULE', (e) => assert.match(e.message, /no-such-module\.so/))
    );
    // A file that exists but is no PKCS#11 library.
    assert.throws(() => Pkcs11KeyWrapper.open(cfg({ module: conf })), hsmError('HSM_MODULE'));
  });

  test("fails closed: a tampered blob, a foreign format and another token's blob → HSM_UNWRAP", async () => {
    const dataKey = new Uint8Array(randomBytes(32));
    const onA = await withWrapper(cfg(), (w) => w.wrap(dataKey));
    const onB = await withWrapper(cfg({ token: 'B', pin: PIN.B }), (w) => w.wrap(dataKey));
    assert.notDeepEqual(onA, onB);
    await withWrapper(cfg(), async (w) => {
      for (const i of [1, 9, 20, 40]) {
        const tampered = onA.slice();
        tampered[i]! ^= 0x01;
        await assert.rejects(w.unwrap(tampered), hsmError('HSM_UNWRAP'), `bit flipped at ${i}`);
      }
      const badFormat = onA.slice();
      badFormat[0] = 0x01;
      await assert.rejects(w.unwrap(badFormat), hsmError('HSM_UNWRAP'));
      await assert.rejects(w.unwrap(onA.subarray(0, 40)), hsmError('HSM_UNWRAP'));
      await assert.rejects(
        w.unwrap(onB),
        hsmError('HSM_UNWRAP', (e) => assert.match(e.message, /wrong key or tampered/))
      );
      assert.deepEqual(await w.unwrap(onA), dataKey, 'the session survives failed unwraps');
    });
  });

  test('server: sign, restart with a new wrapper, sign again; a wrong PIN or another token fails closed', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-hsm-server-'));
    let config = loadConfig({ data, port: 0, dev: true, logLevel: 'silent' }, {});
    let srv: RunningServer | null = null;
    let wrapper: Pkcs11KeyWrapper | null = null;
    const start = async (w: Pkcs11KeyWrapper) => {
      srv = await startServer(config, { keyWrapper: w });
      config = { ...config, port: Number(new URL(srv.url).port) };
      return srv;
    };
    const stop = async () => {
      await srv?.close();
      srv = null;
      wrapper?.close();
      wrapper = null;
    };
    try {
      wrapper = Pkcs11KeyWrapper.open(cfg({ keyLabel: 'server-kek' }));
      const first = await start(wrapper);
      const client = new TesseraClient({
        server: first.url,
        token: () => devToken(data, 'alice'),
        store: new MemoryShareStore(),
      });
      const key = await client.createKey({ scheme: 'ecdsa' });
      const digest = new Uint8Array(randomBytes(32));
      const s1 = await client.sign(key.keyId, { digest: toHex(digest) });
      assert.ok(nobleVerify.ecdsa(key.publicKey, digest, s1.signature));
      await stop();

      // Restart on the same data directory with a new wrapper: the data key unwraps again.
      wrapper = Pkcs11KeyWrapper.open(cfg({ keyLabel: 'server-kek', createKey: false }));
      await start(wrapper);
      const digest2 = new Uint8Array(randomBytes(32));
      const s2 = await client.sign(key.keyId, { digest: toHex(digest2) });
      assert.ok(nobleVerify.ecdsa(key.publicKey, digest2, s2.signature));
      const { secp256k1 } = await import('@noble/curves/secp256k1.js');
      assert.ok(
        secp256k1.verify(fromHex(s2.signature), digest2, fromHex(key.publicKey), {
          prehash: false,
        })
      );
      await stop();

      // A wrong PIN: no wrapper, so no server.
      assert.throws(
        () => Pkcs11KeyWrapper.open(cfg({ keyLabel: 'server-kek', pin: 'not-the-pin-42' })),
        hsmError('HSM_PIN', (e) => assert.ok(!e.message.includes('not-the-pin-42')))
      );

      // Another token's key (same label, created there): Sealer.open passes the unwrap error on.
      const other = Pkcs11KeyWrapper.open(
        cfg({ token: 'B', pin: PIN.B, keyLabel: 'server-kek', createKey: true })
      );
      try {
        await assert.rejects(
          startServer(config, { keyWrapper: other }),
          hsmError('HSM_UNWRAP', (e) =>
            assert.match(e.message, /pkcs11 token "B".*does not unwrap this store's data key/)
          )
        );
      } finally {
        other.close();
      }
    } finally {
      await stop();
      rmSync(data, { recursive: true, force: true });
    }
  });
  test('configured by environment (no wrapper passed): the server opens the token itself', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-hsm-env-'));
    const env = (pin: string) => ({
      TESSERA_PKCS11_MODULE: MODULE as string,
      TESSERA_PKCS11_TOKEN: 'A',
      TESSERA_PKCS11_KEY: 'env-kek',
      TESSERA_PKCS11_PIN: pin,
    });
    const configFile = join(data, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        pkcs11: { module: MODULE, token: 'A', keyLabel: 'env-kek', createKey: true },
      })
    );
    try {
      const config = loadConfig(
        { config: configFile, data, port: 0, dev: true, logLevel: 'silent' },
        env(PIN.A)
      );
      let srv = await startServer(config);
      const client = new TesseraClient({
        server: srv.url,
        token: () => devToken(data, 'alice'),
        store: new MemoryShareStore(),
      });
      const key = await client.createKey({ scheme: 'ed25519' });
      await srv.close();
      const again = { ...config, port: Number(new URL(srv.url).port) };
      srv = await startServer(again);
      const msg = new Uint8Array(randomBytes(20));
      const sig = await client.sign(key.keyId, { message: toHex(msg) });
      assert.ok(nobleVerify.ed25519(key.publicKey, msg, sig.signature));
      await srv.close();
      const wrongPin = loadConfig(
        { data, port: 0, dev: true, logLevel: 'silent' },
        env('0000-wrong')
      );
      await assert.rejects(startServer(wrongPin), hsmError('HSM_PIN'));
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
