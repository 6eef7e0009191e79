/** The wallet passphrase, asked for when the wallet opens with the passphrase layer on. */
import { errorBanner, h, input, showScreen } from '../ui.ts';
import type { Wallet } from '../wallet.ts';

export function unlockScreen(wallet: Wallet, then: () => void): void {
  const out = h('div', {});
  const pass = input('Wallet passphrase', {
    id: 'unlock-pass',
    type: 'password',
    autocomplete: 'current-password',
  });
  showScreen(
    'Unlock Wallet',
    h(
      'form',
      {
        'aria-label': 'Unlock',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          try {
            await wallet.call('unlock', { passphrase: pass.el.value });
            then();
          } catch (e) {
            out.replaceChildren(errorBanner(e));
          }
        },
      },
      pass.row,
      h('button', { type: 'submit', class: 'primary' }, 'Unlock')
    ),
    out
  );
}
