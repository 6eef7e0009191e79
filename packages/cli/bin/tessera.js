#!/usr/bin/env node
// The tessera executable. Where the package is installed, `#main` is the compiled CLI
// (dist/main.js) and runs in this process. In a checkout, npm sets the "@tessera/source" export
// condition (the repo's .npmrc), `#main` is then src/main.ts: a child Node runs it through tsx's
// loader (resolved from here, not from the caller's cwd), and signals and the exit status pass
// through.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = import.meta.resolve('#main');

if (!main.endsWith('.ts')) {
  await import(main);
} else {
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), fileURLToPath(main), ...process.argv.slice(2)],
    { stdio: 'inherit' }
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
}
