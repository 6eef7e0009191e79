/**
 * Device-to-device (seed 004), with the wallet opened from a relay: Find Peers (this browser's
 * device, its paired devices, an invite to hand over or one to join with: a browser has no
 * mDNS), Verify Peer (the 6-digit code both users compare), KeyGen in Progress and Key Generated,
 * a signing request and, on the other device, Sign Request to approve or deny.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { DeviceProgress, DeviceRequest, PeerRecord, Scheme } from '@tessera/client';
import { progressList } from '../progress.ts';
import { WalletError, type WalletEvent, type WalletQuestion } from '../rpc.ts';
import { errorBanner, field, h, input, onLeave, short, showScreen } from '../ui.ts';
import type { Wallet } from '../wallet.ts';
import { signatureReady } from './sign.ts';

const SCHEMES: [Scheme, string][] = [
  ['ecdsa', 'ECDSA secp256k1'],
  ['ed25519', 'Ed25519'],
  ['bip340', 'BIP-340 Schnorr'],
];

/** Verify Peer: resolves with the user's decision on the code. */
function verifyPeer(code: string): Promise<boolean> {
  return new Promise((resolve) => {
    showScreen(
      'Verify Peer',
      h('p', {}, 'Confirm this code appears on both devices:'),
      h(
        'p',
        { class: 'code', 'data-testid': 'pairing-code', 'aria-label': `code ${code}` },
        code.split('').join(' ')
      ),
      h('button', { type: 'button', class: 'primary', onclick: () => resolve(true) }, 'Verify'),
      ' ',
      h('button', { type: 'button', onclick: () => resolve(false) }, 'The codes differ')
    );
    onLeave(() => resolve(false));
  });
}

const onCode = async (q: WalletQuestion) => q.type === 'code' && verifyPeer(q.code);

function stagesFor(op: 'keygen' | 'sign'): [string, string, string] {
  return op === 'keygen'
    ? ['Generate shares', 'Exchange commitments', 'Verify public key']
    : ['Generate nonce', 'Compute partial sig', 'Final signature'];
}

/** Core's progress of a device run, onto the three stages; round 0 waits for the approval. */
function deviceProgress(list: ReturnType<typeof progressList>, note: HTMLElement) {
  return (e: WalletEvent) => {
    if (e.type !== 'device-progress') return;
    const p: DeviceProgress = e.progress;
    if (p.round === 0) note.textContent = 'Waiting for the other device to approve…';
    else {
      note.textContent = p.label;
      list.update({
        phase: p.op === 'keygen' ? 'keygen' : 'sign',
        round: p.round,
        totalRounds: p.totalRounds,
      });
    }
  };
}

async function deviceKeygen(wallet: Wallet, peer: PeerRecord, scheme: Scheme): Promise<void> {
  const list = progressList(stagesFor('keygen'));
  const note = h('p', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'device-note' });
  const outcome = h('div', {});
  showScreen(
    'KeyGen in Progress',
    list.el,
    h('p', {}, `Connected to ${peer.name}`),
    h(
      'p',
      { class: 'muted' },
      `Generating 256-bit key on ${scheme === 'ed25519' ? 'Ed25519' : 'secp256k1'}…`
    ),
    note,
    outcome
  );
  try {
    const key = await wallet.call(
      'deviceKeygen',
      { peer: peer.fingerprint, scheme, label: `with ${peer.name}` },
      { onEvent: deviceProgress(list, note) }
    );
    list.finish();
    keyGenerated(key.keyId, key.publicKey, peer.name);
  } catch (e) {
    outcome.replaceChildren(errorBanner(e), h('a', { class: 'button', href: '#/peers' }, 'Back'));
  }
}

function keyGenerated(keyId: string, publicKey: string, peerName: string): void {
  showScreen(
    'Key Generated',
    h('p', { class: 'ok', role: 'status' }, '✓ Both devices hold a share of the new key.'),
    h(
      'dl',
      {},
      field('Your Key Share', 'x₀ (stored in this browser, encrypted under a non-extractable key)'),
      field('Public Key (Shared)', publicKey, 'public-key'),
      field('Key ID', keyId, 'key-id'),
      field('Made with', peerName)
    ),
    h('a', { class: 'button primary', href: `#/device-sign?key=${keyId}` }, 'Sign'),
    ' ',
    h('a', { class: 'button', href: '#/peers' }, 'Complete')
  );
}

/** The requesting device's side of a signature: what, why, then Signing… and Signature Ready. */
export async function deviceSignScreen(wallet: Wallet, keyId: string | null): Promise<void> {
  const key = (await wallet.call('keys')).find((k) => k.keyId === keyId && k.peer);
  if (!key?.peer) {
    showScreen(
      'Sign Message',
      h('p', {}, 'No such device key. '),
      h('a', { href: '#/peers' }, 'Find Peers')
    );
    return;
  }
  const peer = key.peer;
  const message = input(
    'Message',
    { id: 'device-message', value: 'Approve transaction' },
    'textarea'
  );
  const purpose = input('Purpose (shown to the other device)', {
    id: 'device-purpose',
    value: 'Approve transaction',
  });
  const errors = h('div', {});
  showScreen(
    'Sign Message',
    h(
      'dl',
      {},
      field('Key', `${key.label} · ${key.scheme} · ${short(key.publicKey)}`),
      field('Other device', peer.name)
    ),
    h(
      'form',
      {
        'aria-label': 'Sign with the other device',
        onsubmit: async (ev: Event) => {
          ev.preventDefault();
          const bytes = utf8ToBytes(message.el.value);
          const list = progressList(stagesFor('sign'));
          const note = h('p', {
            class: 'muted',
            'aria-live': 'polite',
            'data-testid': 'device-note',
          });
          const outcome = h('div', {});
          showScreen(
            'Signing in Progress',
            list.el,
            h('p', {}, 'Connected to peer'),
            note,
            h('p', { class: 'muted' }, 'Processing MPC protocol…'),
            outcome
          );
          try {
            const sig = await wallet.call(
              'deviceSign',
              {
                keyId: key.keyId,
                message: bytesToHex(bytes),
                ...(key.scheme === 'ecdsa' ? { hash: 'sha256' as const } : {}),
                purpose: purpose.el.value,
              },
              { onEvent: deviceProgress(list, note) }
            );
            list.finish();
            signatureReady(key, { bytes: key.scheme === 'ecdsa' ? sha256(bytes) : bytes }, sig);
          } catch (e) {
            outcome.replaceChildren(
              errorBanner(e),
              h('a', { class: 'button', href: '#/peers' }, 'Back')
            );
          }
        },
      },
      message.row,
      purpose.row,
      errors,
      h('button', { type: 'submit', class: 'primary' }, 'Sign')
    )
  );
}

/** Find Peers: this device, its peers (each ready to make a key with), pairing by invite. */
export async function findPeers(wallet: Wallet): Promise<void> {
  const device = await wallet.call('device');
  const errors = h('div', {});
  if (!device) {
    const name = input("This device's name", {
      id: 'device-name',
      value: 'My browser',
      maxlength: '64',
    });
    showScreen(
      'Find Peers',
      h('p', {}, 'Name this device: the other device shows this name when you pair.'),
      h(
        'form',
        {
          'aria-label': 'Name this device',
          onsubmit: async (ev: Event) => {
            ev.preventDefault();
            try {
              await wallet.call('deviceInit', { name: name.el.value.trim() });
              await findPeers(wallet);
              startServing(wallet);
            } catch (e) {
              errors.replaceChildren(errorBanner(e));
            }
          },
        },
        name.row,
        h('button', { type: 'submit', class: 'primary' }, 'Create device')
      ),
      errors
    );
    return;
  }
  const peers = await wallet.call('peers');
  const keys = (await wallet.call('keys')).filter((k) => k.peer);
  const scheme = input(
    'Key type',
    { id: 'device-scheme' },
    'select',
    ...SCHEMES.map(([v, l]) => h('option', { value: v }, l))
  );
  const inviteOut = h('div', { 'aria-live': 'polite' });
  const joinInput = input(
    'Invite from the other device',
    { id: 'join-invite', rows: '3', spellcheck: 'false' },
    'textarea'
  );

  const pairDone = (peer: PeerRecord) => {
    void findPeers(wallet).then(() => {
      document
        .getElementById('screen')
        ?.prepend(h('p', { class: 'ok', role: 'status' }, `Paired with ${peer.name}.`));
    });
  };
  const pairFailed = (e: unknown) => {
    void findPeers(wallet).then(() => document.getElementById('screen')?.prepend(errorBanner(e)));
  };

  showScreen(
    'Find Peers',
    h(
      'dl',
      {},
      field('This device', `${device.name} · ${short(device.fingerprint, 8)}`, 'device-name')
    ),
    h('h2', {}, 'Peers List'),
    peers.length === 0
      ? h('p', { class: 'muted' }, 'No paired device yet.')
      : h(
          'ul',
          { class: 'peers' },
          ...peers.map((p) =>
            h(
              'li',
              { 'data-testid': 'peer', 'data-fingerprint': p.fingerprint },
              h('strong', {}, p.name),
              ` · ${short(p.fingerprint, 8)} · Ready `,
              h(
                'button',
                {
                  type: 'button',
                  onclick: () => void deviceKeygen(wallet, p, scheme.el.value as Scheme),
                },
                `KeyGen with ${p.name}`
              )
            )
          )
        ),
    peers.length > 0 ? scheme.row : null,
    keys.length > 0
      ? h(
          'div',
          {},
          h('h2', {}, 'Device keys'),
          h(
            'ul',
            {},
            ...keys.map((k) =>
              h(
                'li',
                {},
                `${k.label} · ${k.scheme} · ${short(k.publicKey)} `,
                h('a', { href: `#/device-sign?key=${k.keyId}` }, 'Sign')
              )
            )
          )
        )
      : null,
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Pair a device'),
      h(
        'p',
        { class: 'muted' },
        'Browsers cannot discover devices nearby: one device makes an invite, the other pastes it, then both compare a 6-digit code.'
      ),
      h(
        'button',
        {
          type: 'button',
          'data-testid': 'invite',
          onclick: () => {
            inviteOut.replaceChildren(h('p', { class: 'muted' }, 'Creating an invite…'));
            wallet
              .call('pairInvite', undefined, {
                onEvent: (e) => {
                  if (e.type !== 'invite') return;
                  inviteOut.replaceChildren(
                    h('label', { for: 'invite-code' }, 'Invite: copy it to the other device'),
                    h(
                      'textarea',
                      {
                        id: 'invite-code',
                        readonly: true,
                        rows: '4',
                        'data-testid': 'invite-code',
                      },
                      e.invite
                    ),
                    h('p', { class: 'muted' }, 'Waiting for the other device…')
                  );
                },
                onAsk: onCode,
              })
              .then(pairDone, pairFailed);
          },
        },
        'Invite a device'
      ),
      inviteOut,
      h(
        'form',
        {
          'aria-label': 'Join with an invite',
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            wallet
              .call('pairJoin', { invite: joinInput.el.value }, { onAsk: onCode })
              .then(pairDone, pairFailed);
          },
        },
        joinInput.row,
        h('button', { type: 'submit' }, 'Join')
      )
    ),
    errors
  );
}

/** The serving side's approval: Sign Request (or a key generation request). */
function approveScreen(r: DeviceRequest): Promise<boolean> {
  return new Promise((resolve) => {
    const sign = r.op === 'sign';
    showScreen(
      sign ? 'Sign Request' : 'KeyGen Request',
      h(
        'dl',
        {},
        sign ? field('Message Hash', r.signing ?? '', 'request-hash') : field('Key type', r.scheme),
        sign ? field('Purpose', r.purpose ?? '', 'request-purpose') : field('Label', r.label ?? ''),
        field('Requesting Party', r.from.name, 'request-from')
      ),
      sign
        ? h('p', { class: 'muted' }, 'The purpose is what the other device says; check the hash.')
        : null,
      h(
        'button',
        { type: 'button', class: 'primary', onclick: () => resolve(true) },
        sign ? 'Sign' : 'Approve'
      ),
      ' ',
      h('button', { type: 'button', onclick: () => resolve(false) }, 'Deny')
    );
    onLeave(() => resolve(false));
  });
}

let serving = false;

/** Answers paired devices in the background while the page is open (relay mode). */
export function startServing(wallet: Wallet): void {
  if (serving) return;
  serving = true;
  let current: ReturnType<typeof progressList> | null = null;
  /** The keys before a key generation was approved: the new one is the one not among them. */
  let known = new Set<string>();
  wallet
    .call('serve', undefined, {
      onAsk: async (q) => {
        if (q.type !== 'approve') return false;
        known = new Set((await wallet.call('keys')).map((k) => k.keyId));
        const yes = await approveScreen(q.request);
        if (yes) {
          current = progressList(stagesFor(q.request.op));
          showScreen(
            q.request.op === 'sign' ? 'Signing in Progress' : 'KeyGen in Progress',
            current.el,
            h('p', {}, `Connected to ${q.request.from.name}`),
            h('p', { class: 'muted' }, 'Processing MPC protocol…')
          );
        }
        return yes;
      },
      onEvent: (e) => {
        if (e.type !== 'served') return;
        const { request, outcome, code, message } = e.served;
        if (outcome === 'denied') {
          location.hash = '#/peers';
          return;
        }
        current?.finish();
        if (outcome === 'failed') {
          showScreen(
            'Find Peers',
            errorBanner(new WalletError(code ?? 'FAILED', message ?? 'the request failed')),
            h('a', { href: '#/peers' }, 'Back')
          );
          return;
        }
        if (request.op === 'keygen') {
          void wallet.call('keys').then((keys) => {
            const k = keys.find(
              (x) => x.peer?.fingerprint === request.from.fingerprint && !known.has(x.keyId)
            );
            if (k) keyGenerated(k.keyId, k.publicKey, request.from.name);
          });
        } else {
          showScreen(
            'Signed',
            h(
              'p',
              { 'data-testid': 'served' },
              `You co-signed for ${request.from.name}; the signature is on that device.`
            ),
            h('a', { class: 'button', href: '#/peers' }, 'Done')
          );
        }
      },
    })
    .catch(() => {})
    .finally(() => {
      serving = false;
    });
}
