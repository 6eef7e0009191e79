/**
 * `tessera device init | pair | peers | keygen | sign | serve`: this device's identity, the
 * devices it paired with over a relay, and 2-of-2 keys held with one of them (docs/devices.md).
 * The home is `--home`, else `TESSERA_HOME`, else `~/.tessera`; its shares are in the same
 * encrypted store as the client's (`TESSERA_PASSPHRASE` if set, else the home's `secret.key`).
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
  DeviceNode,
  type DeviceProgress,
  type DeviceRequest,
  discoverDevices,
  FileShareStore,
  findPeerOnLan,
  LanAdvertiser,
  lanAddress,
  type PeerRecord,
  pairAsInitiator,
  pairAsResponder,
  relayWebSocket,
  type ServedRequest,
} from '@tessera/client/node';
import { type Command, Option } from 'commander';
import { keyIdArg, outputOptions } from '../connect.ts';
import { type CliIo, Output, type OutputFlags, UsageError } from '../output.ts';
import { hexArg, portArg, positiveIntArg } from './parse.ts';

interface HomeFlags extends OutputFlags {
  home?: string;
}

interface PairFlags extends HomeFlags, LanFlags {
  relay?: string;
  join?: string;
  timeout?: number;
}

const homeOf = (f: HomeFlags, io: CliIo) =>
  new DeviceHome(f.home ?? (io.env.TESSERA_HOME || join(homedir(), '.tessera')));

const homeOption = (cmd: Command) =>
  cmd.option('--home <dir>', 'the device home (env TESSERA_HOME, default ~/.tessera)');

interface LanFlags {
  lan?: boolean;
  lanAddress?: string;
  port?: number;
}

interface RunFlags extends HomeFlags, LanFlags {
  relay?: string;
  timeout?: number;
}

const lanOptions = (cmd: Command, listens: boolean) => {
  cmd
    .option(
      '--lan',
      listens
        ? 'no relay: listen on the LAN and advertise this device by mDNS (_tessera._tcp)'
        : 'no relay: find the peer on the LAN by mDNS and talk to it directly'
    )
    .option('--lan-address <ip>', 'the IPv4 address to use on the LAN (default the first one)');
  if (listens)
    cmd.option('--port <port>', 'with --lan: the port to listen on (default any)', portArg);
  return cmd;
};

/** The options of the commands that run a protocol with a peer over the relay or the LAN. */
const runOptions = (cmd: Command, listens = false) =>
  outputOptions(
    homeOption(
      lanOptions(
        cmd
          .option('--relay <url>', 'the relay (env TESSERA_RELAY)')
          .option('--timeout <seconds>', 'give up after this long (default 600)', positiveIntArg),
        listens
      )
    )
  );

const relayOf = (f: RunFlags, io: CliIo): string => {
  const relay = f.relay ?? io.env.TESSERA_RELAY;
  if (!relay) throw new UsageError('no relay: pass --relay URL or set TESSERA_RELAY (or --lan)');
  return relay;
};

/** The LAN address to use, or a usage error naming what is missing. */
function lanHost(f: LanFlags): string {
  const host = lanAddress(f.lanAddress);
  if (host === null)
    throw new UsageError(
      f.lanAddress
        ? `${f.lanAddress} is not an IPv4 address of this host`
        : 'no LAN: this host has no IPv4 address besides loopback'
    );
  return host;
}

/**
 * This device listening on the LAN: a relay of its own on the LAN address (rooms in memory: the
 * device's durable state is in its home), advertised by mDNS with `status`.
 */
async function listenOnLan(
  f: LanFlags,
  device: { name: string; fingerprint: string },
  status: 'ready' | 'available'
): Promise<{ url: string; close(): Promise<void> }> {
  const host = lanHost(f);
  const { loadRelayConfig, startRelay } = await import('@tessera/relay');
  const relay = await startRelay(loadRelayConfig({ host, port: f.port ?? 0, dev: true }, {}), {
    logDestination: { write: () => true } as unknown as NodeJS.WritableStream,
  });
  const ad = new LanAdvertiser({
    name: device.name,
    fingerprint: device.fingerprint,
    host,
    port: Number(new URL(relay.url).port),
    status,
  });
  return {
    url: relay.url,
    close: async () => {
      await ad.close().catch(() => {});
      await relay.close();
    },
  };
}

/** This device, its share store and where to meet peers, ready to run protocols. */
async function nodeOf(f: RunFlags, io: CliIo, relay?: string): Promise<DeviceNode> {
  const home = homeOf(f, io);
  home.load();
  const passphrase = io.env.TESSERA_PASSPHRASE;
  const store = await FileShareStore.open(home.home, passphrase ? { passphrase } : {});
  const where =
    relay ??
    (f.lan
      ? async (peer: PeerRecord) => {
          const found = await findPeerOnLan(peer.fingerprint, {
            host: lanHost(f),
            timeoutMs: 10_000,
          });
          if (!found)
            throw new DeviceError(
              'PEER_NOT_FOUND',
              `"${peer.name}" is not serving on this LAN (run tessera device serve --lan on it)`
            );
          return found.url;
        }
      : relayOf(f, io));
  // On a LAN the device talks to the peer's own listener, over its WebSocket.
  return new DeviceNode({
    home,
    store,
    relay: where,
    ...(f.lan ? { webSocket: relayWebSocket } : {}),
  });
}

/** "Round 1: generate nonce" on stderr, once per round. */
function showProgress(node: DeviceNode, out: Output): void {
  node.on('progress', (p: DeviceProgress) =>
    out.note(p.round === 0 ? `${p.label}…` : `Round ${p.round}: ${p.label}`)
  );
}

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
      lanOptions(
        device
          .command('pair')
          .description(
            'pair with another device over a relay (or --lan): start (prints an invite) or --join INVITE'
          )
          .option('--relay <url>', 'the relay (env TESSERA_RELAY); with --join the invite names it')
          .option('--join <invite>', 'answer the invite the other device printed')
          .option('--timeout <seconds>', 'give up after this long (default 600)', positiveIntArg),
        true
      )
    )
  ).action(async (f: PairFlags) => {
    const out = new Output(io, f);
    const home = homeOf(f, io);
    const dev = home.load();
    const relay = f.relay ?? io.env.TESSERA_RELAY;
    const common = {
      home,
      device: dev,
      ...(f.lan ? { webSocket: relayWebSocket } : {}),
      timeoutMs: (f.timeout ?? 600) * 1000,
      confirmCode: (code: string) => askCode(code, f, out, io),
    };
    let result: Awaited<ReturnType<typeof pairAsInitiator>>;
    if (f.join !== undefined) {
      result = await pairAsResponder({ ...common, invite: f.join });
    } else {
      const lan = f.lan ? await listenOnLan(f, dev, 'available') : null;
      const at = lan?.url ?? relay;
      if (!at) throw new UsageError('no relay: pass --relay URL or set TESSERA_RELAY (or --lan)');
      try {
        result = await pairAsInitiator({
          ...common,
          relay: at,
          onInvite: (invite) => {
            out.result({ invite }, [invite]);
            out.note('On the other device run: tessera device pair --join <the invite above>');
          },
        });
      } finally {
        await lan?.close();
      }
    }
    const p = result.peer;
    out.result({ peer: p.name, fingerprint: p.fingerprint }, [
      `paired with "${p.name}"`,
      `fingerprint ${p.fingerprint}`,
    ]);
  });

  registerRuns(device, io);

  outputOptions(
    homeOption(
      device
        .command('discover')
        .description('the Tessera devices advertising on this LAN (mDNS; untrusted until paired)')
        .option('--timeout <seconds>', 'how long to listen (default 3)', positiveIntArg)
        .option('--lan-address <ip>', 'the IPv4 address to use on the LAN (default the first one)')
    )
  ).action(async (f: HomeFlags & { timeout?: number; lanAddress?: string }) => {
    const home = homeOf(f, io);
    const pinned = new Set(home.exists() ? home.peers().map((p) => p.fingerprint) : []);
    const found = await discoverDevices({
      timeoutMs: (f.timeout ?? 3) * 1000,
      host: lanHost(f),
    });
    const devices = found.map((d) => ({ ...d, paired: pinned.has(d.fingerprint) }));
    new Output(io, f).result(
      { devices },
      devices.length === 0
        ? ['no Tessera device answered on this LAN']
        : devices.map(
            (d) =>
              `${d.fingerprint.slice(0, 16)}…  ${d.name}  ${d.status}  ${d.url}${d.paired ? '  (paired)' : ''}`
          )
    );
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

function registerRuns(device: Command, io: CliIo): void {
  runOptions(
    device
      .command('keygen')
      .description('generate a 2-of-2 key with a paired device (it must be serving and approve)')
      .requiredOption('--peer <name>', 'the paired device: its name or fingerprint')
      .addOption(
        new Option('--scheme <scheme>', 'signature scheme')
          .choices(['ecdsa', 'ed25519', 'bip340'])
          .makeOptionMandatory()
      )
      .option('--label <label>', 'a label for the key')
  ).action(
    async (
      f: RunFlags & { peer: string; scheme: 'ecdsa' | 'ed25519' | 'bip340'; label?: string }
    ) => {
      const out = new Output(io, f);
      const node = await nodeOf(f, io);
      showProgress(node, out);
      const key = await node.keygen({
        peer: f.peer,
        scheme: f.scheme,
        ...(f.label !== undefined ? { label: f.label } : {}),
        timeoutMs: (f.timeout ?? 600) * 1000,
      });
      out.result(key, [`key ${key.keyId}`, `scheme ${key.scheme}`, `publicKey ${key.publicKey}`]);
    }
  );

  runOptions(
    device
      .command('sign')
      .description('sign with a key held with a paired device (it must be serving and approve)')
      .requiredOption('--key <id>', 'key id', keyIdArg)
      .option('--peer <name>', 'the paired device the key is with (checked)')
      .option('--digest <hex>', 'the 32-byte digest to sign (ECDSA)', hexArg(32))
      .option('--message <hex>', 'the message bytes to sign', hexArg())
      .addOption(
        new Option('--hash <hash>', 'how an ECDSA --message is hashed (default sha256)').choices([
          'sha256',
          'keccak256',
        ])
      )
      .requiredOption('--purpose <text>', 'why: shown to the other device with the hash')
  ).action(
    async (
      f: RunFlags & {
        key: string;
        peer?: string;
        digest?: string;
        message?: string;
        hash?: 'sha256' | 'keccak256';
        purpose: string;
      }
    ) => {
      if ((f.digest === undefined) === (f.message === undefined))
        throw new UsageError('give exactly one of --digest and --message');
      if (f.digest !== undefined && f.hash)
        throw new UsageError('--hash applies to --message only: a digest is already hashed');
      const out = new Output(io, f);
      const node = await nodeOf(f, io);
      showProgress(node, out);
      const sig = await node.sign({
        keyId: f.key,
        input:
          f.digest !== undefined
            ? { digest: f.digest }
            : { message: f.message ?? '', ...(f.hash ? { hash: f.hash } : {}) },
        purpose: f.purpose,
        ...(f.peer !== undefined ? { peer: f.peer } : {}),
        timeoutMs: (f.timeout ?? 600) * 1000,
      });
      const { keyId, signature, r, s, recovery, der } = sig;
      const ecdsa = r === undefined ? {} : { r, s, recovery, der };
      out.result({ keyId, signature, ...ecdsa }, [
        `signature ${signature}`,
        ...Object.entries(ecdsa).map(([k, v]) => `${k} ${String(v)}`),
      ]);
    }
  );

  runOptions(
    device
      .command('serve')
      .description("answer paired devices' key generation and signing requests until interrupted")
      .option('--approve', 'approve every request without asking (scripts only)'),
    true
  ).action(async (f: RunFlags & { approve?: boolean }) => {
    const out = new Output(io, f);
    const lan = f.lan ? await listenOnLan(f, homeOf(f, io).load(), 'ready') : null;
    if (lan) out.event({ listening: lan.url }, `listening on ${lan.url} (advertised by mDNS)`);
    const node = await nodeOf(f, io, lan?.url);
    showProgress(node, out);
    const lines = new LineReader(io.stdin);
    node.on('served', (s: ServedRequest) => {
      const what = `${s.request.op} from "${s.request.from.name}"`;
      out.event(
        { served: s },
        `${what}: ${s.outcome}${s.code ? ` (${s.code}: ${s.message})` : ''}`
      );
    });
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, onSignal);
    out.note(`device "${node.device.name}" serving its paired devices (Ctrl-C to stop)`);
    try {
      await node.serve({
        signal: stop.signal,
        timeoutMs: (f.timeout ?? 600) * 1000,
        approve: async (r: DeviceRequest) => {
          out.event({ request: r }, describeRequest(r).join('\n'));
          if (f.approve) return true;
          if (!f.json)
            io.stderr.write('Approve this request? Type y to approve, anything else to deny: ');
          const line = await lines.next();
          return line !== null && /^(y|yes)$/i.test(line.trim());
        },
      });
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, onSignal);
      lines.close();
      await lan?.close();
    }
  });
}

/** What the user is asked to approve. The purpose is the requester's word, shown as such. */
function describeRequest(r: DeviceRequest): string[] {
  const lines = [
    `request ${r.id.slice(0, 16)}… from "${r.from.name}" (${r.from.fingerprint.slice(0, 16)}…)`,
  ];
  if (r.op === 'keygen')
    lines.push(`  generate a 2-of-2 ${r.scheme} key${r.label ? ` labelled "${r.label}"` : ''}`);
  else {
    lines.push(`  sign with ${r.scheme} key ${r.keyId}`);
    lines.push(`  ${r.scheme === 'ecdsa' ? 'message hash' : 'message'}: ${r.signing}`);
    lines.push(`  purpose (as the requester states it): ${JSON.stringify(r.purpose)}`);
  }
  return lines;
}

/** Lines from a stream, one at a time, keeping what arrives ahead of the reader. */
class LineReader {
  readonly #input: NodeJS.ReadableStream;
  #buf = '';
  #ended = false;
  #waiting: ((l: string | null) => void) | null = null;
  readonly #onData = (chunk: Buffer | string) => {
    this.#buf += String(chunk);
    if (this.#buf.length > 64 * 1024) this.#buf = this.#buf.slice(-1024);
    this.#wake();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake();
  };

  constructor(input: NodeJS.ReadableStream) {
    this.#input = input;
  }

  #wake(): void {
    if (!this.#waiting) return;
    const i = this.#buf.indexOf('\n');
    if (i < 0 && !this.#ended) return;
    const w = this.#waiting;
    this.#waiting = null;
    if (i >= 0) {
      const line = this.#buf.slice(0, i).replace(/\r$/, '');
      this.#buf = this.#buf.slice(i + 1);
      w(line);
    } else {
      const rest = this.#buf;
      this.#buf = '';
      w(rest.length > 0 ? rest : null);
    }
  }

  next(): Promise<string | null> {
    if (this.#waiting === null && this.#input.listenerCount('data') === 0) {
      this.#input.on('data', this.#onData);
      this.#input.on('end', this.#onEnd);
    }
    this.#input.resume();
    return new Promise((r) => {
      this.#waiting = r;
      this.#wake();
    });
  }

  close(): void {
    this.#input.off('data', this.#onData);
    this.#input.off('end', this.#onEnd);
    this.#input.pause();
    (this.#input as { unref?: () => void }).unref?.();
  }
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
