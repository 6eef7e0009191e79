/**
 * The two directions between a request's secrets and the SDK's store: `unlock` (password →
 * data key → share) and `lock` (share → data key → password). Every check that needs no
 * password runs before Argon2id does, and nothing here talks to a node: a wrong password or a
 * damaged share is refused before any protocol message exists.
 * @module
 */
import { GatewayError } from './errors.ts';
import {
  derivePasswordKey,
  type Kdf,
  type KdfParams,
  openShare,
  type PasswordKey,
  type PlainShare,
  parseEncryptedShare,
  parseSecretStore,
  passwordKeyOf,
  type SealedShare,
  sealShare,
  unwrapDataKey,
  type WrappedKey,
  wipe,
  wrapDataKey,
} from './secret.ts';

export interface Sealed {
  encryptedShare: string;
  secretStore: string;
}

/**
 * Both blobs parsed and paired, before any password is hashed. A `secretStore` of another key
 * than `keyId` is SHARE_MISMATCH; an `encryptedShare` whose header names another key than its
 * `secretStore` is SHARE_CORRUPTED: a damaged header and another key's share are the same thing
 * to the AEAD that would find out later, and a flipped byte must read as damage wherever it is.
 */
export function parsePair(
  encryptedShare: string,
  secretStore: string,
  keyId?: string
): { sealed: SealedShare; wrapped: WrappedKey } {
  const sealed = parseEncryptedShare(encryptedShare);
  const wrapped = parseSecretStore(secretStore);
  if (keyId !== undefined && keyId !== wrapped.keyId)
    throw new GatewayError('SHARE_MISMATCH', 'the secretStore is not of keyId');
  if (wrapped.keyId !== sealed.keyId)
    throw new GatewayError(
      'SHARE_CORRUPTED',
      'the encryptedShare is damaged, or not the share of this secretStore'
    );
  return { sealed, wrapped };
}

/** The share, or INVALID_PASSWORD / SHARE_CORRUPTED; the data key is wiped either way. */
export async function unlock(
  parsed: { sealed: SealedShare; wrapped: WrappedKey },
  password: string,
  kdf: Kdf
): Promise<PlainShare> {
  const pk = await passwordKeyOf(parsed.wrapped, password, kdf);
  let dataKey: Uint8Array | null = null;
  try {
    dataKey = unwrapDataKey(parsed.wrapped, pk);
    return openShare(parsed.sealed, dataKey);
  } finally {
    wipe(dataKey, pk.key);
  }
}

/** Whether the password opens the `secretStore` (the share is not looked at). */
export async function passwordOpens(
  wrapped: WrappedKey,
  password: string,
  kdf: Kdf
): Promise<boolean> {
  const pk = await passwordKeyOf(wrapped, password, kdf);
  try {
    wipe(unwrapDataKey(wrapped, pk));
    return true;
  } catch (e) {
    if (e instanceof GatewayError && e.code === 'INVALID_PASSWORD') return false;
    throw e;
  } finally {
    wipe(pk.key);
  }
}

/**
 * Derives the password key for a new `secretStore`. Run before a protocol starts: a full
 * password queue (BUSY) then refuses the request before any node did work for it.
 */
export function newPasswordKey(
  password: string,
  params: KdfParams,
  kdf: Kdf
): Promise<PasswordKey> {
  return derivePasswordKey(password, params, kdf);
}

/** Seals a share and wraps its data key; the share bytes and both keys are wiped. */
export function lock(plain: PlainShare, pk: PasswordKey): Sealed {
  const { encryptedShare, dataKey } = sealShare(plain);
  try {
    return { encryptedShare, secretStore: wrapDataKey(dataKey, plain.keyId, pk) };
  } finally {
    wipe(dataKey, pk.key, plain.share);
  }
}

/** A new `secretStore` for the same data key under another password. */
export async function rewrap(
  secretStore: string,
  password: string,
  newPassword: string,
  params: KdfParams,
  kdf: Kdf
): Promise<string> {
  const wrapped = parseSecretStore(secretStore);
  const oldKey = await passwordKeyOf(wrapped, password, kdf);
  let dataKey: Uint8Array | null = null;
  try {
    dataKey = unwrapDataKey(wrapped, oldKey);
    const pk = await derivePasswordKey(newPassword, params, kdf);
    try {
      return wrapDataKey(dataKey, wrapped.keyId, pk);
    } finally {
      wipe(pk.key);
    }
  } finally {
    wipe(dataKey, oldKey.key);
  }
}
