/**
 * The recovery webhook (`recovery.notifyUrl`): a POST of a small JSON event at each step of a
 * recovery (requested, cancelled, completed), so that the key's owner hears of a recovery it did
 * not ask for while the delay still lets it cancel. Public facts only: the event, the key id, the
 * subject and times. A webhook that fails or hangs (5 s) is logged and never fails the recovery
 * step it reports: the audit row is the record.
 * @module
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.ts';

export interface RecoveryEvent {
  event: 'recovery.requested' | 'recovery.cancelled' | 'recovery.completed';
  keyId: string;
  subject: string;
  readyAt?: number;
  successor?: string;
}

const TIMEOUT_MS = 5_000;

export async function notifyRecovery(
  ctx: { config: ServerConfig; log: Logger; now(): number },
  e: RecoveryEvent
): Promise<void> {
  const url = ctx.config.recovery.notifyUrl;
  if (!url) return;
  const body = JSON.stringify({ ...e, node: ctx.config.node.id, at: ctx.now() });
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    await res.body?.cancel();
    if (!res.ok)
      ctx.log.warn(
        { event: e.event, keyId: e.keyId, status: res.status },
        'recovery webhook refused'
      );
  } catch (err) {
    ctx.log.warn(
      { event: e.event, keyId: e.keyId, err: (err as Error).message },
      'recovery webhook failed'
    );
  }
}
