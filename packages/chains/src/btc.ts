/**
 * Bitcoin: addresses and PSBT signing with @scure/btc-signer, the signatures coming from a
 * `SigningBackend`.
 *
 * - P2WPKH (BIP-143): a DKLs23 `ecdsa` key. The sighash goes to the backend as a raw digest
 *   (`{ kind: 'digest' }`); the partial signature is DER plus the sighash byte.
 * - P2TR key path (BIP-341): a FROST `bip340` key whose shares carry the Taproot tweak
 *   (`taprootTweak`, docs/protocols/frost.md). The 32-byte sighash goes as `{ kind: 'message' }`
 *   (BIP-340 signs it as is); the signature is `tapKeySig`.
 *
 * The sighashes are the library's own (`preimageWitnessV0` / `preimageWitnessV1`), and every
 * signature is verified (noble's `secp256k1.verify` with low-s, `schnorr.verify`: the primitives
 * btc-signer itself signs with) before it is added to the PSBT.
 *
 * Remote keys: @tessera/api has no PSBT payload, so a P2WPKH sighash reaches the server as a blind
 * digest (its key needs a blind-signing policy), and a Taproot sighash as a `taproot` payload,
 * blind as well. Amounts of P2WPKH inputs come from `witnessUtxo` (or `nonWitnessUtxo`
 * when present, which the library checks against the txid): BIP-143 signs the amount, but a
 * witnessUtxo-only PSBT is trusted for the fee.
 *
 * Remote Taproot keys: wrap the `RemoteBackend` in `taprootRemoteBackend`, whose `taproot`
 * payloads make the server and the client tweak their shares before signing. A bare
 * `RemoteBackend` of a bip340 key reports the internal key, which cannot spend a Taproot output:
 * `signPsbt` recognises it and refuses with `TAPROOT_KEY_UNTWEAKED`.
 * @module
 */
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, concatBytes, equalBytes } from '@noble/curves/utils.js';
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
import { getPrevOut } from '@scure/btc-signer/transaction.js';
import type { BTC_NETWORK } from '@scure/btc-signer/utils.js';
import { type KeyShare, taprootTweak } from '@tessera/core';
import { LocalBackend, type SigningBackend } from './backend.ts';
import { ChainError } from './errors.ts';

/** Network names `btcNetwork` knows. */
export type BtcNetworkName = 'mainnet' | 'testnet' | 'regtest';

/** @scure/btc-signer network parameters (bech32 prefix, base58 versions). */
export type BtcNetwork = BTC_NETWORK;

/** Bitcoin Core's regtest: testnet's base58 versions, bech32 prefix `bcrt`. */
const REGTEST_NETWORK: BTC_NETWORK = Object.freeze({
  bech32: 'bcrt',
  pubKeyHash: 0x6f,
  scriptHash: 0xc4,
  wif: 0xef,
});

/**
 * The @scure/btc-signer network object for a name: `NETWORK` (mainnet, `bc`), `TEST_NETWORK`
 * (testnet and signet, `tb`) or regtest (`bcrt`). Throws `ChainError` `INVALID_PARAMS`.
 */
export function btcNetwork(name: BtcNetworkName): BtcNetwork {
  switch (name) {
    case 'mainnet':
      return NETWORK;
    case 'testnet':
      return TEST_NETWORK;
    case 'regtest':
      return REGTEST_NETWORK;
    default:
      throw new ChainError('INVALID_PARAMS', `unknown Bitcoin network ${JSON.stringify(name)}`, {
        hints: ['use mainnet, testnet or regtest'],
      });
  }
}

const networkOf = (n: BtcNetworkName | BtcNetwork): BtcNetwork =>
  typeof n === 'string' ? btcNetwork(n) : n;

function p2wpkhOf(publicKey: Uint8Array, network?: BtcNetwork) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 33)
    throw new ChainError('INVALID_PARAMS', 'P2WPKH needs a 33-byte compressed secp256k1 key');
  try {
    return p2wpkh(publicKey, network);
  } catch (e) {
    throw new ChainError('INVALID_PARAMS', 'not a valid secp256k1 public key', { cause: e });
  }
}

function p2trOf(internalKey: Uint8Array, network?: BtcNetwork) {
  if (!(internalKey instanceof Uint8Array) || internalKey.length !== 32)
    throw new ChainError('INVALID_PARAMS', 'P2TR needs a 32-byte x-only internal key');
  try {
    return p2tr(internalKey, undefined, network);
  } catch (e) {
    throw new ChainError('INVALID_PARAMS', 'not a valid x-only secp256k1 key', { cause: e });
  }
}

/** The P2WPKH address (`bc1q…`, `tb1q…`, `bcrt1q…`) of a 33-byte compressed key. */
export function p2wpkhAddress(publicKey: Uint8Array, network: BtcNetworkName | BtcNetwork): string {
  return p2wpkhOf(publicKey, networkOf(network)).address;
}

/**
 * The key-path-only P2TR address (BIP-86: no script tree; `bc1p…`, `tb1p…`, `bcrt1p…`) of a
 * 32-byte x-only *internal* key, e.g. the untweaked `share.publicKey` of a `bip340` key. The
 * address holds the tweaked output key, which `taprootBackend` signs for.
 */
export function p2trAddress(internalKey: Uint8Array, network: BtcNetworkName | BtcNetwork): string {
  return p2trOf(internalKey, networkOf(network)).address;
}

/**
 * A local backend for Taproot key-path spending: tweaks each (untweaked) `bip340` share with
 * `taprootTweak` (no script tree) and signs with them in process. Its `publicKey` is the x-only
 * output key, the one in `p2trAddress(share.publicKey, …)`. Pass at least a signing quorum of
 * shares of one key. Throws `ChainError` `UNSUPPORTED_SCHEME` for non-`bip340` shares.
 *
 * Remote keys: `taprootRemoteBackend`.
 */
export function taprootBackend(shares: KeyShare[]): LocalBackend {
  if (!Array.isArray(shares) || shares.length === 0)
    throw new ChainError('INVALID_PARAMS', 'taprootBackend: no shares');
  for (const s of shares) {
    if (s?.scheme !== 'bip340')
      throw new ChainError(
        'UNSUPPORTED_SCHEME',
        `Taproot needs a bip340 key; party ${s?.partyId} holds a ${s?.scheme} share`
      );
  }
  return new LocalBackend(shares.map((s) => taprootTweak(s)));
}

/**
 * A `bip340` key shared with the co-signing server, for Taproot key-path spending: its
 * `publicKey` is the x-only output key, and each sighash goes as a `taproot` payload, so that
 * both the server and the client tweak their shares (BIP-341, no script tree) before signing.
 * The server treats a sighash as blind signing: the key's policy must allow it.
 */
export function taprootRemoteBackend(remote: SigningBackend): SigningBackend {
  if (remote.scheme !== 'bip340')
    throw new ChainError('UNSUPPORTED_SCHEME', `Taproot needs a bip340 key, not ${remote.scheme}`);
  const outputKey = p2tr(remote.publicKey).tweakedPubkey;
  return {
    scheme: 'bip340',
    publicKey: outputKey,
    async sign(payload) {
      if (payload.kind !== 'message' || payload.message.length !== 64)
        throw new ChainError('INVALID_PARAMS', 'a Taproot key signs 32-byte sighashes only');
      return remote.sign({ kind: 'taproot', sighash: payload.message });
    },
  };
}

/** The keys `signPsbt` signs with: either or both. */
export interface PsbtSigners {
  /** An `ecdsa` key: signs P2WPKH inputs paying to its key hash. */
  ecdsa?: SigningBackend;
  /**
   * A `bip340` key holding *tweaked* shares (`taprootBackend`): signs P2TR key-path inputs whose
   * output key is its `publicKey`.
   */
  taproot?: SigningBackend;
}

export interface SignPsbtOptions {
  /** Network for the addresses in the result (`signed[].address`); mainnet by default. */
  network?: BtcNetworkName | BtcNetwork;
}

/** One input `signPsbt` signed. */
export interface SignedPsbtInput {
  index: number;
  kind: 'p2wpkh' | 'p2tr';
  /** The address the input spends from. */
  address: string;
  /** The sighash type signed (P2WPKH: `ALL`; P2TR: `DEFAULT` or `ALL`). */
  sighashType: number;
}

export interface SignPsbtResult {
  /** The PSBT with our inputs signed and finalised. */
  psbt: Uint8Array;
  /** True when every input is final (ours and any finalised before). */
  complete: boolean;
  /** The raw network transaction (hex) when `complete`, else null. */
  txHex: string | null;
  /** The inputs signed here, in order. */
  signed: SignedPsbtInput[];
}

/**
 * Signs every PSBT input that belongs to one of `signers` and finalises it:
 *
 * - P2WPKH inputs whose previous output pays to `p2wpkh(signers.ecdsa.publicKey)`: BIP-143 sighash
 *   (`SIGHASH_ALL` only), signed as a digest, added as `partialSig` (DER ‖ sighash byte).
 * - P2TR inputs whose previous output is `OP_1 <signers.taproot.publicKey>` (the tweaked output
 *   key): BIP-341 key-path sighash (`SIGHASH_DEFAULT` or `ALL`), added as `tapKeySig`.
 *
 * Other inputs are left as they are (already finalised ones included); the transaction is extracted
 * when every input is final. Each signature is verified before it is added; the PSBT is only
 * returned when all of ours are good.
 *
 * Throws `ChainError`: `INVALID_PSBT` (does not parse; previous outputs missing; finalisation
 * fails), `UNSUPPORTED_SCHEME`, `SIGHASH_NOT_ALLOWED` (NONE, SINGLE, ANYONECANPAY: they would
 * let others change what is paid), `TAPROOT_KEY_UNTWEAKED` (the Taproot backend holds the internal
 * key of an input: use `taprootBackend`), `SIGNATURE_INVALID` (a backend's signature does not
 * verify), `NOTHING_TO_SIGN` (no input is ours). Backend errors propagate unchanged.
 */
export async function signPsbt(
  psbt: Uint8Array,
  signers: PsbtSigners,
  opts: SignPsbtOptions = {}
): Promise<SignPsbtResult> {
  const network = networkOf(opts.network ?? 'mainnet');
  const { ecdsa, taproot } = signers ?? {};
  if (!ecdsa && !taproot)
    throw new ChainError('INVALID_PARAMS', 'signPsbt: give an ecdsa and/or a taproot signer');
  if (ecdsa && (ecdsa.scheme !== 'ecdsa' || ecdsa.publicKey.length !== 33))
    throw new ChainError(
      'UNSUPPORTED_SCHEME',
      `P2WPKH needs an ecdsa key, not ${ecdsa.scheme} (signers.ecdsa)`
    );
  if (taproot && (taproot.scheme !== 'bip340' || taproot.publicKey.length !== 32))
    throw new ChainError(
      'UNSUPPORTED_SCHEME',
      `P2TR needs a bip340 key, not ${taproot.scheme} (signers.taproot)`
    );
  let tx: Transaction;
  try {
    tx = Transaction.fromPSBT(psbt);
  } catch (e) {
    throw new ChainError('INVALID_PSBT', `the PSBT does not parse: ${(e as Error).message}`, {
      cause: e,
    });
  }

  // What our inputs look like.
  const wpkh = ecdsa ? p2wpkhOf(ecdsa.publicKey) : undefined;
  const trScript = taproot
    ? OutScript.encode({ type: 'tr', pubkey: taproot.publicKey })
    : undefined;
  // The output script if `taproot` held the untweaked internal key: recognised, then refused.
  const untweakedScript = taproot ? p2trOf(taproot.publicKey).script : undefined;

  const prevOuts = Array.from({ length: tx.inputsLength }, (_, i) => {
    try {
      return getPrevOut(tx.getInput(i));
    } catch {
      return undefined;
    }
  });
  const signed: SignedPsbtInput[] = [];

  for (let i = 0; i < tx.inputsLength; i++) {
    const input = tx.getInput(i);
    const prev = prevOuts[i];
    if (!prev || input.finalScriptWitness?.length || input.finalScriptSig?.length) continue;

    if (ecdsa && wpkh && equalBytes(prev.script, wpkh.script)) {
      const sighashType = input.sighashType ?? SigHash.ALL;
      if (sighashType !== SigHash.ALL) throw sighashRefused(i, sighashType);
      // BIP-143 scriptCode of P2WPKH: the P2PKH script of the key hash.
      const scriptCode = OutScript.encode({ type: 'pkh', hash: wpkh.hash });
      const digest = tx.preimageWitnessV0(i, scriptCode, sighashType, prev.amount);
      const { signature } = await ecdsa.sign({ kind: 'digest', digest: bytesToHex(digest) });
      let der: Uint8Array;
      try {
        if (
          !(signature instanceof Uint8Array) ||
          signature.length !== 64 ||
          !secp256k1.verify(signature, digest, ecdsa.publicKey, { prehash: false, lowS: true })
        )
          throw new Error('does not verify');
        der = secp256k1.Signature.fromBytes(signature, 'compact').toBytes('der');
      } catch (e) {
        throw new ChainError(
          'SIGNATURE_INVALID',
          `input ${i}: the ecdsa backend's signature does not verify (low-s) under its key`,
          { inputIndex: i, cause: e }
        );
      }
      tx.updateInput(
        i,
        { partialSig: [[ecdsa.publicKey, concatBytes(der, Uint8Array.of(sighashType))]] },
        true
      );
      signed.push({
        index: i,
        kind: 'p2wpkh',
        address: addressOf(prev.script, network),
        sighashType,
      });
      continue;
    }

    if (taproot && trScript && equalBytes(prev.script, trScript)) {
      const sighashType = input.sighashType ?? SigHash.DEFAULT;
      if (sighashType !== SigHash.DEFAULT && sighashType !== SigHash.ALL)
        throw sighashRefused(i, sighashType);
      // BIP-341 commits to every input's amount and script.
      const missing = prevOuts.indexOf(undefined);
      if (missing >= 0)
        throw new ChainError(
          'INVALID_PSBT',
          `input ${missing} has no previous output (witnessUtxo): a Taproot sighash commits to every input's amount and script`,
          { inputIndex: missing }
        );
      const all = prevOuts as NonNullable<(typeof prevOuts)[number]>[];
      const sighash = tx.preimageWitnessV1(
        i,
        all.map((p) => p.script),
        sighashType,
        all.map((p) => p.amount)
      );
      const { signature } = await taproot.sign({ kind: 'message', message: bytesToHex(sighash) });
      if (
        !(signature instanceof Uint8Array) ||
        signature.length !== 64 ||
        !schnorr.verify(signature, sighash, taproot.publicKey)
      )
        throw new ChainError(
          'SIGNATURE_INVALID',
          `input ${i}: the taproot backend's signature does not verify under the output key`,
          { inputIndex: i }
        );
      const tapKeySig =
        sighashType === SigHash.DEFAULT
          ? signature
          : concatBytes(signature, Uint8Array.of(sighashType));
      tx.updateInput(i, { tapKeySig }, true);
      signed.push({
        index: i,
        kind: 'p2tr',
        address: addressOf(prev.script, network),
        sighashType,
      });
      continue;
    }

    if (untweakedScript && equalBytes(prev.script, untweakedScript))
      throw new ChainError(
        'TAPROOT_KEY_UNTWEAKED',
        `input ${i} pays to the Taproot output of the taproot signer's key, but the signer holds the internal (untweaked) key`,
        {
          inputIndex: i,
          hints: ['sign with taprootBackend(shares): it applies the BIP-341 tweak to the shares'],
        }
      );
  }

  if (signed.length === 0)
    throw new ChainError('NOTHING_TO_SIGN', 'no input of this PSBT belongs to the given keys', {
      hints: [
        'P2WPKH inputs need witnessUtxo paying to the ecdsa key; P2TR inputs to the tweaked output key',
      ],
    });

  let txHex: string | null = null;
  try {
    for (const s of signed) tx.finalizeIdx(s.index);
    if (tx.isFinal) txHex = bytesToHex(tx.extract());
  } catch (e) {
    throw new ChainError('INVALID_PSBT', `cannot finalise: ${(e as Error).message}`, { cause: e });
  }
  return { psbt: tx.toPSBT(), complete: txHex !== null, txHex, signed };
}

/** The address an output script pays to. */
const addressOf = (script: Uint8Array, network: BtcNetwork): string =>
  Address(network).encode(OutScript.decode(script));

const sighashRefused = (i: number, t: number): ChainError =>
  new ChainError(
    'SIGHASH_NOT_ALLOWED',
    `input ${i} asks for sighash type 0x${t.toString(16)}; only SIGHASH_ALL (and SIGHASH_DEFAULT for Taproot) is signed`,
    { inputIndex: i }
  );
