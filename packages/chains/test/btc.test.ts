/**
 * Bitcoin: PSBTs built with @scure/btc-signer spending fake UTXOs on regtest, signed by a 2-of-2
 * DKLs23 key (P2WPKH) and a 2-of-3 FROST-BIP-340 key with the Taproot tweak (P2TR key path). The
 * final transaction is parsed again and every input signature is checked on its own: the sighash
 * recomputed by the library from the broadcast transaction, verified by noble and by
 * libsecp256k1 (tiny-secp256k1). Wrong signatures, wrong keys and risky sighash types are refused.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  Address,
  NETWORK,
  OutScript,
  p2tr,
  p2wpkh,
  SigHash,
  TEST_NETWORK,
  Transaction,
} from '@scure/btc-signer';
import type { SignPayload } from '@tessera/api';
import type { KeyShare } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import * as ecc from 'tiny-secp256k1';
import { LocalBackend, type SigningBackend } from '../src/backend.ts';
import {
  btcNetwork,
  p2trAddress,
  p2wpkhAddress,
  type SignPsbtResult,
  signPsbt,
  taprootBackend,
} from '../src/btc.ts';
import { ChainError, type ChainErrorCode } from '../src/errors.ts';

const REGTEST = btcNetwork('regtest');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const label = (s: string): Uint8Array => sha256(new TextEncoder().encode(s));

/** A destination on regtest that is nobody's key here. */
const elsewhere = p2wpkh(secp256k1.getPublicKey(label('elsewhere')), REGTEST);

interface Utxo {
  script: Uint8Array;
  amount: bigint;
  tapInternalKey?: Uint8Array;
  sighashType?: number;
}

/** An unsigned PSBT spending `utxos` (fake outpoints) to `elsewhere`, 1,000 sat fee per input. */
function buildPsbt(utxos: Utxo[]): Uint8Array {
  const tx = new Transaction();
  for (const [k, u] of utxos.entries()) {
    tx.addInput({
      txid: label(`utxo ${k} ${hex(u.script)}`),
      index: k,
      witnessUtxo: { script: u.script, amount: u.amount },
      ...(u.tapInternalKey ? { tapInternalKey: u.tapInternalKey } : {}),
      ...(u.sighashType === undefined ? {} : { sighashType: u.sighashType }),
    });
  }
  const total = utxos.reduce((a, u) => a + u.amount, 0n);
  tx.addOutputAddress(elsewhere.address, total - 1000n * BigInt(utxos.length), REGTEST);
  return tx.toPSBT();
}

/** A backend with `real`'s key that answers with whatever `sign` returns. */
function fakeBackend(
  real: SigningBackend,
  sign: (p: SignPayload) => Promise<{ signature: Uint8Array }>
): SigningBackend {
  return { scheme: real.scheme, publicKey: real.publicKey, sign };
}

async function expectChainError(p: Promise<unknown>, code: ChainErrorCode): Promise<ChainError> {
  let caught: ChainError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ChainError, `expected ChainError, got ${String(e)}`);
    assert.equal(e.code, code);
    caught = e;
    return true;
  });
  return caught as ChainError;
}

describe('bitcoin', () => {
  let ecdsaShares: KeyShare[];
  let ecdsaKey: LocalBackend;
  let bipShares: KeyShare[];
  /** Tweaked, parties 1 and 3. */
  let trKey: LocalBackend;
  /** x-only internal key P and output key Q. */
  let internal: Uint8Array;
  let outputKey: Uint8Array;
  let wpkhUtxo: Utxo;
  let trUtxo: Utxo;

  before(async () => {
    ecdsaShares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
    ecdsaKey = new LocalBackend(ecdsaShares);
    bipShares = await simulate.keygen('bip340', { threshold: 2, parties: 3 });
    internal = (bipShares[0] as KeyShare).publicKey;
    trKey = taprootBackend([bipShares[0], bipShares[2]] as KeyShare[]);
    outputKey = trKey.publicKey;
    wpkhUtxo = { script: p2wpkh(ecdsaKey.publicKey).script, amount: 150_000n };
    trUtxo = { script: p2tr(internal).script, amount: 260_000n, tapInternalKey: internal };
  });

  /**
   * Parses the final transaction from its hex and checks every input's witness by itself, with
   * the sighash recomputed from that transaction. Returns the parsed transaction.
   */
  function verifyFinal(res: SignPsbtResult, utxos: Utxo[]): Transaction {
    assert.equal(res.complete, true);
    assert.ok(res.txHex);
    const tx = Transaction.fromRaw(unhex(res.txHex));
    assert.equal(tx.inputsLength, utxos.length);
    assert.ok(Transaction.fromPSBT(res.psbt).isFinal, 'the returned PSBT is finalised');
    assert.equal(hex(Transaction.fromPSBT(res.psbt).extract()), res.txHex);
    for (const [i, u] of utxos.entries()) {
      const witness = tx.getInput(i).finalScriptWitness;
      assert.ok(witness, `input ${i} has a witness`);
      const out = OutScript.decode(u.script);
      if (out.type === 'wpkh') {
        assert.equal(witness.length, 2);
        const [sigWithType, pub] = witness as [Uint8Array, Uint8Array];
        assert.equal(hex(pub), hex(ecdsaKey.publicKey));
        assert.equal(sigWithType.at(-1), SigHash.ALL);
        const sig = secp256k1.Signature.fromBytes(sigWithType.subarray(0, -1), 'der');
        assert.equal(sig.hasHighS(), false, 'low s');
        const scriptCode = OutScript.encode({ type: 'pkh', hash: out.hash });
        const sighash = tx.preimageWitnessV0(i, scriptCode, SigHash.ALL, u.amount);
        const compact = sig.toBytes('compact');
        assert.ok(secp256k1.verify(compact, sighash, pub, { prehash: false }), `input ${i} noble`);
        assert.ok(ecc.verify(sighash, pub, compact, true), `input ${i} libsecp256k1 (strict)`);
      } else if (out.type === 'tr') {
        assert.equal(witness.length, 1);
        const type = u.sighashType ?? SigHash.DEFAULT;
        const w = witness[0] as Uint8Array;
        assert.equal(w.length, type === SigHash.DEFAULT ? 64 : 65);
        if (type !== SigHash.DEFAULT) assert.equal(w[64], type);
        const sig = w.subarray(0, 64);
        const sighash = tx.preimageWitnessV1(
          i,
          utxos.map((x) => x.script),
          type,
          utxos.map((x) => x.amount)
        );
        assert.ok(schnorr.verify(sig, sighash, out.pubkey), `input ${i} noble`);
        assert.ok(ecc.verifySchnorr(sighash, out.pubkey, sig), `input ${i} libsecp256k1`);
        assert.ok(!schnorr.verify(sig, sighash, internal), 'not valid under the internal key');
      } else assert.fail(`unexpected input type ${out.type}`);
    }
    return tx;
  }

  test('the Taproot output key is BIP-341’s tweak of the internal key', () => {
    assert.equal(hex(outputKey), hex(p2tr(internal).tweakedPubkey));
    const lib = ecc.xOnlyPointAddTweak(internal, tapTweak(internal));
    assert.ok(lib);
    assert.equal(hex(lib.xOnlyPubkey), hex(outputKey), 'libsecp256k1 agrees');
    assert.equal(hex(trUtxo.script), `5120${hex(outputKey)}`);
  });

  test('(a) P2WPKH input of a 2-of-2 ECDSA key', async () => {
    const utxos = [wpkhUtxo];
    const res = await signPsbt(buildPsbt(utxos), { ecdsa: ecdsaKey }, { network: 'regtest' });
    assert.deepEqual(res.signed, [
      {
        index: 0,
        kind: 'p2wpkh',
        address: p2wpkhAddress(ecdsaKey.publicKey, 'regtest'),
        sighashType: SigHash.ALL,
      },
    ]);
    const tx = verifyFinal(res, utxos);
    assert.equal(tx.getOutput(0).amount, 149_000n);
    assert.equal(
      Address(REGTEST).encode(OutScript.decode(tx.getOutput(0).script as Uint8Array)),
      elsewhere.address
    );
  });

  test('(b) P2TR key-path input of a 2-of-3 BIP-340 key with the Taproot tweak', async () => {
    const utxos = [trUtxo];
    const res = await signPsbt(buildPsbt(utxos), { taproot: trKey }, { network: 'regtest' });
    assert.deepEqual(res.signed, [
      {
        index: 0,
        kind: 'p2tr',
        address: p2trAddress(internal, 'regtest'),
        sighashType: SigHash.DEFAULT,
      },
    ]);
    verifyFinal(res, utxos);
  });

  test('(b′) P2TR with SIGHASH_ALL and without tapInternalKey; another signer pair (2, 3)', async () => {
    const utxos = [{ script: trUtxo.script, amount: 70_000n, sighashType: SigHash.ALL }];
    const other = taprootBackend([bipShares[1], bipShares[2]] as KeyShare[]);
    assert.equal(hex(other.publicKey), hex(outputKey));
    verifyFinal(await signPsbt(buildPsbt(utxos), { taproot: other }), utxos);
  });

  test('(c) one PSBT with a P2TR, a P2WPKH and a second P2TR input', async () => {
    const utxos = [trUtxo, wpkhUtxo, { ...trUtxo, amount: 5_000n }];
    const res = await signPsbt(
      buildPsbt(utxos),
      { ecdsa: ecdsaKey, taproot: trKey },
      { network: 'regtest' }
    );
    assert.deepEqual(
      res.signed.map((s) => [s.index, s.kind]),
      [
        [0, 'p2tr'],
        [1, 'p2wpkh'],
        [2, 'p2tr'],
      ]
    );
    verifyFinal(res, utxos);
  });

  test('inputs of other keys are left unsigned; the PSBT comes back incomplete', async () => {
    const foreign = { script: elsewhere.script, amount: 40_000n };
    const res = await signPsbt(buildPsbt([foreign, wpkhUtxo]), { ecdsa: ecdsaKey });
    assert.equal(res.complete, false);
    assert.equal(res.txHex, null);
    assert.deepEqual(
      res.signed.map((s) => s.index),
      [1]
    );
    const back = Transaction.fromPSBT(res.psbt);
    assert.equal(back.getInput(0).finalScriptWitness, undefined);
    assert.ok(back.getInput(1).finalScriptWitness?.length);
    assert.equal(back.isFinal, false);
  });

  test('addresses: mainnet, testnet and regtest prefixes; the networks are the library’s', () => {
    assert.equal(btcNetwork('mainnet'), NETWORK);
    assert.equal(btcNetwork('testnet'), TEST_NETWORK);
    assert.equal(REGTEST.bech32, 'bcrt');
    for (const [name, q, p] of [
      ['mainnet', 'bc1q', 'bc1p'],
      ['testnet', 'tb1q', 'tb1p'],
      ['regtest', 'bcrt1q', 'bcrt1p'],
    ] as const) {
      const a = p2wpkhAddress(ecdsaKey.publicKey, name);
      const b = p2trAddress(internal, name);
      assert.ok(a.startsWith(q), `${name}: ${a}`);
      assert.ok(b.startsWith(p), `${name}: ${b}`);
      assert.equal(a, p2wpkh(ecdsaKey.publicKey, btcNetwork(name)).address);
      assert.equal(p2wpkhAddress(ecdsaKey.publicKey, btcNetwork(name)), a);
      // The P2TR address decodes to the tweaked output key.
      const decoded = Address(btcNetwork(name)).decode(b);
      assert.equal(decoded.type, 'tr');
      assert.equal(hex((decoded as { pubkey: Uint8Array }).pubkey), hex(outputKey));
    }
    // BIP-341 vector 0 (no script tree): internal key → bc1p address.
    assert.equal(
      p2trAddress(
        unhex('d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d'),
        'mainnet'
      ),
      'bc1p2wsldez5mud2yam29q22wgfh9439spgduvct83k3pm50fcxa5dps59h4z5'
    );
    assert.throws(() => p2wpkhAddress(internal, 'mainnet'), ChainError);
    assert.throws(() => p2trAddress(ecdsaKey.publicKey, 'mainnet'), ChainError);
    assert.throws(() => p2trAddress(new Uint8Array(32).fill(0xff), 'mainnet'), ChainError);
    assert.throws(() => btcNetwork('signet' as never), ChainError);
  });

  describe('refusals', () => {
    test('an ECDSA backend returning a wrong signature (other digest, tampered, high s, short)', async () => {
      const psbt = buildPsbt([trUtxo, wpkhUtxo]);
      const otherDigest = async () =>
        ecdsaKey.sign({ kind: 'digest', digest: hex(label('not the sighash')) });
      const tampered = async (p: SignPayload) => {
        const { signature } = await ecdsaKey.sign(p);
        const bad = signature.slice();
        bad[40] = (bad[40] as number) ^ 1;
        return { signature: bad };
      };
      const highS = async (p: SignPayload) => {
        const { signature } = await ecdsaKey.sign(p);
        const s = secp256k1.Signature.fromBytes(signature, 'compact');
        const flipped = new secp256k1.Signature(s.r, secp256k1.Point.Fn.neg(s.s));
        // Still a valid ECDSA signature, but malleable: BIP-146 (and we) refuse it.
        const digest = unhex(p.kind === 'digest' ? p.digest : '');
        const opts = { prehash: false, lowS: false };
        assert.ok(secp256k1.verify(flipped.toBytes(), digest, ecdsaKey.publicKey, opts));
        return { signature: flipped.toBytes() };
      };
      const short = async () => ({ signature: new Uint8Array(63) });
      for (const sign of [otherDigest, tampered, highS, short]) {
        const e = await expectChainError(
          signPsbt(psbt, { ecdsa: fakeBackend(ecdsaKey, sign), taproot: trKey }),
          'SIGNATURE_INVALID'
        );
        assert.equal(e.inputIndex, 1);
      }
    });

    test('a Taproot backend returning a wrong signature (other message, tampered, untweaked key)', async () => {
      const psbt = buildPsbt([wpkhUtxo, trUtxo]);
      const untweaked = new LocalBackend([bipShares[0], bipShares[1]] as KeyShare[]);
      let calls = 0;
      const signs = [
        async () => trKey.sign({ kind: 'message', message: hex(label('something else')) }),
        async (p: SignPayload) => {
          const { signature } = await trKey.sign(p);
          const bad = signature.slice();
          bad[63] = (bad[63] as number) ^ 1;
          return { signature: bad };
        },
        // Signed by the internal key: valid BIP-340, but not under the output key.
        async (p: SignPayload) => untweaked.sign(p),
      ];
      for (const sign of signs) {
        const e = await expectChainError(
          signPsbt(psbt, {
            ecdsa: fakeBackend(ecdsaKey, (p) => {
              calls++;
              return ecdsaKey.sign(p);
            }),
            taproot: fakeBackend(trKey, sign),
          }),
          'SIGNATURE_INVALID'
        );
        assert.equal(e.inputIndex, 1);
      }
      assert.equal(calls, 3, 'the good input was signed, yet nothing came back');
    });

    test('a Taproot backend holding the untweaked key is recognised', async () => {
      const untweaked = new LocalBackend([bipShares[0], bipShares[1]] as KeyShare[]);
      const e = await expectChainError(
        signPsbt(buildPsbt([trUtxo]), { taproot: untweaked }),
        'TAPROOT_KEY_UNTWEAKED'
      );
      assert.equal(e.inputIndex, 0);
    });

    test('sighash types other than ALL (and DEFAULT for Taproot) are not signed', async () => {
      for (const [utxo, type] of [
        [wpkhUtxo, SigHash.NONE],
        [wpkhUtxo, SigHash.ALL_ANYONECANPAY],
        [trUtxo, SigHash.SINGLE],
        [trUtxo, SigHash.ALL_ANYONECANPAY],
      ] as const) {
        let asked = false;
        const spy = (k: SigningBackend) =>
          fakeBackend(k, (p) => {
            asked = true;
            return k.sign(p);
          });
        await expectChainError(
          signPsbt(buildPsbt([{ ...utxo, sighashType: type }]), {
            ecdsa: spy(ecdsaKey),
            taproot: spy(trKey),
          }),
          'SIGHASH_NOT_ALLOWED'
        );
        assert.equal(asked, false, 'no backend was asked');
      }
    });

    test('nothing to sign, wrong schemes, a broken PSBT', async () => {
      await expectChainError(
        signPsbt(buildPsbt([{ script: elsewhere.script, amount: 9_000n }]), { ecdsa: ecdsaKey }),
        'NOTHING_TO_SIGN'
      );
      // The P2WPKH input of a key is not the P2TR input of another, and vice versa.
      await expectChainError(signPsbt(buildPsbt([trUtxo]), { ecdsa: ecdsaKey }), 'NOTHING_TO_SIGN');
      await expectChainError(
        signPsbt(buildPsbt([wpkhUtxo]), { taproot: trKey }),
        'NOTHING_TO_SIGN'
      );
      await expectChainError(
        signPsbt(buildPsbt([wpkhUtxo]), { ecdsa: trKey }),
        'UNSUPPORTED_SCHEME'
      );
      await expectChainError(
        signPsbt(buildPsbt([trUtxo]), { taproot: ecdsaKey }),
        'UNSUPPORTED_SCHEME'
      );
      await expectChainError(signPsbt(buildPsbt([trUtxo]), {}), 'INVALID_PARAMS');
      await expectChainError(
        signPsbt(new Uint8Array([1, 2, 3]), { ecdsa: ecdsaKey }),
        'INVALID_PSBT'
      );
      assert.throws(
        () => taprootBackend(ecdsaShares),
        (e: unknown) => e instanceof ChainError && e.code === 'UNSUPPORTED_SCHEME'
      );
    });
  });
});

/** BIP-341 TapTweak of an x-only key with no script tree (tests only, spelled out). */
function tapTweak(xOnly: Uint8Array): Uint8Array {
  const tag = sha256(new TextEncoder().encode('TapTweak'));
  return sha256.create().update(tag).update(tag).update(xOnly).digest();
}
