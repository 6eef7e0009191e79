/**
 * @tessera/core/testing — helpers for tests, benchmarks and in-process runs, never for a party
 * that keeps sessions or shares across a restart: the nonce ledger and pair guard here live in
 * memory and forget everything when the process ends, and `simulate` lets a test tamper with
 * messages.
 * @module
 */
export { shareSecret as shareSecretForTests } from './keyshare.ts';
export {
  kemDecrypt as pveKemDecryptForTests,
  kemEncrypt as pveKemEncryptForTests,
} from './pve/kem.ts';
export {
  decryptRows as pveDecryptRowsForTests,
  encryptScalars as pveEncryptScalarsForTests,
  type PveEncryptInternals,
  verifyRows as pveVerifyRowsForTests,
} from './pve/pve.ts';
export { memoryLedgerForTests, memoryPairGuardForTests } from './session/driver.ts';
export type { Tamper } from './session/envelope.ts';
export {
  type SimulateKeygenOptions,
  type SimulateReshareOptions,
  type SimulateSignOptions,
  simulate,
} from './simulate.ts';
