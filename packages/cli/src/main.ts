/**
 * The `tessera` executable (started by bin/tessera.js). Exit through
 * `process.exitCode` so pending output is flushed before Node exits.
 * @module
 */
import { runCli } from './index.ts';

process.exitCode = await runCli(process.argv.slice(2));
