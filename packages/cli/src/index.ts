/**
 * `runCli`: the whole CLI as a function from arguments to an exit code, so tests run it
 * in-process and only `main.ts` touches `process.exitCode`. Commander never exits the process
 * (`exitOverride`) and writes through the given streams, so every error takes one path.
 * @module
 */
import { readFileSync } from 'node:fs';
import { assertRngHealthy } from '@tessera/core';
import { installSecp256k1Backend } from '@tessera/secp256k1-node';
import { Command } from 'commander';
import * as attest from './commands/attest.ts';
import * as backup from './commands/backup.ts';
import * as btc from './commands/btc.ts';
import * as device from './commands/device.ts';
import * as eth from './commands/eth.ts';
import * as gateway from './commands/gateway.ts';
import * as keys from './commands/keys.ts';
import * as node from './commands/node.ts';
import * as proxy from './commands/proxy.ts';
import * as relay from './commands/relay.ts';
import * as server from './commands/server.ts';
import * as sign from './commands/sign.ts';
import * as sol from './commands/sol.ts';
import * as status from './commands/status.ts';
import * as token from './commands/token.ts';
import { type CliIo, type Io, reportError } from './output.ts';

export { type Io, UsageError } from './output.ts';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8')
) as {
  version: string;
};

/** Runs `tessera ARGS…` and resolves with the exit code (for `server start`: once it has closed). */
export async function runCli(
  argv: string[],
  given: Io = { stdout: process.stdout, stderr: process.stderr }
): Promise<number> {
  const io: CliIo = {
    ...given,
    env: given.env ?? process.env,
    stdin: given.stdin ?? process.stdin,
  };
  const program = new Command('tessera')
    .description('Tessera: 2-of-2 threshold keys shared with a co-signing server')
    .version(version)
    // Before any subcommand exists: subcommands copy these settings when created.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {}, // reportError prints it, in the same format as every other error
    });
  for (const c of [
    server,
    node,
    gateway,
    relay,
    proxy,
    device,
    token,
    keys,
    sign,
    backup,
    status,
    eth,
    sol,
    btc,
    attest,
  ])
    c.register(program, io);
  try {
    // Before any command runs: a broken random source or an addon that does not load stops the
    // CLI here, with hints.
    assertRngHealthy();
    const { warning } = installSecp256k1Backend(io.env.TESSERA_SECP256K1);
    if (warning) io.stderr.write(`tessera: ${warning}\n`);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, io, wantsJson(argv));
  }
}

/** Read from argv, not the parsed options: a usage error can stop parsing before `--json`. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}
