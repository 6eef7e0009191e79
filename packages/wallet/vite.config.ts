// The wallet's production build: app/ into dist/www/, served by the co-signing server at /wallet/.
// Packages resolve to their TypeScript sources, so no `tsc -b` is needed first.
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./app/', import.meta.url)),
  base: '/wallet/',
  resolve: { conditions: ['@tessera/source', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: {
    outDir: fileURLToPath(new URL('./dist/www/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // One file per chunk is enough; no inline data: URLs, so the CSP needs no data: sources.
    assetsInlineLimit: 0,
  },
});
