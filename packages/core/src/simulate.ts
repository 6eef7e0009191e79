/**
 * `simulate`: the in-memory runner of `local` with the hooks tests need to play a cheating party
 * (`tamper`) and to keep each party's pair guard across runs (`pairGuards`).
 * @module
 */
import {
  keygenRun,
  type LocalKeygenOptions,
  type LocalReshareOptions,
  type LocalSignOptions,
  type RunHooks,
  refreshRun,
  reshareRun,
  signRun,
} from './local.ts';

/** Options of `simulate.keygen`. */
export type SimulateKeygenOptions = LocalKeygenOptions & Pick<RunHooks, 'tamper'>;

/** Options of `simulate.sign`. */
export type SimulateSignOptions = LocalSignOptions & RunHooks;

/** Options of `simulate.reshare`. */
export type SimulateReshareOptions = LocalReshareOptions & Pick<RunHooks, 'tamper'>;

/** The in-memory runner with test hooks (architecture.md, "The core contract"). */
export const simulate = {
  keygen: keygenRun,
  sign: signRun,
  reshare: reshareRun,
  refresh: refreshRun,
} as const;
