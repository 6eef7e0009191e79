/**
 * @tessera/wallet — the web wallet's static files, for a server to serve at `/wallet`. The app
 * itself (app/) runs in the browser; from Node only its built directory is of use.
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the built app lives (its `index.html` and assets), whether or not it was built. */
export const WALLET_ASSETS_DIR: string = fileURLToPath(new URL('../dist/www/', import.meta.url));

/** The built app's directory, or null when it was not built (`npm run build -w @tessera/wallet`). */
export function walletAssets(): string | null {
  return existsSync(`${WALLET_ASSETS_DIR}index.html`) ? WALLET_ASSETS_DIR : null;
}
