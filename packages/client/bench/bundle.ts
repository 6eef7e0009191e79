/**
 * `npm run bench`, browser section: the gzipped size of a one-page app that imports
 * `@tessera/client` and `@tessera/core` (browser-app/), built by Vite for production from the
 * sources (BENCH_ONLY=bundle runs it alone). The installed-package test builds the same app from
 * the packed tarballs.
 */
import { BROWSER_APP, bundleBrowserApp } from './bundle-app.ts';

const only = process.env.BENCH_ONLY;
if (only !== undefined && only !== 'bundle') process.exit(0);

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const bundle = await bundleBrowserApp(BROWSER_APP, true);
if (bundle.nodeBuiltins.length > 0) {
  throw new Error(`the browser bundle pulls in Node built-ins: ${bundle.nodeBuiltins.join(', ')}`);
}
console.log('\n## Browser bundle (Vite production build: @tessera/client + @tessera/core)\n');
for (const c of bundle.chunks) {
  console.log(
    `  ${c.entry ? 'entry' : 'lazy '} ${c.name.padEnd(40)} ${kib(c.bytes).padStart(10)}  gzip ${kib(c.gzipBytes).padStart(9)}`
  );
}
const entry = bundle.chunks.filter((c) => c.entry).reduce((n, c) => n + c.gzipBytes, 0);
console.log(`\n  gzipped: ${kib(entry)} loaded at start, ${kib(bundle.gzipBytes)} in all`);
