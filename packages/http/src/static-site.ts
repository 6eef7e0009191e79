/**
 * A built single-page app's static files under a prefix (the web wallet at `/wallet/`, served by
 * the co-signing server and by the relay; docs/wallet.md). The files are read once at start-up
 * into memory, so a request never touches the file system with a caller's path: a path is one of
 * the files that were there, or the service's 404. Every answer carries a strict
 * Content-Security-Policy: scripts from this origin only (WebAssembly allowed, for Argon2id),
 * connections to this origin and those named, no framing.
 * @module
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { ServiceApp } from './service.ts';

/** A directory that cannot be served as a site (unreadable, too large, no index.html). */
export class StaticSiteError extends Error {
  override name = 'StaticSiteError';
}

export interface StaticSiteOptions {
  /** The URL prefix, with both slashes (`/wallet/`). */
  prefix: string;
  /** The build's directory, with its `index.html`. */
  dir: string;
  /** Origins the pages may connect to besides their own. */
  connectTo?: readonly string[];
  /** The service's own "not found" error, thrown for a path that is not a file of the build. */
  notFound: () => Error;
}
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
          throw new StaticSiteError(`${dir} is too large to be an app build`);
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
    if (e instanceof StaticSiteError) throw e;
    throw new StaticSiteError(`${dir} cannot be read: ${(e as Error).message}`);
  }
  if (!assets.has('index.html'))
    throw new StaticSiteError(`${dir} has no index.html: build the app first`);
  return assets;
}

function contentSecurityPolicy(connectTo: readonly string[]): string {
  const connect = ["'self'", ...connectTo.map((u) => new URL(u).origin)];
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

/** Serves the build in `o.dir` under `o.prefix`; throws `StaticSiteError` for a bad directory. */
export function registerStaticSite(app: ServiceApp, o: StaticSiteOptions): void {
  const assets = readAssets(o.dir);
  const csp = contentSecurityPolicy(o.connectTo ?? []);
  app.get(o.prefix.slice(0, -1), { schema: { hide: true } }, async (_req, reply) =>
    reply.redirect(o.prefix, 302)
  );
  app.get<{ Params: { '*': string } }>(
    `${o.prefix}*`,
    { schema: { hide: true } },
    async (req, reply) => {
      const path = req.params['*'] || 'index.html';
      const asset = assets.get(path);
      if (!asset) throw o.notFound();
      void reply
        .header('content-type', asset.type)
        .header('content-security-policy', csp)
        .header('cross-origin-opener-policy', 'same-origin')
        .header('cross-origin-resource-policy', 'same-origin')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
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
