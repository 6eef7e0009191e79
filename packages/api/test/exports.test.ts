/**
 * The public surface of `@tessera/api`: the sorted names each entry point exports, kept here as
 * an inline snapshot (as viem does). A change to the surface shows as a diff of this file;
 * update the list when the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/api exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/api'), [
    'AbortBody',
    'AbortReply',
    'AttachRelayBody',
    'AttachRelayReply',
    'AttestationInfo',
    'AttestationQuery',
    'BackupCreated',
    'BackupInfo',
    'BackupKeySchema',
    'BackupList',
    'CLIENT_ROUND_KIB',
    'CreateBackupBody',
    'CreateKeyBody',
    'ERROR_STATUS',
    'ErrorResponse',
    'Health',
    'Hex',
    'HexN',
    'KEYS_PUBLIC_SCOPE',
    'KeyAddresses',
    'KeyIdParams',
    'KeyInfo',
    'KeyList',
    'KeyMetaBody',
    'KeyPublicInfo',
    'KeygenResult',
    'LIMITS',
    'MAX_STEP_BODY_BYTES',
    'NodeIdentitySchema',
    'PVE_BACKUP_LIMITS',
    'PayloadError',
    'PayloadTooComplex',
    'PolicySchema',
    'ProtocolName',
    'RecoveryRunBody',
    'RecoveryStatus',
    'RefreshBody',
    'RefreshResult',
    'RelayIdentityInfo',
    'SchemeSchema',
    'SealedIdentity',
    'SessionParams',
    'SessionParamsInfo',
    'SessionStarted',
    'SessionStatusSchema',
    'SignBody',
    'SignPayloadSchema',
    'SignResult',
    'Status',
    'StepBody',
    'StepReply',
    'TYPED_DATA_LIMITS',
    'TopologyFields',
    'WsTicket',
    'attestedReplyMessage',
    'canonicalJson',
    'checkPayloadBounds',
    'checkedSignature',
    'coreProtocolName',
    'describeInput',
    'hasStandardDomainType',
    'identityDigest',
    'isErrorCode',
    'openSessionMessage',
    'sealSessionMessage',
    'signingInput',
    'standardDomainType',
    'stepBodyLimit',
  ]);
});

test('@tessera/api/relay exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/api/relay'), [
    'RelayClient',
    'RelayError',
    'RelaySubscription',
    'fromBase64',
    'relayLoginMessage',
    'relayManifestMessage',
    'toBase64',
  ]);
});
