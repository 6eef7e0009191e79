/**
 * Server Status (seed 000, 6.1): the connection and its measured latency, the server's version,
 * the worker's secp256k1 arithmetic (libsecp256k1 in WebAssembly, or noble and why),
 * the newest key's public key and when it was last refreshed; sign-in with an access token; the
 * primary button starts a remote key generation.
 * @module
 */
import type { Scheme } from '@tessera/client';
import { ago, errorBanner, field, h, input, showScreen, spaced } from '../ui.ts';
import type { Wallet } from '../wallet.ts';
import { remoteKeyGen } from './keygen.ts';

const STATUS_POLL_MS = 5000;

export async function serverStatus(wallet: Wallet): Promise<void> {
  const conn = await wallet.call('connection');
  const arithmetic = await wallet.call('arithmetic');
  const connection = h('span', { 'data-testid': 'connection' }, 'Connecting…');
  const version = h('span', { 'data-testid': 'server-version' }, '…');
  const keys = (await wallet.call('keys')).sort((a, b) => (b.updatedAt ?? 0) - (a.updatedAt ?? 0));
  const newest = keys[0];
  const errors = h('div', {});

  const scheme = input(
    'Key type',
    { id: 'keygen-scheme' },
    'select',
    h('option', { value: 'ecdsa' }, 'ECDSA secp256k1 (Ethereum, Bitcoin)'),
    h('option', { value: 'ed25519' }, 'Ed25519 (Solana)'),
    h('option', { value: 'bip340' }, 'BIP-340 Schnorr (Taproot)')
  );
  const start = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-testid': 'start-keygen',
      onclick: () => void remoteKeyGen(wallet, scheme.el.value as Scheme),
    },
    'Remote KeyGen'
  );

  const server = input('Server address', { id: 'server-url', type: 'url', value: conn.server });
  const token = input('Access token', {
    id: 'access-token',
    autocomplete: 'off',
    placeholder: conn.signedIn ? 'signed in (paste a new token to replace it)' : 'eyJ…',
  });
  const signIn = h(
    'form',
    {
      class: 'card',
      'aria-label': 'Sign in',
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        errors.replaceChildren();
        try {
          const t = token.el.value.trim();
          await wallet.call('configure', {
            server: server.el.value,
            ...(t ? { token: t } : {}),
          });
          await serverStatus(wallet);
        } catch (e) {
          errors.replaceChildren(errorBanner(e));
        }
      },
    },
    server.row,
    token.row,
    h('button', { type: 'submit' }, conn.signedIn ? 'Save' : 'Sign in')
  );

  const section = showScreen(
    'Server Status',
    h(
      'dl',
      {},
      field('Connection', connection),
      field('Server Version', version),
      field(
        'Arithmetic',
        h(
          'span',
          { 'data-testid': 'arithmetic', title: arithmetic.warning ?? '' },
          arithmetic.backend === 'libsecp256k1-wasm'
            ? 'libsecp256k1 (WebAssembly)'
            : `${arithmetic.backend}${arithmetic.warning ? ' (slower: WebAssembly did not load)' : ''}`
        )
      ),
      field('Public Key', newest ? spaced(newest.publicKey) : 'no key yet', 'public-key'),
      field(
        'Last Refresh',
        newest?.updatedAt ? ago(newest.updatedAt) : newest ? 'not recorded' : '—'
      )
    ),
    errors,
    conn.signedIn ? h('div', { class: 'card' }, scheme.row, start) : null,
    h('details', { open: !conn.signedIn }, h('summary', {}, 'Server and access token'), signIn)
  );

  const poll = async () => {
    if (!section.isConnected) return;
    try {
      const s = await wallet.call('status');
      connection.textContent = `● Connected (latency: ${s.latencyMs}ms)`;
      connection.dataset.state = 'connected';
      version.textContent = s.version;
      if (errors.querySelector('[data-code="TRANSPORT"]')) errors.replaceChildren();
    } catch (e) {
      connection.textContent = '○ Not connected';
      connection.dataset.state = 'disconnected';
      errors.replaceChildren(errorBanner(e));
    }
    setTimeout(poll, STATUS_POLL_MS);
  };
  await poll();
}
