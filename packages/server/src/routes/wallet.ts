/**
 * The web wallet's static files at `/wallet/` (`wallet.dir`, docs/wallet.md). They are read once
 * at start-up into memory, so a request never touches the file system with a caller's path: a
 * path is either one of the files that were there, or a 404. Every answer carries a strict
 * Content-Security-Policy: scripts from this origin only (WebAssembly allowed, for Argon2id),
 * connections to this server and to its relay, no framing.
 * @module
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ConfigError } from '../config.ts';
import { notFound } from '../errors.ts';
import type { App, AppDeps } from './shared.ts';

const PREFIX = '/wallet/';
/** A wallet build is a few files of a few MiB; anything far larger is not one. */
const MAX_FILES = 500;
const MAX_BYTES = 64 * 1024 * 1024;

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  wasm: 'application/wasm',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let total = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const ext = entry.name.slice(entry.name.lastIndexOf('.') + 1).toLowerCase();
        const type = TYPES[ext];
        if (!type) continue;
        total += statSync(full).size;
        if (assets.size >= MAX_FILES || total > MAX_BYTES)
          throw new ConfigError(`wallet.dir ${dir} is too large to be a wallet build`);
        const body = readFileSync(full);
        const path = relative(dir, full).split(sep).join('/');
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
        assets.set(path, { body, type, etag });
      }
    }
  };
  try {
    walk(dir);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`wallet.dir ${dir} cannot be read: ${(e as Error).message}`);
  }
  if (!assets.has('index.html'))
    throw new ConfigError(`wallet.dir ${dir} has no index.html: build the wallet first`);
  return assets;
}

function contentSecurityPolicy(relayUrl: string | null): string {
  const connect = ["'self'", ...(relayUrl ? [new URL(relayUrl).origin] : [])];
  return [
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    `connect-src ${connect.join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function registerWalletRoutes(app: App, d: AppDeps): void {
  const dir = d.config.wallet.dir;
  if (dir === null) return;
  const assets = readAssets(dir);
  const csp = contentSecurityPolicy(d.config.relay.url);
  app.get('/wallet', { schema: { hide: true } }, async (_req, reply) =>
    reply.redirect(PREFIX, 302)
  );
  app.get<{ Params: { '*': string } }>(
    `${PREFIX}*`,
    { schema: { hide: true } },
    async (req, reply) => {
      const path = req.params['*'] || 'index.html';
      const asset = assets.get(path);
      if (!asset) throw notFound('file');
      void reply
        .header('content-type', asset.type)
        .header('content-security-policy', csp)
        .header('cross-origin-opener-policy', 'same-origin')
        .header('cross-origin-resource-policy', 'same-origin')
        .header('referrer-policy', 'no-referrer')
        .header('etag', asset.etag)
        // Hashed asset names never change; the page itself is revalidated every time.
        .header(
          'cache-control',
          path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
        );
      if (req.headers['if-none-match'] === asset.etag) return reply.status(304).send();
      return reply.send(asset.body);
    }
  );
}
