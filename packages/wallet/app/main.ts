/**
 * The wallet page: a hash router over the screens. `#token=…` in the address (what an operator
 * hands out with `tessera token`) signs in and is then removed from the address bar and history.
 * @module
 */
import { deviceSignScreen, findPeers, startServing } from './screens/devices.ts';
import { keysScreen } from './screens/keys.ts';
import { signTransaction } from './screens/sign.ts';
import { serverStatus } from './screens/status.ts';
import { unlockScreen } from './screens/unlock.ts';
import { errorBanner, showScreen } from './ui.ts';
import { Wallet } from './wallet.ts';

const wallet = new Wallet();
/** Who served the page: the co-signing server's screens, or the relay's device-to-device ones. */
let mode: 'server' | 'relay' = 'server';

/** `#token=…` in the address: signs in, and leaves the address bar and history at once. */
async function takeToken(): Promise<void> {
  const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  if (!token) return;
  history.replaceState(null, '', `${location.pathname}${location.search}#/status`);
  await wallet.call('configure', { token });
}

async function route(): Promise<void> {
  try {
    await takeToken();
  } catch (e) {
    showScreen('Tessera wallet', errorBanner(e));
    return;
  }
  const [path, query] = location.hash.replace(/^#/, '').split('?') as [string, string | undefined];
  const params = new URLSearchParams(query);
  try {
    const lock = await wallet.call('lockState');
    if (lock.passphrase && !lock.unlocked) return unlockScreen(wallet, () => void route());
    if (path === '/keys') return await keysScreen(wallet);
    if (path === '/peers') return await findPeers(wallet);
    if (path === '/device-sign') return await deviceSignScreen(wallet, params.get('key'));
    if (path === '/sign' && mode === 'server')
      return await signTransaction(wallet, params.get('key'));
    return mode === 'relay' ? await findPeers(wallet) : await serverStatus(wallet);
  } catch (e) {
    showScreen('Tessera wallet', errorBanner(e));
  }
}

async function start(): Promise<void> {
  // Only a window may ask (StorageManager.persist is not exposed to workers): keep IndexedDB, and
  // with it the shares, from eviction under storage pressure.
  void navigator.storage?.persist?.().catch(() => false);
  try {
    mode = await wallet.call('mode');
  } catch {}
  for (const a of document.querySelectorAll<HTMLElement>('nav [data-mode]'))
    a.hidden = a.dataset.mode !== mode;
  window.addEventListener('hashchange', () => void route());
  await route();
  if (mode === 'relay' && (await wallet.call('device'))) startServing(wallet);
}

void start();
