/**
 * Recovery of a 2-of-3 key (docs/topologies.md, "Recovery"): the owner asks for it, the node
 * waits its delay (`recovery.delay`) while the owner can cancel, and only then runs the reshare
 * (`POST /v1/keys/:keyId/recovery/run`, the `recovery` protocol). Every request and its outcome
 * is an audit row and a webhook call; while a recovery is pending the key does not sign.
 * @module
 */
import { KeyIdParams, RecoveryStatus, type RecoveryStatusResponse } from '@tessera/api';
import { ApiError } from '../errors.ts';
import { notifyRecovery } from '../node/notify.ts';
import { refuseRetired } from '../node/topology.ts';
import type { KeyRecord } from '../store/store.ts';
import { type App, type AppDeps, authenticator, errors, secured, subjectQuota } from './shared.ts';

export function registerRecoveryRoutes(app: App, d: AppDeps): void {
  const { store, engine, config, log } = d;
  const authenticate = authenticator(d.auth);
  // Each request and cancel writes audit rows and calls the webhook: a loop of them is charged,
  // apart from key generations, against the same hourly number.
  const quota = subjectQuota(d);
  const charge = (subject: string) =>
    quota.take('recovery', subject, config.limits.keygensPerHourPerSubject);
  const notify = (e: Parameters<typeof notifyRecovery>[1]) =>
    notifyRecovery({ config, log, now: () => engine.now() }, e);
  const schema = (description: string) => ({
    ...secured,
    description,
    params: KeyIdParams,
    response: { 200: RecoveryStatus, ...errors },
  });
  const topologyKey = async (subject: string, keyId: string): Promise<KeyRecord> => {
    const key = await engine.vault.ownedKey(subject, keyId);
    if (!key.topology)
      throw new ApiError('SCHEMA', `key ${keyId} is a 2-of-2 key: it has no recovery node`);
    return key;
  };
  const audit = (
    subject: string,
    keyId: string,
    action: string,
    details: Record<string, unknown>
  ) =>
    store.audit({
      at: engine.now(),
      subject,
      keyId,
      sessionId: null,
      action,
      outcome: 'ok',
      details,
    });

  app.get(
    '/v1/keys/:keyId/recovery',
    { schema: schema("The state of the key's recovery."), onRequest: authenticate },
    async (req) => {
      const key = await engine.vault.ownedKey(req.subject, req.params.keyId);
      return statusOf(key, engine.now());
    }
  );

  app.post(
    '/v1/keys/:keyId/recovery',
    {
      schema: schema(
        "Request a recovery of a 2-of-3 key whose client share was lost. It may run once the node's delay has passed; until then the owner can cancel it, and the key does not sign."
      ),
      onRequest: authenticate,
    },
    async (req) => {
      const key = await topologyKey(req.subject, req.params.keyId);
      refuseRetired(key);
      const now = engine.now();
      // A second request finds the first: the delay runs from the first.
      if (key.recovery?.state === 'pending') return statusOf(key, now);
      await charge(req.subject);
      const recovery = {
        state: 'pending' as const,
        requestedAt: now,
        readyAt: now + config.recovery.delayMs,
      };
      // Written before it is announced: the key stops signing from here.
      if (!(await store.setRecovery(key.keyId, recovery)))
        refuseRetired((await store.getKey(key.keyId)) ?? key);
      await audit(req.subject, key.keyId, 'recovery.request', {
        readyAt: recovery.readyAt,
        node: key.topology?.node,
      });
      await notify({
        event: 'recovery.requested',
        keyId: key.keyId,
        subject: req.subject,
        readyAt: recovery.readyAt,
      });
      log.info({ keyId: key.keyId, readyAt: recovery.readyAt }, 'recovery requested');
      return statusOf({ ...key, recovery }, now);
    }
  );

  app.post(
    '/v1/keys/:keyId/recovery/cancel',
    {
      schema: schema(
        "Cancel a pending recovery (the key's owner, within the delay): nothing is issued and the key signs again."
      ),
      onRequest: authenticate,
    },
    async (req) => {
      const key = await topologyKey(req.subject, req.params.keyId);
      refuseRetired(key);
      if (key.recovery?.state !== 'pending')
        throw new ApiError('NO_RECOVERY', `no recovery of key ${key.keyId} is pending`);
      await charge(req.subject);
      await engine.refuseActive(key.keyId, 'refresh');
      const recovery = { ...key.recovery, state: 'cancelled' as const };
      await store.setRecovery(key.keyId, recovery);
      await audit(req.subject, key.keyId, 'recovery.cancel', { requestedAt: recovery.requestedAt });
      await notify({ event: 'recovery.cancelled', keyId: key.keyId, subject: req.subject });
      log.info({ keyId: key.keyId }, 'recovery cancelled');
      return statusOf({ ...key, recovery }, engine.now());
    }
  );
}

/** What the node says of a key's recovery. */
export function statusOf(key: KeyRecord, now: number): RecoveryStatusResponse {
  if (key.retiredBy) return { keyId: key.keyId, state: 'done', successor: key.retiredBy };
  const r = key.recovery;
  if (!r) throw new ApiError('NO_RECOVERY', `no recovery of key ${key.keyId} was requested`);
  const state = r.state === 'cancelled' ? 'cancelled' : now >= r.readyAt ? 'ready' : 'pending';
  return { keyId: key.keyId, state, requestedAt: r.requestedAt, readyAt: r.readyAt };
}
