/**
 * The public surface of `@tessera/client`: the sorted names each entry point exports, kept here as
 * an inline snapshot (as viem does). A change to the surface shows as a diff of this file;
 * update the list when the change is meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

const exportsOf = async (entry: string): Promise<string[]> =>
  Object.keys(await import(entry)).sort();

test('@tessera/client exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/client'), [
    'AWS_NITRO_ROOT_SHA256',
    'AttestationError',
    'ClientError',
    'DEVICE_PROTOCOL',
    'DEVICE_WIDE',
    'DeviceError',
    'DeviceNode',
    'Http',
    'HttpStepTransport',
    'MemoryShareStore',
    'PINNABLE_PCRS',
    'PVE_BACKUP_FORMAT',
    'ServerError',
    'TesseraClient',
    'WsStepTransport',
    'assertPairingOpen',
    'checkBackupPassphrase',
    'checkDeviceName',
    'decodeInvite',
    'encodeInvite',
    'findPeerIn',
    'identityFingerprint',
    'pairAsInitiator',
    'pairAsResponder',
    'parsePveBackupFile',
    'verifyAttestation',
  ]);
});

test('@tessera/client/node exports', async () => {
  assert.deepEqual(await exportsOf('@tessera/client/node'), [
    'DEVICE_PROTOCOL',
    'DEVICE_WIDE',
    'DeviceError',
    'DeviceHome',
    'DeviceNode',
    'FileShareStore',
    'LAN_SERVICE',
    'LanAdvertiser',
    'PairMarkerDir',
    'RelayClient',
    'RelayError',
    'RelaySubscription',
    'checkDeviceName',
    'decodeInvite',
    'discoverDevices',
    'encodeInvite',
    'findPeerOnLan',
    'lanAddress',
    'nodeWebSocket',
    'pairAsInitiator',
    'pairAsResponder',
    'relayLoginMessage',
    'relayManifestMessage',
    'relayWebSocket',
  ]);
});
