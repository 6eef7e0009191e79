/**
 * Sign Transaction → Signing in Progress → Signature Ready (seed 000, 6.2). An ECDSA key signs an
 * EIP-1559 transaction the page builds from a form or that is pasted: the page shows the hash
 * the server will co-sign, the amount and the recipient, all parsed with the same code the
 * server uses. An Ed25519 or BIP-340 key signs a message. The finished signature is verified in
 * the page before it is shown as valid.
 * @module
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { type SignPayload, signingInput } from '@tessera/api';
import type { Signature } from '@tessera/client';
import {
  formatEther,
  type Hex,
  parseEther,
  parseGwei,
  parseTransaction,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from 'viem';
import { progressList } from '../progress.ts';
import { WalletError, type WalletKey } from '../rpc.ts';
import { errorBanner, field, h, input, short, showScreen, spaced } from '../ui.ts';
import type { Wallet } from '../wallet.ts';

interface Prepared {
  payload: SignPayload;
  /** What the key signs: the digest (ECDSA) or the message bytes. */
  bytes: Uint8Array;
  summary: HTMLElement[];
  tx?: TransactionSerializableEIP1559;
}

function prepareTransaction(raw: string): Prepared {
  const hex = (raw.startsWith('0x') ? raw : `0x${raw}`) as Hex;
  const tx = parseTransaction(hex);
  if (tx.type !== 'eip1559') throw new Error('not an EIP-1559 transaction (type 0x02)');
  if ('r' in tx && tx.r) throw new Error('this transaction is already signed');
  const payload: SignPayload = { kind: 'eip1559', transaction: hex.slice(2).toLowerCase() };
  const input = signingInput('ecdsa', payload);
  const amount = `${formatEther(input.value ?? 0n)} ETH to ${input.to ? short(input.to, 6) : '(contract creation)'}`;
  return {
    payload,
    bytes: input.bytes,
    tx: tx as TransactionSerializableEIP1559,
    summary: [
      field('Hash', bytesToHex(input.bytes), 'hash'),
      field('Amount', amount, 'amount'),
      field('Recipient', input.to ?? '(contract creation)', 'recipient'),
      field('Chain', String(input.chainId ?? '?')),
    ],
  };
}

function verified(key: WalletKey, bytes: Uint8Array, sig: Signature): string {
  const pub = hexToBytes(key.publicKey);
  const s = hexToBytes(sig.signature);
  if (key.scheme === 'ecdsa')
    return secp256k1.verify(s, bytes, pub, { prehash: false }) ? 'Valid for secp256k1' : 'INVALID';
  if (key.scheme === 'ed25519')
    return ed25519.verify(s, bytes, pub) ? 'Valid for Ed25519' : 'INVALID';
  return schnorr.verify(s, bytes, pub.subarray(1)) ? 'Valid for BIP-340 (secp256k1)' : 'INVALID';
}

async function signingInProgress(wallet: Wallet, key: WalletKey, p: Prepared): Promise<void> {
  const progress = progressList(['Nonce exchange', 'Partial signatures', 'Combine']);
  const waiting = h('p', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'waiting' });
  const outcome = h('div', {});
  showScreen(
    'Signing in Progress',
    progress.el,
    waiting,
    h('p', { class: 'muted' }, 'Running 3-round MPC…'),
    outcome
  );
  let sig: Signature;
  try {
    sig = await wallet.call(
      'sign',
      { keyId: key.keyId, payload: p.payload },
      {
        onProgress: (pr) => {
          waiting.textContent = '';
          progress.update(pr);
        },
        onWaiting: () => {
          waiting.textContent = 'Waiting: another tab is using this key…';
        },
      }
    );
  } catch (e) {
    outcome.replaceChildren(errorBanner(e), h('a', { class: 'button', href: '#/keys' }, 'Back'));
    return;
  }
  progress.finish();
  signatureReady(key, p, sig);
}

/** Signature Ready: the signature, verified here under the key before it is called valid. */
export function signatureReady(
  key: WalletKey,
  p: Pick<Prepared, 'bytes' | 'tx'>,
  sig: Signature
): void {
  const signedTx =
    p.tx && sig.r && sig.s && sig.recovery !== undefined
      ? serializeTransaction(p.tx, { r: `0x${sig.r}`, s: `0x${sig.s}`, yParity: sig.recovery })
      : null;
  showScreen(
    'Signature Ready',
    h(
      'dl',
      {},
      sig.der
        ? field('Signature (DER)', spaced(sig.der), 'signature-der')
        : field('Signature', spaced(sig.signature), 'signature'),
      field('Verification', verified(key, p.bytes, sig), 'verification'),
      h('div', { hidden: true, 'data-testid': 'signature-raw' }, sig.signature),
      signedTx ? field('Signed transaction', signedTx, 'signed-tx') : null
    ),
    h('a', { class: 'button primary', href: '#/status' }, 'Done')
  );
}

const DEFAULT_TO = '0x1234567890abcdef1234567890abcdef12345678';

export async function signTransaction(wallet: Wallet, keyId: string | null): Promise<void> {
  const keys = await wallet.call('keys');
  const key = keys.find((k) => k.keyId === keyId) ?? keys[0];
  if (!key) {
    showScreen(
      'Sign Transaction',
      h('p', {}, 'No key yet. '),
      h('a', { class: 'button primary', href: '#/status' }, 'Generate one')
    );
    return;
  }
  const status = h('span', { 'data-testid': 'connection' }, '…');
  wallet.call('status').then(
    (s) => {
      status.textContent = `Connected (${s.latencyMs}ms)`;
    },
    () => {
      status.textContent = 'Not connected';
    }
  );
  const summary = h('div', { 'aria-live': 'polite' });
  const errors = h('div', {});
  let prepared: Prepared | null = null;
  const signButton = h('button', { type: 'submit', class: 'primary', disabled: true }, 'Sign');

  const show = (make: () => Prepared) => {
    errors.replaceChildren();
    try {
      prepared = make();
      summary.replaceChildren(h('dl', {}, ...prepared.summary));
      signButton.disabled = false;
    } catch (e) {
      prepared = null;
      summary.replaceChildren();
      signButton.disabled = true;
      errors.replaceChildren(
        errorBanner(new WalletError('BAD_INPUT', (e as Error).message.split('\n')[0] ?? ''))
      );
    }
  };

  const message = input('Message', { id: 'sign-message', value: 'Hello from Tessera' }, 'textarea');
  const fromMessage = () =>
    show(() => {
      const bytes = utf8ToBytes(message.el.value);
      if (key.scheme !== 'ecdsa')
        return {
          payload: { kind: 'message', message: bytesToHex(bytes) },
          bytes,
          summary: [field('Message bytes', String(bytes.length))],
        };
      // ECDSA signs a digest: the message's SHA-256, which the server cannot interpret (blind).
      const digest = sha256(bytes);
      return {
        payload: { kind: 'message', message: bytesToHex(bytes), hash: 'sha256' },
        bytes: digest,
        summary: [field('Hash', bytesToHex(digest), 'hash')],
      };
    });
  message.el.addEventListener('input', fromMessage);
  const messageForm = h('fieldset', {}, h('legend', {}, 'Message'), message.row);

  let form: HTMLElement;
  if (key.scheme === 'ecdsa') {
    const to = input('Recipient', { id: 'tx-to', value: DEFAULT_TO, spellcheck: 'false' });
    const value = input('Amount (ETH)', { id: 'tx-value', value: '1.5', inputmode: 'decimal' });
    const chainId = input('Chain ID', { id: 'tx-chain', value: '1', inputmode: 'numeric' });
    const nonce = input('Nonce', { id: 'tx-nonce', value: '0', inputmode: 'numeric' });
    const maxFee = input('Max fee (gwei)', { id: 'tx-maxfee', value: '30', inputmode: 'decimal' });
    const tip = input('Priority fee (gwei)', { id: 'tx-tip', value: '1', inputmode: 'decimal' });
    const gas = input('Gas limit', { id: 'tx-gas', value: '21000', inputmode: 'numeric' });
    const raw = input(
      'Or paste an unsigned EIP-1559 transaction (hex)',
      {
        id: 'tx-raw',
        spellcheck: 'false',
        rows: '3',
      },
      'textarea'
    );
    const build = () =>
      serializeTransaction({
        type: 'eip1559',
        chainId: Number(chainId.el.value),
        nonce: Number(nonce.el.value),
        to: to.el.value.trim() as Hex,
        value: parseEther(value.el.value.trim()),
        maxFeePerGas: parseGwei(maxFee.el.value.trim()),
        maxPriorityFeePerGas: parseGwei(tip.el.value.trim()),
        gas: BigInt(gas.el.value.trim()),
      });
    const fromForm = () => show(() => prepareTransaction(build()));
    for (const f of [to, value, chainId, nonce, maxFee, tip, gas])
      f.el.addEventListener('input', fromForm);
    raw.el.addEventListener('input', () =>
      raw.el.value.trim() ? show(() => prepareTransaction(raw.el.value.trim())) : fromForm()
    );
    const txForm = h(
      'fieldset',
      {},
      h('legend', {}, 'EIP-1559 transaction'),
      to.row,
      value.row,
      chainId.row,
      nonce.row,
      maxFee.row,
      tip.row,
      gas.row,
      raw.row
    );
    const what = input(
      'What to sign',
      { id: 'sign-what' },
      'select',
      h('option', { value: 'tx' }, 'EIP-1559 transaction'),
      h('option', { value: 'message' }, 'Message (SHA-256)')
    );
    const choose = () => {
      const tx = what.el.value === 'tx';
      txForm.hidden = !tx;
      messageForm.hidden = tx;
      if (tx) fromForm();
      else fromMessage();
    };
    what.el.addEventListener('change', choose);
    form = h('div', {}, what.row, txForm, messageForm);
    choose();
  } else {
    form = messageForm;
    fromMessage();
  }

  showScreen(
    'Sign Transaction',
    h(
      'dl',
      {},
      field('Key', `${key.label} · ${key.scheme} · ${short(key.publicKey)}`, 'sign-key'),
      field('Server Status', status)
    ),
    h(
      'form',
      {
        'aria-label': 'Sign',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          if (prepared) void signingInProgress(wallet, key, prepared);
        },
      },
      form,
      summary,
      errors,
      signButton
    )
  );
}
