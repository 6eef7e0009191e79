/**
 * The wallet page: a hash router over the screens. `#token=…` in the address (what an operator
 * hands out with `tessera token`) signs in and is then removed from the address bar and history.
 * @module
 */
import { keysScreen } from './screens/keys.ts';
import { signTransaction } from './screens/sign.ts';
import { serverStatus } from './screens/status.ts';
import { unlockScreen } from './screens/unlock.ts';
import { errorBanner, showScreen } from './ui.ts';
import { Wallet } from './wallet.ts';

const wallet = new Wallet();

async function route(): Promise<void> {
  const [path, query] = location.hash.replace(/^#/, '').split('?') as [string, string | undefined];
  const params = new URLSearchParams(query);
  try {
    const lock = await wallet.call('lockState');
    if (lock.passphrase && !lock.unlocked) return unlockScreen(wallet, () => void route());
    if (path === '/keys') return await keysScreen(wallet);
    if (path === '/sign') return await signTransaction(wallet, params.get('key'));
    return await serverStatus(wallet);
  } catch (e) {
    showScreen('Tessera wallet', errorBanner(e));
  }
}

async function start(): Promise<void> {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = fragment.get('token');
  if (token) {
    history.replaceState(null, '', `${location.pathname}${location.search}#/status`);
    await wallet.call('configure', { token });
  }
  window.addEventListener('hashchange', () => void route());
  await route();
}

void start();
