/**
 * Keys: every key this wallet holds, with refresh, passphrase backup export and import, and the
 * wallet passphrase that adds a second layer over the stored shares.
 * @module
 */

import { progressList } from '../progress.ts';
import type { WalletKey } from '../rpc.ts';
import { ago, errorBanner, field, h, input, short, showScreen } from '../ui.ts';
import type { Wallet } from '../wallet.ts';

function download(name: string, bytes: Uint8Array): HTMLAnchorElement {
  const url = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' })
  );
  return h(
    'a',
    { href: url, download: name, class: 'button', 'data-testid': 'backup-download' },
    `Download ${name}`
  );
}

function keyCard(wallet: Wallet, k: WalletKey, index: number): HTMLElement {
  const out = h('div', { 'aria-live': 'polite' });
  const passphrase = input('Backup passphrase', {
    id: `backup-pass-${index}`,
    type: 'password',
    autocomplete: 'new-password',
  });
  const refresh = async () => {
    const progress = progressList(['Exchange commitments', 'Exchange new shares', 'Confirm epoch']);
    out.replaceChildren(progress.el);
    try {
      const r = await wallet.call('refresh', { keyId: k.keyId }, { onProgress: progress.update });
      progress.finish();
      out.replaceChildren(
        h('p', { 'data-testid': 'refreshed' }, `Refreshed: epoch ${short(r.epoch)}`)
      );
    } catch (e) {
      out.replaceChildren(errorBanner(e));
    }
  };
  const exportBackup = async (ev: Event) => {
    ev.preventDefault();
    out.replaceChildren(h('p', { class: 'muted' }, 'Encrypting (Argon2id)…'));
    try {
      const blob = await wallet.call('exportBackup', {
        keyId: k.keyId,
        passphrase: passphrase.el.value,
      });
      passphrase.el.value = '';
      out.replaceChildren(download(`tessera-${k.keyId.slice(0, 8)}.backup`, blob));
    } catch (e) {
      out.replaceChildren(errorBanner(e));
    }
  };
  return h(
    'article',
    { class: 'card', 'data-testid': 'key', 'data-key-id': k.keyId },
    h('h2', {}, k.label || k.keyId.slice(0, 8)),
    h(
      'dl',
      {},
      field('Scheme', k.scheme),
      field('Public Key', k.publicKey, 'key-public'),
      field('Key ID', k.keyId),
      field('Epoch', short(k.epoch)),
      field('Last Refresh', k.updatedAt ? ago(k.updatedAt) : 'not recorded'),
      k.refreshRequired ? field('Note', 'restored from a backup: refresh before signing') : null
    ),
    h(
      'a',
      {
        class: 'button primary',
        href: k.peer ? `#/device-sign?key=${k.keyId}` : `#/sign?key=${k.keyId}`,
      },
      'Sign'
    ),
    ' ',
    h('button', { type: 'button', onclick: () => void refresh() }, 'Refresh'),
    h(
      'form',
      { 'aria-label': `Export a backup of ${k.label}`, onsubmit: exportBackup },
      passphrase.row,
      h('button', { type: 'submit' }, 'Export backup')
    ),
    out
  );
}

function importForm(wallet: Wallet): HTMLElement {
  const out = h('div', { 'aria-live': 'polite' });
  const file = input('Backup file', { id: 'import-file', type: 'file' });
  const passphrase = input('Passphrase', {
    id: 'import-pass',
    type: 'password',
    autocomplete: 'off',
  });
  return h(
    'form',
    {
      class: 'card',
      'aria-label': 'Import a backup',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const f = file.el.files?.[0];
        if (!f) return;
        out.replaceChildren(h('p', { class: 'muted' }, 'Decrypting (Argon2id)…'));
        try {
          const blob = new Uint8Array(await f.arrayBuffer());
          const k = await wallet.call('importBackup', { blob, passphrase: passphrase.el.value });
          out.replaceChildren(
            h(
              'p',
              { 'data-testid': 'imported' },
              `Imported ${short(k.publicKey)}: refresh it before it signs.`
            )
          );
        } catch (e) {
          out.replaceChildren(errorBanner(e));
        }
      },
    },
    h('h2', {}, 'Import a backup'),
    file.row,
    passphrase.row,
    h('button', { type: 'submit' }, 'Import'),
    out
  );
}

function passphraseForm(wallet: Wallet, has: boolean): HTMLElement {
  const out = h('div', { 'aria-live': 'polite' });
  const pass = input(has ? 'New wallet passphrase' : 'Wallet passphrase', {
    id: 'wallet-pass',
    type: 'password',
    autocomplete: 'new-password',
  });
  return h(
    'form',
    {
      class: 'card',
      'aria-label': 'Set the wallet passphrase',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        out.replaceChildren(h('p', { class: 'muted' }, 'Re-encrypting the shares (Argon2id)…'));
        try {
          await wallet.call('setPassphrase', { passphrase: pass.el.value });
          pass.el.value = '';
          out.replaceChildren(h('p', {}, 'The shares are now under the passphrase as well.'));
        } catch (e) {
          out.replaceChildren(errorBanner(e));
        }
      },
    },
    h('h2', {}, 'Wallet passphrase'),
    h(
      'p',
      { class: 'muted' },
      'Optional: shares are always encrypted under a key this browser cannot export; a passphrase adds a layer the wallet asks for when it opens.'
    ),
    pass.row,
    h('button', { type: 'submit' }, has ? 'Change passphrase' : 'Set passphrase'),
    out
  );
}

export async function keysScreen(wallet: Wallet): Promise<void> {
  const [keys, lock] = await Promise.all([wallet.call('keys'), wallet.call('lockState')]);
  showScreen(
    'Keys',
    keys.length === 0 ? h('p', {}, 'No key yet: start one on Server Status.') : null,
    ...keys.map((k, i) => keyCard(wallet, k, i)),
    importForm(wallet),
    passphraseForm(wallet, lock.passphrase)
  );
}
