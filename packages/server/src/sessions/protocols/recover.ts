/**
 * Recovery: refresh's reshare, started by a client that restored its share from a backup. The
 * round-4 proofs show it holds the share, and both shares are replaced. Its sessions are
 * refresh's (stored as `reshare`), so a recovery finishes as a refresh does.
 * @module
 */
import type { ServerProtocol } from '../protocol.ts';
import { type RefreshInput, refresh, reshareRoute, startReshare } from './refresh.ts';

export const recover: ServerProtocol<RefreshInput> = {
  ...refresh,
  name: 'recover',
  route: reshareRoute(
    'recover',
    'Prove possession of a share restored from a backup; both shares are replaced.'
  ),
  start: (ctx, subject, input) => startReshare(ctx, subject, input, 'recover'),
};
