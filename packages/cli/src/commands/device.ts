/**
 * `tessera device init | pair | peers`: this device's identity and the devices it paired with
 * over a relay (docs/devices.md). The home is `--home`, else `TESSERA_HOME`, else `~/.tessera`.
 *
 * `device pair` prints, with `--json`, one JSON object per line on stdout: `{"invite"}` (the
 * initiator, first), `{"code"}` once the keys are exchanged, then `{"peer","fingerprint"}` or
 * the error. After the code it reads ONE line from stdin: the code shown on the other device
 * (pairing goes on only if it equals ours) or `n` to refuse.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  checkDeviceName,
  DeviceError,
  DeviceHome,
  pairAsInitiator,
  pairAsResponder,
} from '@tessera/client/node';
import type { Command } from 'commander';
import { outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, UsageError } from '../output.ts';
import { positiveIntArg } from './parse.ts';

interface HomeFlags extends OutputFlags {
  home?: string;
}

interface PairFlags extends HomeFlags {
  relay?: string;
  join?: string;
  timeout?: number;
}

const homeOf = (f: HomeFlags, io: CliIo) =>
  new DeviceHome(f.home ?? (io.env.TESSERA_HOME || join(homedir(), '.tessera')));

const homeOption = (cmd: Command) =>
  cmd.option('--home <dir>', 'the device home (env TESSERA_HOME, default ~/.tessera)');

export function register(program: Command, io: CliIo): void {
  const device = program
    .command('device')
    .description("this device's identity and the devices it paired with (docs/devices.md)");

  outputOptions(
    homeOption(
      device
        .command('init')
        .description('create this device: a name and a fresh identity (Ed25519 + X25519)')
        .requiredOption('--name <name>', 'how other devices will show this one (1..64 bytes)')
    )
  ).action(async (f: HomeFlags & { name: string }) => {
    try {
      checkDeviceName(f.name);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const d = homeOf(f, io).init(f.name);
    const publicKey = Buffer.from(d.identity.public.publicKey).toString('hex');
    new Output(io, f).result({ name: d.name, fingerprint: d.fingerprint, publicKey }, [
      `device "${d.name}" created`,
      `fingerprint ${d.fingerprint}`,
    ]);
  });

  outputOptions(
    homeOption(
      device
        .command('pair')
        .description(
          'pair with another device over a relay: start (prints an invite) or --join INVITE'
        )
        .option('--relay <url>', 'the relay (env TESSERA_RELAY); with --join the invite names it')
        .option('--join <invite>', 'answer the invite the other device printed')
        .option('--timeout <seconds>', 'give up after this long (default 600)', positiveIntArg)
    )
  ).action(async (f: PairFlags) => {
    const out = new Output(io, f);
    const home = homeOf(f, io);
    const dev = home.load();
    const relay = f.relay ?? io.env.TESSERA_RELAY;
    const common = {
      home,
      device: dev,
      timeoutMs: (f.timeout ?? 600) * 1000,
      confirmCode: (code: string) => askCode(code, f, out, io),
    };
    let result: Awaited<ReturnType<typeof pairAsInitiator>>;
    if (f.join !== undefined) {
      result = await pairAsResponder({ ...common, invite: f.join });
    } else {
      if (!relay) throw new UsageError('no relay: pass --relay URL or set TESSERA_RELAY');
      result = await pairAsInitiator({
        ...common,
        relay,
        onInvite: (invite) => {
          out.result({ invite }, [invite]);
          out.note('On the other device run: tessera device pair --join <the invite above>');
        },
      });
    }
    const p = result.peer;
    out.result({ peer: p.name, fingerprint: p.fingerprint }, [
      `paired with "${p.name}"`,
      `fingerprint ${p.fingerprint}`,
    ]);
  });

  outputOptions(
    homeOption(device.command('peers').description('the devices this one paired with'))
  ).action(async (f: HomeFlags) => {
    const peers = homeOf(f, io)
      .peers()
      .map((p) => ({ name: p.name, fingerprint: p.fingerprint, pairedAt: p.pairedAt }));
    new Output(io, f).result(
      { peers },
      peers.length === 0
        ? ['no paired devices']
        : peers.map(
            (p) =>
              `${p.fingerprint.slice(0, 16)}…  ${p.name}  (paired ${new Date(p.pairedAt).toISOString()})`
          )
    );
  });
}

/** Shows the code, reads one line, and compares it with ours in constant time. */
async function askCode(
  code: string,
  f: PairFlags,
  out: Output,
  io: CliIo
): Promise<true | DeviceError> {
  const spaced = `${code.slice(0, 3)} ${code.slice(3)}`;
  out.result({ code }, ['', `    ┌───────────┐`, `    │  ${spaced}  │`, `    └───────────┘`, '']);
  if (!f.json)
    io.stderr.write(
      'Check the other device shows a code. Type the code IT shows (or n to refuse): '
    );
  const line = await readLine(io.stdin);
  const typed = (line ?? '').replace(/\s+/g, '');
  if (line === null || /^(n|no)$/i.test(typed))
    return new DeviceError('PAIRING_REFUSED', 'pairing refused on this device');
  const a = Buffer.from(typed, 'utf8');
  const b = Buffer.from(code, 'utf8');
  // The length is public (6 digits); the digits are compared in constant time.
  const same = a.length === b.length && timingSafeEqual(a, b);
  if (!same)
    return new DeviceError(
      'CODE_MISMATCH',
      'the code typed is not the one this device shows: nothing was paired'
    );
  return true;
}

/** One line from `input` (without its newline), or null at end of input. */
function readLine(input: NodeJS.ReadableStream): Promise<string | null> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (v: string | null) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
      // One line is all we read: a paused pipe or TTY must not keep the process alive.
      (input as { unref?: () => void }).unref?.();
      resolve(v);
    };
    const onData = (chunk: Buffer | string) => {
      buf += String(chunk);
      const i = buf.indexOf('\n');
      if (i >= 0) done(buf.slice(0, i).replace(/\r$/, ''));
      else if (buf.length > 1024) done(buf);
    };
    const onEnd = () => done(buf.length > 0 ? buf : null);
    const onError = (e: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      reject(e);
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.resume();
  });
}
