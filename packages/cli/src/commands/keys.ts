/**
 * Key lifecycle: `keygen` (a 2-of-2 key with the server; our share goes to the local store),
 * `keys list` / `keys show` (the server's record), and `refresh` (new shares, same public key).
 * @module
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  type ClientFlags,
  clientOptions,
  connect,
  keyIdArg,
  type NodeFlags,
  nodeOptions,
  nodeSet,
} from '../connect.ts';
import { type CliIo, Output, table, UsageError } from '../output.ts';
import { createLocalKey } from './chainkey.ts';

interface KeygenFlags extends ClientFlags, NodeFlags {
  scheme: 'ecdsa' | 'ed25519' | 'bip340';
  label?: string;
  topology?: '2-of-2' | '2-of-3';
}

interface RecoverFlags extends ClientFlags, NodeFlags {
  key?: string;
  publicKey?: string;
  cancel?: boolean;
}

interface KeyFlags extends ClientFlags {
  key: string;
}

export function register(program: Command, io: CliIo): void {
  clientOptions(
    nodeOptions(program.command('keygen'))
      .description('create a 2-of-2 key with the server, or a 2-of-3 key with two nodes')
      .addOption(
        new Option('--topology <topology>', '2-of-2 (default) or 2-of-3 (--server is node 1)')
          .choices(['2-of-2', '2-of-3'])
          .default('2-of-2')
      )
      .addOption(
        new Option('--scheme <scheme>', 'signature scheme')
          .choices(['ecdsa', 'ed25519', 'bip340'])
          .makeOptionMandatory()
      )
      .option('--label <label>', 'a name for the key')
      .option(
        '--local <file>',
        'no server: a 2-of-2 key with both shares sealed in FILE (passphrase: TESSERA_PASSPHRASE)'
      )
  ).action(async (f: KeygenFlags & { local?: string }) => {
    const out = new Output(io, f);
    if (f.local !== undefined) {
      const share = await createLocalKey(f.local, f.scheme, io.env);
      const publicKey = Buffer.from(share.publicKey).toString('hex');
      out.result(
        { file: f.local, scheme: f.scheme, publicKey },
        table([
          ['file', f.local],
          ['scheme', f.scheme],
          ['public key', publicKey],
        ])
      );
      return;
    }
    const client = await connect(f, io.env);
    const base = {
      scheme: f.scheme,
      ...(f.label === undefined ? {} : { label: f.label }),
      onProgress: out.progress(),
    };
    const k = await client.createKey(
      f.topology === '2-of-3' ? { ...base, topology: '2-of-3', nodes: nodeSet(f, io.env) } : base
    );
    const { keyId, scheme, publicKey } = k;
    out.result(
      { keyId, scheme, publicKey },
      table([
        ['key', keyId],
        ['scheme', scheme],
        ['public key', publicKey],
      ])
    );
  });

  clientOptions(
    nodeOptions(program.command('recover'))
      .description(
        '2-of-3: recover a key whose share this device lost (new key id, same public key), or --cancel a pending recovery'
      )
      .option('--key <id>', 'the key id to recover', keyIdArg)
      .option('--public-key <hex>', 'or the public key of the key to recover')
      .option('--cancel', 'cancel the pending recovery of --key (its owner, within the delay)')
  ).action(async (f: RecoverFlags) => {
    const out = new Output(io, f);
    const nodes = nodeSet(f, io.env);
    const client = await connect(f, io.env);
    if (f.cancel) {
      if (!f.key) throw new UsageError('--cancel needs --key');
      const states = await client.cancelRecovery({ nodes, keyId: f.key });
      out.result({ keyId: f.key, states: states.map((s) => s.state) }, [`cancelled ${f.key}`]);
      return;
    }
    if (!f.key === !f.publicKey) throw new UsageError('pass one of --key and --public-key');
    const k = await client.recoverKey({
      nodes,
      ...(f.key ? { keyId: f.key } : { publicKey: (f.publicKey as string).toLowerCase() }),
    });
    out.result(
      { keyId: k.keyId, scheme: k.scheme, publicKey: k.publicKey },
      table([
        ['key', k.keyId],
        ['scheme', k.scheme],
        ['public key', k.publicKey],
      ])
    );
  });

  const keys = program.command('keys').description("the server's keys for this token");
  clientOptions(keys.command('list').description('list the keys')).action(
    async (f: ClientFlags) => {
      const list = await (await connect(f, io.env, { store: false })).listKeys();
      const human = list.map(
        (k) => `${k.keyId}  ${k.scheme.padEnd(7)}  epoch ${k.epoch.slice(0, 8)}  ${k.label}`
      );
      new Output(io, f).result({ keys: list }, list.length ? human : ['no keys']);
    }
  );
  clientOptions(
    keys
      .command('show')
      .description('show one key')
      .requiredOption('--key <id>', 'key id', keyIdArg)
  ).action(async (f: KeyFlags) => {
    const k = await (await connect(f, io.env, { store: false })).getKey(f.key);
    new Output(io, f).result(
      k,
      table([
        ['key', k.keyId],
        ['scheme', k.scheme],
        ['label', k.label],
        ['public key', k.publicKey],
        ['epoch', k.epoch + (k.pendingEpoch ? ` (pending ${k.pendingEpoch})` : '')],
        ['parties', `${k.threshold}-of-${k.parties.length}, client is party ${k.party}`],
        ['created', new Date(k.createdAt).toISOString()],
        ['policy', JSON.stringify(k.policy)],
      ])
    );
  });

  clientOptions(
    program
      .command('refresh')
      .description('refresh both shares of a key (same public key, new epoch)')
      .requiredOption('--key <id>', 'key id', keyIdArg)
      .option(
        '--clear-bans',
        'unlock a key locked after the server failed a check (only if you trust the server again)'
      )
  ).action(async (f: KeyFlags & { clearBans?: boolean }) => {
    const out = new Output(io, f);
    const r = await (await connect(f, io.env)).refresh(f.key, {
      onProgress: out.progress(),
      ...(f.clearBans ? { clearBans: true } : {}),
    });
    out.result(
      r,
      table([
        ['key', r.keyId],
        ['epoch', r.epoch],
      ])
    );
  });
}
