// Install step of @tessera/secp256k1-node: builds the addon against the system's libsecp256k1
// (0.2.0 or later, found with pkg-config). Without it the install still succeeds and says why;
// at run time the default backend is then noble (the server and CLI log it), and a process that
// asks for libsecp256k1 explicitly refuses to start.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const warn = (why) => {
  process.stderr.write(
    `@tessera/secp256k1-node: libsecp256k1 addon not built (${why}).\n` +
      '  ECDSA key generation will use @noble/curves (correct, several times slower).\n' +
      '  Install libsecp256k1 0.2.0 or later with its pkg-config file (Debian/Ubuntu: apt install\n' +
      '  libsecp256k1-dev; macOS: brew install secp256k1), a C compiler, python3 and make, then\n' +
      '  run `npm rebuild @tessera/secp256k1-node`.\n'
  );
};
try {
  execFileSync('pkg-config', ['--atleast-version=0.2.0', 'libsecp256k1'], { stdio: 'ignore' });
} catch {
  warn('pkg-config finds no libsecp256k1 0.2.0 or later');
  process.exit(0);
}
// npm names its own node-gyp to install scripts; elsewhere one on PATH is used.
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], {
      cwd: root,
      stdio: 'inherit',
      shell: process.platform === 'win32',
    });
if (r.status !== 0) warn(`node-gyp rebuild failed with ${r.status ?? r.signal}`);
