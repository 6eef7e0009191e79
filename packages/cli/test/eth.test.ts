/**
 * `tessera eth` end to end against a real Ethereum node (Hardhat's node, EDR, on loopback): a key
 * made with the co-signing server, funded from a node account, sends an EIP-1559 transfer that
 * the node mines, balances move; EIP-191 and EIP-712 signatures verify with ethers and viem; the
 * key's policy (value, destinations) refuses a transfer before round 1; a local key file works
 * the same way without a server.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyMessage as ethersVerifyMessage } from 'ethers';
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  parseEther,
  verifyTypedData,
} from 'viem';
import { type TestServer, testServer } from '../../server/test/helpers.ts';
import { runJson } from './run-json.ts';

const HARDHAT = fileURLToPath(
  new URL('../../../node_modules/hardhat/internal/cli/bootstrap.js', import.meta.url)
);
const HARDHAT_CONFIG = fileURLToPath(
  new URL('../../chains/test/fixtures/hardhat.config.cjs', import.meta.url)
);
const RECIPIENT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address;
const PASSPHRASE = 'correct horse battery staple';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const cli = runJson;

describe('tessera eth against a local Ethereum node', () => {
  let node: ChildProcess;
  let rpc: string;
  let server: TestServer;
  const dirs: string[] = [];
  const tmp = (n: string) => {
    const d = mkdtempSync(join(tmpdir(), `tessera-eth-${n}-`));
    dirs.push(d);
    return d;
  };
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const port = await freePort();
    node = spawn(
      process.execPath,
      [
        HARDHAT,
        '--config',
        HARDHAT_CONFIG,
        'node',
        '--hostname',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true' },
      }
    );
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: node.stdout as NodeJS.ReadableStream }).on('line', (l) => {
        if (l.includes('Started HTTP')) resolve();
      });
      node.once('exit', (c) => reject(new Error(`hardhat node exited (${c})`)));
    });
    rpc = `http://127.0.0.1:${port}`;
    // Keys get a policy: at most 2 ether per transaction, only to RECIPIENT, no blind signing.
    server = await testServer({
      policy: {
        blindSigning: false,
        maxValueWei: parseEther('2').toString(),
        allowedDestinations: [RECIPIENT],
      },
    });
    env = {
      TESSERA_SERVER: server.url,
      TESSERA_TOKEN: await server.token('eth-user'),
      TESSERA_HOME: tmp('home'),
      TESSERA_PASSPHRASE: PASSPHRASE,
    };
  });

  after(async () => {
    node?.kill('SIGTERM');
    await server?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const fund = async (to: Address, ether: string) => {
    const transport = http(rpc);
    const pub = createPublicClient({ transport });
    const [funder] = await createWalletClient({ transport }).getAddresses();
    const wallet = createWalletClient({ account: funder as Address, transport });
    const hash = await wallet.sendTransaction({ to, value: parseEther(ether), chain: null });
    await pub.waitForTransactionReceipt({ hash });
    return pub;
  };

  test('a key shared with the server sends an EIP-1559 transfer the node mines', async () => {
    const k = await cli(['keygen', '--scheme', 'ecdsa'], env);
    assert.equal(k.code, 0, JSON.stringify(k.json));
    const keyId = k.json.keyId as string;
    const a = await cli(['eth', 'address', '--key', keyId], env);
    const address = a.json.address as Address;
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);
    assert.notEqual(address, address.toLowerCase(), 'checksummed');

    const pub = await fund(address, '10');
    const before = await pub.getBalance({ address: RECIPIENT });
    const sent = await cli(
      ['eth', 'send', '--key', keyId, '--rpc', rpc, '--to', RECIPIENT, '--value', '1.5'],
      env
    );
    assert.equal(sent.code, 0, JSON.stringify(sent.json));
    assert.deepEqual(Object.keys(sent.json), ['hash']);
    const receipt = await pub.getTransactionReceipt({ hash: sent.json.hash as Hex });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.from.toLowerCase(), address.toLowerCase());
    assert.equal(receipt.type, 'eip1559');
    assert.equal((await pub.getBalance({ address: RECIPIENT })) - before, parseEther('1.5'));
    const left = await pub.getBalance({ address });
    assert.equal(left, parseEther('8.5') - receipt.gasUsed * receipt.effectiveGasPrice);

    // The server parsed the transaction itself: its fields are in the audit log.
    const audit = await server.srv.store.listAudit({ keyId, limit: 20 });
    const start = audit.find((e) => e.action === 'sign.start' && e.details?.kind === 'eip1559');
    assert.equal(start?.details?.to, RECIPIENT.toLowerCase());
    assert.equal(start?.details?.value, parseEther('1.5').toString());
    assert.equal(start?.details?.chainId, 31337);

    // EIP-191 through the server, checked by ethers.
    const m = await cli(
      ['eth', 'sign-message', '--key', keyId, '--message', 'gm from tessera'],
      env
    );
    assert.match(m.json.signature as string, /^0x[0-9a-f]{130}$/);
    assert.equal(ethersVerifyMessage('gm from tessera', m.json.signature as string), address);

    // EIP-712 through the server, checked by viem.
    const typedData = {
      domain: { name: 'Tessera', version: '1', chainId: 31337 },
      types: {
        Order: [
          { name: 'amount', type: 'uint256' },
          { name: 'to', type: 'address' },
        ],
      },
      primaryType: 'Order',
      message: { amount: '1000', to: RECIPIENT },
    };
    const file = join(tmp('typed'), 'order.json');
    writeFileSync(file, JSON.stringify(typedData));
    const t = await cli(['eth', 'sign-typed-data', '--key', keyId, '--data', file], env);
    assert.equal(t.code, 0, JSON.stringify(t.json));
    assert.ok(
      await verifyTypedData({
        address,
        ...typedData,
        message: { amount: 1000n, to: RECIPIENT },
        signature: t.json.signature as Hex,
      } as Parameters<typeof verifyTypedData>[0])
    );

    // The policy refuses before round 1: too much value, or another destination.
    const sessionsBefore = await server.srv.store.countSignSessions(k.json.keyId as string, 0);
    for (const [to, value, why] of [
      [RECIPIENT, '3', /above the limit/],
      ['0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', '0.1', /destination/i],
    ] as const) {
      const r = await cli(
        ['eth', 'send', '--key', keyId, '--rpc', rpc, '--to', to, '--value', value],
        env
      );
      assert.equal(r.code, 1);
      assert.equal(r.json.error?.code, 'POLICY_DENIED');
      assert.match((r.json.error as unknown as { message: string }).message, why);
    }
    assert.equal(
      await server.srv.store.countSignSessions(k.json.keyId as string, 0),
      sessionsBefore,
      'no session started for a refused transfer'
    );
  });

  test('a local key file (no server) sends a transfer too', async () => {
    const file = join(tmp('local'), 'key.json');
    const k = await cli(['keygen', '--scheme', 'ecdsa', '--local', file], env);
    assert.equal(k.code, 0, JSON.stringify(k.json));
    const { address } = (await cli(['eth', 'address', '--local', file], env)).json as {
      address: Address;
    };
    const pub = await fund(address, '1');
    const sent = await cli(
      ['eth', 'send', '--local', file, '--rpc', rpc, '--to', RECIPIENT, '--value', '0.25'],
      env
    );
    assert.equal(sent.code, 0, JSON.stringify(sent.json));
    assert.equal(
      (await pub.getTransactionReceipt({ hash: sent.json.hash as Hex })).status,
      'success'
    );
    const bad = await cli(['eth', 'address', '--local', file, '--key', 'a'.repeat(64)], env);
    assert.equal(bad.code, 2, 'exactly one of --key and --local');
  });
});
