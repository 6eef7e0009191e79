/**
 * The web wallet at `/wallet/` (`wallet.dir`, docs/wallet.md): its pages may also connect to the
 * relay this server uses.
 * @module
 */
import { registerStaticSite, StaticSiteError } from '@tessera/http';
import { ConfigError } from '../config.ts';
import { notFound } from '../errors.ts';
import type { App, AppDeps } from './shared.ts';

export function registerWalletRoutes(app: App, d: AppDeps): void {
  const dir = d.config.wallet.dir;
  if (dir === null) return;
  try {
    registerStaticSite(app, {
      prefix: '/wallet/',
      dir,
      connectTo: d.config.relay.url ? [d.config.relay.url] : [],
      notFound: () => notFound('file'),
    });
  } catch (e) {
    throw e instanceof StaticSiteError ? new ConfigError(`wallet.dir: ${e.message}`) : e;
  }
}
