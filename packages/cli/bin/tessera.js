#!/usr/bin/env node
// Launcher: the CLI is TypeScript run through tsx, so start a child Node with tsx's loader
// (resolved from here, not from the caller's cwd) and pass signals and the exit status through.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const child = spawn(
  process.execPath,
  ['--import', import.meta.resolve('tsx'), main, ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  }
);

const signals = ['SIGINT', 'SIGTERM'];
const forward = (signal) => child.kill(signal);
for (const s of signals) process.on(s, forward);

child.on('error', (e) => {
  process.stderr.write(`tessera: cannot start node: ${e.message}\n`);
  process.exitCode = 1;
});
child.on('exit', (code, signal) => {
  for (const s of signals) process.off(s, forward);
  // Die of the same signal the child died of, so callers see the usual status.
  if (signal) process.kill(process.pid, signal);
  else process.exitCode = code ?? 1;
});
