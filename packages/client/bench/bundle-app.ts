/**
 * The browser bundle of a one-page wallet app (browser-app/): a Vite production build, its
 * gzipped size, and any Node built-in that leaked into it (a module imported as `node:*`, or one
 * Vite had to stub out "for browser compatibility"). Shared by the bundle benchmark (from the
 * sources) and the installed-package test (from the packed tarballs).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, createLogger, defaultClientConditions, type Rollup } from 'vite';

export const BROWSER_APP = join(import.meta.dirname, 'browser-app');

export interface BrowserBundle {
  /** The JavaScript chunks: the entry and the lazily loaded ones. */
  chunks: { name: string; bytes: number; gzipBytes: number; entry: boolean }[];
  gzipBytes: number;
  /** Node built-ins the bundle still imports or Vite stubbed out; empty for a clean build. */
  nodeBuiltins: string[];
  /** Everything Vite warned about. */
  warnings: string[];
}

/**
 * Builds the app in `root` (a copy of browser-app/ placed where its imports resolve).
 * `fromSource`: resolve @tessera/* to their TypeScript sources, as in this repo without a build.
 */
export async function bundleBrowserApp(root: string, fromSource = false): Promise<BrowserBundle> {
  const warnings: string[] = [];
  const logger = createLogger('warn', { allowClearScreen: false });
  logger.warn = (msg) => void warnings.push(msg);
  logger.warnOnce = logger.warn;
  const outDir = mkdtempSync(join(tmpdir(), 'tessera-bundle-'));
  try {
    const result = await build({
      root,
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      resolve: fromSource ? { conditions: ['@tessera/source', ...defaultClientConditions] } : {},
      build: {
        outDir,
        emptyOutDir: true,
        write: false,
        reportCompressedSize: false,
        rollupOptions: { onwarn: (w) => void warnings.push(w.message) },
      },
    });
    const outputs = (Array.isArray(result) ? result : [result]) as Rollup.RollupOutput[];
    const chunks = outputs
      .flatMap((o) => o.output)
      .filter((c): c is Rollup.OutputChunk => c.type === 'chunk');
    const nodeBuiltins = new Set<string>();
    for (const c of chunks) {
      for (const spec of [...c.imports, ...c.dynamicImports]) {
        if (spec.startsWith('node:')) nodeBuiltins.add(spec);
      }
      for (const m of Object.keys(c.modules)) {
        if (m.includes('__vite-browser-external')) nodeBuiltins.add(m);
      }
    }
    for (const w of warnings) {
      const m = /Module "([^"]+)" has been externalized for browser compatibility/.exec(w);
      if (m?.[1]) nodeBuiltins.add(m[1]);
    }
    const sized = chunks.map((c) => ({
      name: c.fileName,
      bytes: Buffer.byteLength(c.code),
      gzipBytes: gzipSync(c.code).length,
      entry: c.isEntry,
    }));
    return {
      chunks: sized,
      gzipBytes: sized.reduce((n, c) => n + c.gzipBytes, 0),
      nodeBuiltins: [...nodeBuiltins],
      warnings,
    };
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Copies the app into `dir` (which must be where `@tessera/client` resolves). */
export function copyBrowserApp(dir: string): void {
  cpSync(BROWSER_APP, dir, { recursive: true });
}
