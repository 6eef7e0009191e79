/**
 * The public surface of `@tessera/core`: the sorted names each entry point exports, kept here as
 * an inline snapshot (as viem does). A change to the surface shows as a diff of this file;
 * update the list when the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/core exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/core'), [
    'BACKUP_KDF_FLOOR',
    'BACKUP_PASSPHRASE_MIN',
    'BoundedCache',
    'CHECKS',
    'CORE_ERROR_CODES',
    'DecodeError',
    'InputError',
    'InternalError',
    'KeyShare',
    'MessageMissing',
    'MessageRejected',
    'NonceReuse',
    'PAIR_CODE_DIGITS',
    'PAIR_INITIATOR',
    'PAIR_MAX_NAME',
    'PAIR_RESPONDER',
    'PVE_MAX_BATCH',
    'PVE_REPETITIONS',
    'PairingLockout',
    'ProtocolAbort',
    'RELAY_MAX_BODY',
    'RELAY_MAX_RECIPIENTS',
    'RELAY_MAX_SID',
    'SCHEMES',
    'SessionClosed',
    'StagedLedger',
    'TesseraError',
    'assertRngHealthy',
    'checkPartyPublic',
    'ctEqual',
    'decodeBackupKey',
    'decodeEnvelope',
    'deriveChild',
    'derivePublic',
    'discardSession',
    'dkg',
    'ecdsaSign',
    'encodeBackupKey',
    'encodeEnvelope',
    'errorData',
    'errorFromData',
    'exportShare',
    'fingerprint',
    'frostSign',
    'importShare',
    'inspectBackup',
    'local',
    'newPartyIdentity',
    'noGuardedCheck',
    'nobleSecp256k1',
    'oldKeyOf',
    'openRelayEnvelope',
    'pairGuardKey',
    'pairing',
    'parsePath',
    'pveDecrypt',
    'pveEncrypt',
    'pveInspect',
    'pveKeygen',
    'pveLabel',
    'pveLabelOf',
    'pveRestoreShare',
    'pveSealShare',
    'pveVerify',
    'reshare',
    'runCoreJob',
    'sealRelayEnvelope',
    'secp256k1Backend',
    'secp256k1KeyTable',
    'systemRng',
    'taprootTweak',
    'useCoreWorkers',
    'useSecp256k1Backend',
    'validatePassphrase',
    'validateShare',
  ]);
});

test('@tessera/core/testing exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/core/testing'), [
    'memoryLedgerForTests',
    'memoryPairGuardForTests',
    'pveDecryptRowsForTests',
    'pveEncryptScalarsForTests',
    'pveKemDecryptForTests',
    'pveKemEncryptForTests',
    'pveVerifyRowsForTests',
    'shareSecretForTests',
    'simulate',
  ]);
});
