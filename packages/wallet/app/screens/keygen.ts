/**
 * Remote KeyGen (seed 000, 6.1): a 2-of-2 key generated with the co-signing server, stage by
 * stage; when it finishes, the public key in hex.
 * @module
 */
import type { Scheme } from '@tessera/client';
import { progressList } from '../progress.ts';
import { errorBanner, field, h, showScreen } from '../ui.ts';
import type { Wallet } from '../wallet.ts';

const CURVE: Record<Scheme, string> = {
  ecdsa: 'secp256k1 (ECDSA, DKLs23)',
  ed25519: 'Ed25519 (FROST)',
  bip340: 'secp256k1 (BIP-340 Schnorr, FROST)',
};

export async function remoteKeyGen(wallet: Wallet, scheme: Scheme): Promise<void> {
  const progress = progressList(['Generate commitment', 'Exchange shares', 'Verify key']);
  const outcome = h('div', { 'aria-live': 'polite' });
  showScreen(
    'Remote KeyGen',
    progress.el,
    h('p', {}, 'Connected to server'),
    h('p', { class: 'muted' }, `Generating key with commitment server… ${CURVE[scheme]}`),
    outcome
  );
  try {
    const key = await wallet.call(
      'createKey',
      { scheme, label: `wallet ${scheme}` },
      { onProgress: progress.update }
    );
    progress.finish();
    outcome.replaceChildren(
      h('h2', {}, 'Key generated'),
      h(
        'dl',
        {},
        field('Public Key', key.publicKey, 'public-key'),
        field('Key ID', key.keyId, 'key-id')
      ),
      h('a', { class: 'button primary', href: `#/sign?key=${key.keyId}` }, 'Sign Transaction'),
      ' ',
      h('a', { class: 'button', href: '#/keys' }, 'Keys')
    );
  } catch (e) {
    outcome.replaceChildren(errorBanner(e), h('a', { class: 'button', href: '#/status' }, 'Back'));
  }
}
