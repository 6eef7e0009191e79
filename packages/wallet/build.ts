/**
 * Builds the wallet (Vite, vite.config.ts) when its build is missing or older than a source it
 * bundles: for `npm start` on a fresh checkout and for the browser tests. Not part of the
 * published package, which ships its build.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';
import { WALLET_ASSETS_DIR, walletAssets } from './src/index.ts';

const PACKAGES = join(import.meta.dirname, '..');
/** What the app bundles from this repo: its own app/ and the sources of the packages it uses. */
const SOURCES = ['wallet/app', 'client/src', 'core/src', 'api/src', 'secp256k1-wasm/src'].map((d) =>
  join(PACKAGES, d)
);

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The built app's directory, building it first if needed. */
export async function ensureWalletBuilt(): Promise<string> {
  const built = walletAssets();
  if (built) {
    const at = statSync(join(built, 'index.html')).mtimeMs;
    if (SOURCES.every((d) => newest(d) <= at)) return built;
  }
  await build({ configFile: join(import.meta.dirname, 'vite.config.ts'), logLevel: 'warn' });
  return WALLET_ASSETS_DIR;
}
