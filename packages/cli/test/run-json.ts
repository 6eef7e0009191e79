/** Runs `tessera ARGS… --json --quiet` in-process: the exit code and the last JSON line printed. */
import { runCli } from '../src/index.ts';

export interface JsonRun {
  code: number;
  json: Record<string, unknown> & { error?: { code: string; message: string } };
}

export async function runJson(args: string[], env: NodeJS.ProcessEnv): Promise<JsonRun> {
  let out = '';
  const code = await runCli([...args, '--json', '--quiet'], {
    stdout: {
      write: (s: string) => {
        out += s;
      },
    },
    stderr: { write: () => {} },
    env,
  });
  return { code, json: JSON.parse(out.trim().split('\n').pop() ?? '{}') };
}
