// A one-page wallet: what a browser app bundles to create a key with the co-signing server and
// sign with it. Built by the bundle benchmark and the installed-package test, never served.
import { MemoryShareStore, TesseraClient } from '@tessera/client';
import { derivePublic } from '@tessera/core';

const out = document.getElementById('out');
const client = new TesseraClient({
  server: location.origin,
  token: async () => sessionStorage.getItem('token') ?? '',
  store: new MemoryShareStore(),
  transport: 'ws',
});

document.getElementById('sign')?.addEventListener('click', async () => {
  const key = await client.createKey({ scheme: 'ecdsa', label: 'browser' });
  const signature = await client.sign(key.keyId, { message: '68656c6c6f', hash: 'sha256' });
  const group = Uint8Array.from(key.publicKey.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
  const child = derivePublic('ecdsa', group, new Uint8Array(32), 'm/0');
  if (out)
    out.textContent = JSON.stringify({ key, signature, child: child.groupKey.length }, null, 2);
});
