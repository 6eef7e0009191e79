/**
 * What the CLI prints and how it exits. Scripts read stdout (one JSON object with `--json`) and
 * the exit code; people read stderr (progress, notes, errors). Expected failures become one
 * `error CODE: message` line, never a stack trace.
 *
 * Exit codes:
 *
 * | code | meaning                                                                             |
 * |------|-------------------------------------------------------------------------------------|
 * | 0    | success                                                                             |
 * | 1    | the server refused (ServerError: its code is printed), the protocol failed (session |
 * |      | incomplete, digest mismatch, bad signature), the key is locked after a ban          |
 * |      | (KEY_LOCKED) or must be refreshed first (REFRESH_REQUIRED), a PKCS#11 token refused |
 * |      | (HSM_PIN, …), or an unexpected error                                                |
 * | 2    | usage or bad input: unknown command or option, missing flag, bad hex, bad or weak   |
 * |      | backup passphrase or file, invalid server configuration (ConfigError)               |
 * | 3    | the server cannot be reached (ClientError TRANSPORT)                                |
 * | 4    | the local share store: no share of the key, wrong or short TESSERA_PASSPHRASE,      |
 * |      | tampered store or damaged share (SHARE_CORRUPTED), store locked (STORE_BUSY); or a  |
 * |      | backup that is of another key or an older epoch (BAD_INPUT)                         |
 * @module
 */
import type { Progress } from '@tessera/client';
import { TesseraError } from '@tessera/core';
import { CommanderError } from 'commander';

export interface Writer {
  write(chunk: string): unknown;
}

/** Where the CLI reads and writes; tests pass their own. `env` defaults to `process.env`. */
export interface Io {
  stdout: Writer;
  stderr: Writer;
  env?: NodeJS.ProcessEnv;
  /** Where prompts read answers (`device pair`); default `process.stdin`. */
  stdin?: NodeJS.ReadableStream;
}

/** `Io` with the environment and stdin resolved, as commands get it. */
export type CliIo = Required<Io>;

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

/** A mistake in how the CLI was called (code `USAGE`): exit code 2, nothing sent anywhere. */
export class UsageError extends TesseraError {
  override name = 'UsageError';
  constructor(message: string) {
    super('USAGE', message);
  }
}

export class Output {
  readonly #io: Io;
  readonly #flags: OutputFlags;

  constructor(io: Io, flags: OutputFlags) {
    this.#io = io;
    this.#flags = flags;
  }

  /** The command's result: the object as JSON with `--json`, else the human lines. */
  result(value: object, human: string[]): void {
    this.#io.stdout.write(
      this.#flags.json ? `${JSON.stringify(value)}\n` : `${human.join('\n')}\n`
    );
  }

  /**
   * One event of a long-running command: a JSON line on stdout with `--json`, else a line for
   * people on stderr (stdout stays for results).
   */
  event(value: object, human: string): void {
    if (this.#flags.json) this.#io.stdout.write(`${JSON.stringify(value)}\n`);
    else if (!this.#flags.quiet) this.#io.stderr.write(`${human}\n`);
  }

  /** A note for people (stderr), silenced by `--quiet`. */
  note(line: string): void {
    if (!this.#flags.quiet) this.#io.stderr.write(`${line}\n`);
  }

  /** An `onProgress` callback printing `keygen: round 2/4` once per round. */
  progress(): (p: Progress) => void {
    let last = '';
    return (p) => {
      const line = `${p.phase}: round ${p.round}/${p.totalRounds}`;
      if (line !== last) this.note(line);
      last = line;
    };
  }
}

/** `key   value` lines, aligned. */
export function table(rows: [string, string | number][]): string[] {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

/** Prints an error (stderr, plus a JSON object on stdout with `--json`) and returns the exit code. */
export function reportError(e: unknown, io: Io, json: boolean): number {
  if (e instanceof CommanderError && e.exitCode === 0) return 0; // --help, --version, help CMD
  const { exit, code, message } = classify(e);
  io.stderr.write(code === 'USAGE' ? `error: ${message}\n` : `error ${code}: ${message}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  return exit;
}

/** Client errors about the local share store (exit code 4). */
const STORE_CODES = new Set(['NO_SHARE', 'BAD_INPUT', 'SHARE_CORRUPTED', 'STORE_BUSY']);
/** Usage and input mistakes (exit code 2). */
const USAGE_CODES = new Set([
  'USAGE',
  'INVALID_INPUT',
  'WEAK_PASSPHRASE',
  'BAD_INVITE',
  'BAD_NAME',
  'UNKNOWN_PEER',
  'AMBIGUOUS_PEER',
]);

function classify(e: unknown): { exit: number; code: string; message: string } {
  if (e instanceof CommanderError) {
    // `tessera` or `tessera keys` alone print the help (to stderr) and land here.
    const message = e.code === 'commander.help' ? 'a command is required' : e.message;
    return { exit: 2, code: 'USAGE', message: message.replace(/^error: /, '') };
  }
  // Every Tessera package's errors have core's shape: the exit code follows from `code` (the
  // codes of core, the client, the server and the chains package do not overlap where it matters).
  if (e instanceof TesseraError) {
    const { code, message } = e;
    if (code === 'TRANSPORT') return { exit: 3, code, message: message + rootCause(e) };
    return { exit: STORE_CODES.has(code) ? 4 : USAGE_CODES.has(code) ? 2 : 1, code, message };
  }
  // Matched by name: importing @tessera/server here would load it for every command.
  if (e instanceof Error && e.name === 'ConfigError')
    return { exit: 2, code: 'CONFIG', message: e.message };
  // A PKCS#11 token's refusal (a backup key in a token) keeps its stable code (HSM_PIN, …).
  if (e instanceof Error && e.name === 'HsmError')
    return { exit: 1, code: String((e as Error & { code: unknown }).code), message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { exit: 1, code: 'UNEXPECTED', message: message.split('\n')[0] ?? '' };
}

/** ` (ECONNREFUSED)`: fetch's own message ("fetch failed") hides why. */
function rootCause(e: Error): string {
  let root: unknown = e;
  while (root instanceof Error && root.cause instanceof Error) root = root.cause;
  if (root === e || !(root instanceof Error)) return '';
  return ` (${(root as NodeJS.ErrnoException).code ?? root.message})`;
}

/**
 * Prints "listening on URL" (or `{ url }` with --json) and the notes, then serves until SIGINT or
 * SIGTERM, and closes. Repeats while closing (a terminal's Ctrl-C reaches the launcher and us)
 * just resolve again.
 */
export async function serveUntilSignal(
  out: Output,
  url: string,
  notes: string[],
  close: () => Promise<void>
): Promise<void> {
  let stop: (s: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    stop = resolve;
  });
  for (const s of SIGNALS) process.on(s, stop);
  try {
    out.result({ url }, [`listening on ${url}`]);
    for (const n of notes) out.note(n);
    out.note(`${await stopped}: closing`);
    await close();
  } finally {
    for (const s of SIGNALS) process.off(s, stop);
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
