/**
 * The key-encryption key in a PKCS#11 token (an HSM; SoftHSM2 in tests) rather than in process
 * memory: whoever copies the data directory, the configuration or a memory dump gets a wrapped
 * data key and nothing that opens it; opening it takes the token and its PIN. The KEK is generated
 * inside the token, sensitive and not extractable, and the data key is wrapped and unwrapped there
 * with CKM_AES_KEY_WRAP_PAD (RFC 5649), whose integrity check makes a wrong key or a tampered blob
 * fail in the token instead of yielding a wrong data key. A format byte in front of the wrapped
 * key records the mechanism, so another one can be added without guessing.
 *
 * C_Initialize and the login state belong to the process, not to a session: wrappers sharing a
 * module share one initialisation (finalised when the last one closes) and wrappers sharing a
 * token share one login (logged out when the last one closes), and a second login must present
 * the same PIN. pkcs11js is loaded on first use, so a server without an HSM never loads the addon.
 * Errors fail closed with a stable `code` and never carry the PIN.
 * @module
 */
import { createHmac, ECDH, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ServerConfig } from './config.ts';
import type { KeyWrapper } from './custody.ts';

type Lib = typeof import('pkcs11js');
type Handle = Buffer;

export type HsmErrorCode =
  /** The PKCS#11 library (or the pkcs11js addon) cannot be loaded or initialised. */
  | 'HSM_MODULE'
  /** No initialised token carries the configured label (or more than one does). */
  | 'HSM_TOKEN_NOT_FOUND'
  /** Login refused: wrong, locked, expired or uninitialised PIN. */
  | 'HSM_PIN'
  /** No AES key with the configured label, and `createKey` is off. */
  | 'HSM_KEY_NOT_FOUND'
  /** The labelled key exists but is unfit: ambiguous label, not AES-256, readable, no wrap/unwrap. */
  | 'HSM_KEY_INVALID'
  /** The blob does not unwrap under this key: another key, a tampered blob, an unknown format. */
  | 'HSM_UNWRAP'
  /** Anything else the token refused (session, device, closed wrapper). */
  | 'HSM_FAILURE';

/** A PKCS#11 failure; `code` is stable, `ckr` is the token's return value when there is one. */
export class HsmError extends Error {
  override name = 'HsmError';
  readonly code: HsmErrorCode;
  readonly ckr: string | undefined;

  constructor(code: HsmErrorCode, message: string, ckr?: string) {
    super(message);
    this.code = code;
    this.ckr = ckr;
  }
}

/** Format byte: the data key wrapped by CKM_AES_KEY_WRAP_PAD (RFC 5649) under an AES-256 KEK. */
const FORMAT_AES_KWP = 0x02;
const DATA_KEY_BYTES = 32;
const KWP_BYTES = 40; // RFC 5649 output for a 32-byte key: 8-byte integrity block + 32
const PIN_ERRORS = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_EXPIRED',
  'CKR_PIN_LOCKED',
  'CKR_USER_PIN_NOT_INITIALIZED',
]);
// Return values that say the session or device failed, not that the blob is wrong.
const NOT_THE_BLOB =
  /^CKR_(SESSION_|DEVICE_|TOKEN_NOT_|CRYPTOKI_|USER_NOT_LOGGED_IN|HOST_MEMORY|KEY_HANDLE_INVALID|KEY_FUNCTION_NOT_PERMITTED|MECHANISM_)/;

/** The CKR_* name of a pkcs11js error; nothing else of its text (a message could echo input). */
function ckrOf(e: unknown): string | undefined {
  const m = e instanceof Error ? /^CKR_[A-Z0-9_]+$/.exec(e.message) : null;
  return m ? m[0] : undefined;
}

function reason(e: unknown): string {
  return ckrOf(e) ?? (e instanceof Error ? e.message : String(e));
}

interface Login {
  wrappers: number;
  pinMac: Buffer;
}

interface LoadedModule {
  lib: Lib;
  p11: InstanceType<Lib['PKCS11']>;
  path: string;
  refs: number;
  /** We called C_Initialize (else another component of this process did: we never finalise). */
  owned: boolean;
  /** Logins of this process per slot, kept by the wrappers open on that token. */
  logins: Map<string, Login>;
}

// The library stays loaded for the life of the process (unloading and reloading SoftHSM2 and
// OpenSSL is a crash risk for no gain); only C_Initialize/C_Finalize follow the open wrappers.
const modules = new Map<string, LoadedModule>();
const macKey = randomBytes(32);
const macPin = (pin: string) => createHmac('sha256', macKey).update(pin, 'utf8').digest();

function acquire(modulePath: string): LoadedModule {
  let path: string;
  try {
    path = realpathSync(modulePath);
  } catch (e) {
    throw new HsmError(
      'HSM_MODULE',
      `PKCS#11 module ${modulePath}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`
    );
  }
  let mod = modules.get(path);
  if (!mod) {
    let lib: Lib;
    try {
      lib = createRequire(import.meta.url)('pkcs11js') as Lib;
    } catch (e) {
      throw new HsmError('HSM_MODULE', `the pkcs11js addon cannot be loaded: ${reason(e)}`);
    }
    const p11 = new lib.PKCS11();
    try {
      p11.load(path);
    } catch (e) {
      throw new HsmError(
        'HSM_MODULE',
        `PKCS#11 module ${modulePath} cannot be loaded: ${reason(e)}`,
        ckrOf(e)
      );
    }
    mod = { lib, p11, path, refs: 0, owned: false, logins: new Map() };
    modules.set(path, mod);
  }
  if (mod.refs === 0) {
    try {
      mod.p11.C_Initialize();
      mod.owned = true;
    } catch (e) {
      if (ckrOf(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED')
        throw new HsmError(
          'HSM_MODULE',
          `PKCS#11 module ${modulePath}: C_Initialize failed: ${reason(e)}`,
          ckrOf(e)
        );
      mod.owned = false;
    }
  }
  mod.refs++;
  return mod;
}

function release(mod: LoadedModule): void {
  if (--mod.refs > 0) return;
  mod.logins.clear();
  if (!mod.owned) return;
  try {
    mod.p11.C_Finalize();
  } catch {}
}

const trimLabel = (s: string) => s.replace(/[ \0]+$/, '');

function findToken(mod: LoadedModule, label: string): { slot: Handle; slotKey: string } {
  const { lib, p11 } = mod;
  let slots: Handle[];
  try {
    slots = p11.C_GetSlotList(true);
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `C_GetSlotList failed: ${reason(e)}`, ckrOf(e));
  }
  const seen: string[] = [];
  const matches: Handle[] = [];
  for (const slot of slots) {
    let info: ReturnType<typeof p11.C_GetTokenInfo>;
    try {
      info = p11.C_GetTokenInfo(slot);
    } catch {
      continue;
    }
    if (!(info.flags & lib.CKF_TOKEN_INITIALIZED)) continue;
    const l = trimLabel(info.label);
    seen.push(JSON.stringify(l));
    if (l === label) matches.push(slot);
  }
  if (matches.length !== 1)
    throw new HsmError(
      'HSM_TOKEN_NOT_FOUND',
      matches.length === 0
        ? `no token labelled "${label}" in ${mod.path}; tokens seen: ${seen.join(', ') || '(none)'}`
        : `${matches.length} tokens are labelled "${label}" in ${mod.path}: labels must be unique`
    );
  const slot = matches[0]!;
  return { slot, slotKey: slot.toString('hex') };
}

function login(mod: LoadedModule, slotKey: string, session: Handle, pin: string, token: string) {
  const { lib, p11 } = mod;
  const mac = macPin(pin);
  try {
    p11.C_Login(session, lib.CKU_USER, pin);
  } catch (e) {
    const ckr = ckrOf(e);
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') {
      // The token accepts no PIN while logged in: check it against the one that logged in.
      const held = mod.logins.get(slotKey);
      if (!held)
        throw new HsmError(
          'HSM_PIN',
          `token "${token}" is already logged in by another component of this process; the PIN cannot be checked`,
          ckr
        );
      if (!timingSafeEqual(held.pinMac, mac))
        throw new HsmError('HSM_PIN', `the user PIN for token "${token}" is incorrect`, ckr);
      held.wrappers++;
      return;
    }
    if (ckr && PIN_ERRORS.has(ckr))
      throw new HsmError(
        'HSM_PIN',
        ckr === 'CKR_PIN_LOCKED'
          ? `the user PIN of token "${token}" is locked (${ckr}); unlock it with the SO PIN`
          : `login to token "${token}" refused: ${ckr}`,
        ckr
      );
    // Only the CKR name: never a message that might echo the PIN.
    throw new HsmError('HSM_FAILURE', `login to token "${token}" failed: ${ckr ?? 'error'}`, ckr);
  }
  mod.logins.set(slotKey, { wrappers: 1, pinMac: mac });
}

/** A CK_BBOOL or CK_ULONG attribute as pkcs11js returns it (little-endian native bytes). */
const bool = (b: Buffer | undefined) => !!b && b.length > 0 && b[0] !== 0;
function ulong(b: Buffer | undefined): number {
  if (!b || b.length === 0) return -1;
  return b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0);
}

/** A KeyWrapper whose KEK is an AES-256 key in a PKCS#11 token; it never leaves the token. */
export class Pkcs11KeyWrapper implements KeyWrapper {
  readonly description: string;
  readonly #mod: LoadedModule;
  readonly #slotKey: string;
  readonly #session: Handle;
  readonly #kek: Handle;
  #closed = false;

  private constructor(
    mod: LoadedModule,
    slotKey: string,
    session: Handle,
    kek: Handle,
    description: string
  ) {
    this.#mod = mod;
    this.#slotKey = slotKey;
    this.#session = session;
    this.#kek = kek;
    this.description = description;
  }

  /**
   * Loads the module, logs in to the token labelled `cfg.token` and finds the AES key labelled
   * `cfg.keyLabel`, generating it in the token if it is missing and `cfg.createKey`.
   */
  static open(cfg: NonNullable<ServerConfig['pkcs11']>): Pkcs11KeyWrapper {
    const token = trimLabel(cfg.token);
    const description = `pkcs11 token "${token}" key "${cfg.keyLabel}"`;
    const { mod, slotKey, session } = openLoggedIn(cfg.module, token, cfg.pin);
    try {
      const kek = findOrCreateKey(mod, session, cfg.keyLabel, cfg.createKey, token);
      return new Pkcs11KeyWrapper(mod, slotKey, session, kek, description);
    } catch (e) {
      endSession(mod, slotKey, session, true);
      release(mod);
      throw e;
    }
  }

  async wrap(dataKey: Uint8Array): Promise<Uint8Array> {
    const { lib, p11 } = this.#live();
    if (dataKey.length !== DATA_KEY_BYTES)
      throw new HsmError('HSM_FAILURE', `data key must be ${DATA_KEY_BYTES} bytes`);
    const value = Buffer.from(dataKey);
    let key: Handle;
    try {
      // A session object: gone when the session closes, whatever happens below.
      key = p11.C_CreateObject(this.#session, [
        { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
        { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
        { type: lib.CKA_TOKEN, value: false },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: true },
        { type: lib.CKA_ENCRYPT, value: false },
        { type: lib.CKA_DECRYPT, value: false },
        { type: lib.CKA_VALUE, value },
      ]);
    } catch (e) {
      throw new HsmError(
        'HSM_FAILURE',
        `${this.description}: cannot load the data key for wrapping: ${reason(e)}`,
        ckrOf(e)
      );
    } finally {
      value.fill(0);
    }
    try {
      const out = p11.C_WrapKey(
        this.#session,
        { mechanism: lib.CKM_AES_KEY_WRAP_PAD },
        this.#kek,
        key,
        Buffer.alloc(KWP_BYTES + 16)
      );
      if (out.length !== KWP_BYTES)
        throw new HsmError(
          'HSM_FAILURE',
          `${this.description}: unexpected wrapped length ${out.length}`
        );
      const blob = new Uint8Array(1 + KWP_BYTES);
      blob[0] = FORMAT_AES_KWP;
      blob.set(out, 1);
      return blob;
    } catch (e) {
      if (e instanceof HsmError) throw e;
      throw new HsmError(
        'HSM_FAILURE',
        `${this.description}: C_WrapKey failed: ${reason(e)}`,
        ckrOf(e)
      );
    } finally {
      this.#destroy(key);
    }
  }

  async unwrap(wrapped: Uint8Array): Promise<Uint8Array> {
    const { lib, p11 } = this.#live();
    if (wrapped.length !== 1 + KWP_BYTES || wrapped[0] !== FORMAT_AES_KWP)
      throw new HsmError(
        'HSM_UNWRAP',
        `${this.description} cannot unwrap this store's data key: not a PKCS#11 AES-KWP blob (format byte ${wrapped[0] ?? 'none'}, ${wrapped.length} bytes; wrapped by another key wrapper?)`
      );
    let key: Handle;
    try {
      key = p11.C_UnwrapKey(
        this.#session,
        { mechanism: lib.CKM_AES_KEY_WRAP_PAD },
        this.#kek,
        Buffer.from(wrapped.subarray(1)),
        [
          { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
          { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
          { type: lib.CKA_TOKEN, value: false },
          { type: lib.CKA_PRIVATE, value: true },
          { type: lib.CKA_SENSITIVE, value: false },
          { type: lib.CKA_EXTRACTABLE, value: true },
          { type: lib.CKA_ENCRYPT, value: false },
          { type: lib.CKA_DECRYPT, value: false },
        ]
      );
    } catch (e) {
      const ckr = ckrOf(e);
      if (ckr && NOT_THE_BLOB.test(ckr))
        throw new HsmError('HSM_FAILURE', `${this.description}: C_UnwrapKey failed: ${ckr}`, ckr);
      throw new HsmError(
        'HSM_UNWRAP',
        `${this.description} does not unwrap this store's data key (wrong key or tampered blob: ${reason(e)})`,
        ckr
      );
    }
    try {
      const [attr] = p11.C_GetAttributeValue(this.#session, key, [{ type: lib.CKA_VALUE }]);
      const value = attr?.value;
      if (!value || value.length !== DATA_KEY_BYTES) {
        value?.fill(0);
        throw new HsmError(
          'HSM_UNWRAP',
          `${this.description}: the unwrapped data key is ${value?.length ?? 0} bytes, expected ${DATA_KEY_BYTES}`
        );
      }
      const dataKey = new Uint8Array(value);
      value.fill(0);
      return dataKey;
    } catch (e) {
      if (e instanceof HsmError) throw e;
      throw new HsmError(
        'HSM_FAILURE',
        `${this.description}: cannot read the unwrapped data key: ${reason(e)}`,
        ckrOf(e)
      );
    } finally {
      this.#destroy(key);
    }
  }

  /** Logs out (when no other wrapper of this process uses the token), closes the session, and
   * finalises the module when no other wrapper uses it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    endSession(this.#mod, this.#slotKey, this.#session, true);
    release(this.#mod);
  }

  #live(): LoadedModule {
    if (this.#closed) throw new HsmError('HSM_FAILURE', `${this.description}: wrapper is closed`);
    return this.#mod;
  }

  #destroy(key: Handle): void {
    try {
      this.#mod.p11.C_DestroyObject(this.#session, key);
    } catch {} // a session object: it dies with the session anyway
  }
}

function endSession(mod: LoadedModule, slotKey: string, session: Handle, loggedIn: boolean) {
  const held = loggedIn ? mod.logins.get(slotKey) : undefined;
  if (held && --held.wrappers === 0) {
    mod.logins.delete(slotKey);
    try {
      mod.p11.C_Logout(session);
    } catch {}
  }
  try {
    mod.p11.C_CloseSession(session);
  } catch {}
}

function findOrCreateKey(
  mod: LoadedModule,
  session: Handle,
  label: string,
  create: boolean,
  token: string
): Handle {
  const { lib, p11 } = mod;
  const where = `key "${label}" in token "${token}"`;
  const template = [
    { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
    { type: lib.CKA_KEY_TYPE, value: lib.CKK_AES },
    { type: lib.CKA_TOKEN, value: true },
    { type: lib.CKA_LABEL, value: label },
  ];
  let found: Handle[];
  try {
    p11.C_FindObjectsInit(session, template);
    try {
      found = p11.C_FindObjects(session, 2);
    } finally {
      p11.C_FindObjectsFinal(session);
    }
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `cannot search for ${where}: ${reason(e)}`, ckrOf(e));
  }
  if (found.length > 1)
    throw new HsmError(
      'HSM_KEY_INVALID',
      `more than one AES key is labelled "${label}" in token "${token}": labels must be unique`
    );
  if (found.length === 1) {
    checkKey(mod, session, found[0]!, where);
    return found[0]!;
  }
  if (!create)
    throw new HsmError(
      'HSM_KEY_NOT_FOUND',
      `no AES key labelled "${label}" in token "${token}" (and createKey is off)`
    );
  try {
    return p11.C_GenerateKey(session, { mechanism: lib.CKM_AES_KEY_GEN }, [
      ...template,
      { type: lib.CKA_VALUE_LEN, value: 32 },
      { type: lib.CKA_PRIVATE, value: true },
      { type: lib.CKA_SENSITIVE, value: true },
      { type: lib.CKA_EXTRACTABLE, value: false },
      { type: lib.CKA_WRAP, value: true },
      { type: lib.CKA_UNWRAP, value: true },
      { type: lib.CKA_ENCRYPT, value: false },
      { type: lib.CKA_DECRYPT, value: false },
      { type: lib.CKA_SIGN, value: false },
      { type: lib.CKA_VERIFY, value: false },
      { type: lib.CKA_DERIVE, value: false },
    ]);
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `cannot generate ${where}: ${reason(e)}`, ckrOf(e));
  }
}

/** An existing key must be AES-256, unreadable, and allowed to wrap and unwrap. */
function checkKey(mod: LoadedModule, session: Handle, key: Handle, where: string): void {
  const { lib, p11 } = mod;
  let a: Map<number, Buffer>;
  try {
    const types = [lib.CKA_VALUE_LEN, lib.CKA_SENSITIVE, lib.CKA_WRAP, lib.CKA_UNWRAP];
    a = new Map(
      p11
        .C_GetAttributeValue(
          session,
          key,
          types.map((type) => ({ type }))
        )
        .map((r) => [r.type, r.value])
    );
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `cannot read the attributes of ${where}: ${reason(e)}`);
  }
  const problems: string[] = [];
  if (ulong(a.get(lib.CKA_VALUE_LEN)) !== 32) problems.push('not AES-256');
  if (!bool(a.get(lib.CKA_SENSITIVE))) problems.push('CKA_SENSITIVE is false');
  if (!bool(a.get(lib.CKA_WRAP))) problems.push('CKA_WRAP is false');
  if (!bool(a.get(lib.CKA_UNWRAP))) problems.push('CKA_UNWRAP is false');
  if (problems.length > 0)
    throw new HsmError('HSM_KEY_INVALID', `${where} is unfit: ${problems.join(', ')}`);
}

// ---- P-256 backup keys of verifiable backups (docs/pve-backup.md, "A backup key in a token") --

/** CKA_EC_PARAMS of P-256: the DER of its OID, 1.2.840.10045.3.1.7. */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/** Where a backup key pair is in a token: the module, the token's label, the pair's label and id. */
export interface Pkcs11BackupKeyRef {
  module: string;
  token: string;
  label: string;
  /** CKA_ID of both halves, hex. */
  id: string;
}

/**
 * A P-256 backup private key held in a token, sensitive and not extractable: it only derives ECDH
 * secrets, so restoring a verifiable backup needs the token and its PIN, and never exposes the key.
 */
export interface Pkcs11BackupKey {
  /** Compressed SEC1, 33 bytes. */
  readonly publicKey: Uint8Array;
  /**
   * The X coordinate of d·E for an ephemeral public key E (compressed SEC1): CKM_ECDH1_DERIVE
   * with CKD_NULL, read from a session object destroyed at once. What `PveDecryptionKey.ecdh` is.
   */
  ecdh(ephemeral: Uint8Array): Uint8Array;
  /** Logs out (unless another user of the token in this process is still open) and closes. */
  close(): void;
}

/** A logged-in session with the token labelled `token` (the caller ends it). */
function openLoggedIn(
  modulePath: string,
  token: string,
  pin: string
): { mod: LoadedModule; slotKey: string; session: Handle } {
  const mod = acquire(modulePath);
  const { lib, p11 } = mod;
  let session: Handle | null = null;
  let slotKey = '';
  try {
    const found = findToken(mod, token);
    slotKey = found.slotKey;
    try {
      session = p11.C_OpenSession(found.slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
    } catch (e) {
      throw new HsmError(
        'HSM_FAILURE',
        `cannot open a session with token "${token}": ${reason(e)}`,
        ckrOf(e)
      );
    }
    login(mod, slotKey, session, pin, token);
    return { mod, slotKey, session };
  } catch (e) {
    if (session) endSession(mod, slotKey, session, false);
    release(mod);
    throw e;
  }
}

/** The EC keys of `cls` with this label (and id, when given). */
function findEcKeys(
  mod: LoadedModule,
  session: Handle,
  cls: number,
  label: string,
  id?: Buffer
): Handle[] {
  const { lib, p11 } = mod;
  try {
    p11.C_FindObjectsInit(session, [
      { type: lib.CKA_CLASS, value: cls },
      { type: lib.CKA_KEY_TYPE, value: lib.CKK_EC },
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_LABEL, value: label },
      ...(id ? [{ type: lib.CKA_ID, value: id }] : []),
    ]);
    try {
      return p11.C_FindObjects(session, 2);
    } finally {
      p11.C_FindObjectsFinal(session);
    }
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `cannot search for key "${label}": ${reason(e)}`, ckrOf(e));
  }
}

/** A P-256 public key object's point, compressed (CKA_EC_POINT is a DER OCTET STRING of it). */
function compressedPoint(mod: LoadedModule, session: Handle, key: Handle): Uint8Array {
  const { lib, p11 } = mod;
  let der: Buffer | undefined;
  try {
    der = p11.C_GetAttributeValue(session, key, [{ type: lib.CKA_EC_POINT }])[0]?.value;
  } catch (e) {
    throw new HsmError('HSM_FAILURE', `cannot read a public key: ${reason(e)}`, ckrOf(e));
  }
  // 04 41 ‖ 04 ‖ X ‖ Y; some tokens give the bare point.
  const point = der?.length === 67 && der[0] === 0x04 && der[1] === 0x41 ? der.subarray(2) : der;
  if (point?.length !== 65 || point[0] !== 0x04)
    throw new HsmError('HSM_KEY_INVALID', 'the public key is not an uncompressed P-256 point');
  return new Uint8Array(
    ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer
  );
}

/**
 * Generates a P-256 backup key pair in the token: the private half sensitive, not extractable,
 * for ECDH derivation only; both halves on the token under `label` and a random CKA_ID. Refuses a
 * label already taken.
 */
export function generatePkcs11BackupKey(
  cfg: { module: string; token: string; pin: string },
  label: string
): { ref: Pkcs11BackupKeyRef; publicKey: Uint8Array } {
  const token = trimLabel(cfg.token);
  const s = openLoggedIn(cfg.module, token, cfg.pin);
  const { lib, p11 } = s.mod;
  try {
    if (findEcKeys(s.mod, s.session, lib.CKO_PRIVATE_KEY, label).length > 0)
      throw new HsmError(
        'HSM_KEY_INVALID',
        `an EC key labelled "${label}" is already in token "${token}": choose another label`
      );
    const id = randomBytes(16);
    const common = [
      { type: lib.CKA_KEY_TYPE, value: lib.CKK_EC },
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_LABEL, value: label },
      { type: lib.CKA_ID, value: id },
    ];
    let pair: { publicKey: Handle; privateKey: Handle };
    try {
      pair = p11.C_GenerateKeyPair(
        s.session,
        { mechanism: lib.CKM_EC_KEY_PAIR_GEN },
        [
          { type: lib.CKA_CLASS, value: lib.CKO_PUBLIC_KEY },
          ...common,
          { type: lib.CKA_EC_PARAMS, value: P256_PARAMS },
          { type: lib.CKA_VERIFY, value: false },
          { type: lib.CKA_ENCRYPT, value: false },
          { type: lib.CKA_WRAP, value: false },
        ],
        [
          { type: lib.CKA_CLASS, value: lib.CKO_PRIVATE_KEY },
          ...common,
          { type: lib.CKA_PRIVATE, value: true },
          { type: lib.CKA_SENSITIVE, value: true },
          { type: lib.CKA_EXTRACTABLE, value: false },
          { type: lib.CKA_DERIVE, value: true },
          { type: lib.CKA_SIGN, value: false },
          { type: lib.CKA_DECRYPT, value: false },
          { type: lib.CKA_UNWRAP, value: false },
        ]
      );
    } catch (e) {
      throw new HsmError(
        'HSM_FAILURE',
        `cannot generate a P-256 key pair in token "${token}": ${reason(e)}`,
        ckrOf(e)
      );
    }
    return {
      ref: { module: cfg.module, token, label, id: id.toString('hex') },
      publicKey: compressedPoint(s.mod, s.session, pair.publicKey),
    };
  } finally {
    endSession(s.mod, s.slotKey, s.session, true);
    release(s.mod);
  }
}

/** CK_ECDH1_DERIVE_PARAMS with no KDF: the derived value is the shared point's X coordinate. */
const ecdh1Params = (lib: Lib, publicData: Buffer) => {
  const p: import('pkcs11js').ECDH1 = { type: lib.CK_PARAMS_EC_DH, kdf: lib.CKD_NULL, publicData };
  return p;
};

/** Opens a backup key pair `generatePkcs11BackupKey` made; `HSM_KEY_NOT_FOUND` if it is gone. */
export function openPkcs11BackupKey(ref: Pkcs11BackupKeyRef, pin: string): Pkcs11BackupKey {
  const token = trimLabel(ref.token);
  const s = openLoggedIn(ref.module, token, pin);
  const { lib, p11 } = s.mod;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    endSession(s.mod, s.slotKey, s.session, true);
    release(s.mod);
  };
  try {
    const id = Buffer.from(ref.id, 'hex');
    const where = `backup key "${ref.label}" (id ${ref.id}) in token "${token}"`;
    const one = (cls: number, what: string): Handle => {
      const found = findEcKeys(s.mod, s.session, cls, ref.label, id);
      if (found.length === 0) throw new HsmError('HSM_KEY_NOT_FOUND', `no ${what} of ${where}`);
      if (found.length > 1)
        throw new HsmError('HSM_KEY_INVALID', `more than one ${what} of ${where}`);
      return found[0] as Handle;
    };
    const privateKey = one(lib.CKO_PRIVATE_KEY, 'private key');
    const publicKey = compressedPoint(s.mod, s.session, one(lib.CKO_PUBLIC_KEY, 'public key'));
    return {
      publicKey,
      ecdh(ephemeral: Uint8Array): Uint8Array {
        if (closed) throw new HsmError('HSM_FAILURE', `${where}: closed`);
        let point: Buffer;
        try {
          point = ECDH.convertKey(
            Buffer.from(ephemeral),
            'prime256v1',
            undefined,
            undefined,
            'uncompressed'
          ) as Buffer;
        } catch {
          throw new HsmError('HSM_FAILURE', 'the ephemeral key is not a P-256 point');
        }
        let secret: Handle;
        try {
          secret = p11.C_DeriveKey(
            s.session,
            {
              mechanism: lib.CKM_ECDH1_DERIVE,
              parameter: ecdh1Params(lib, point),
            },
            privateKey,
            [
              { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
              { type: lib.CKA_KEY_TYPE, value: lib.CKK_GENERIC_SECRET },
              { type: lib.CKA_TOKEN, value: false },
              { type: lib.CKA_SENSITIVE, value: false },
              { type: lib.CKA_EXTRACTABLE, value: true },
              { type: lib.CKA_VALUE_LEN, value: 32 },
            ]
          );
        } catch (e) {
          throw new HsmError('HSM_FAILURE', `${where}: ECDH failed: ${reason(e)}`, ckrOf(e));
        }
        try {
          const [attr] = p11.C_GetAttributeValue(s.session, secret, [{ type: lib.CKA_VALUE }]);
          const value = attr?.value;
          if (value?.length !== 32)
            throw new HsmError('HSM_FAILURE', `${where}: ECDH gave ${value?.length ?? 0} bytes`);
          const out = new Uint8Array(value);
          value.fill(0);
          return out;
        } finally {
          try {
            p11.C_DestroyObject(s.session, secret);
          } catch {} // a session object: it dies with the session anyway
        }
      },
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
