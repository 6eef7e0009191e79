/**
 * ECDSA (DKLs23) key generation and signing with every party in this Web Worker, as Silence
 * Labs' figures are measured: with libsecp256k1 in WebAssembly (what the web wallet's worker
 * installs), then with noble. Posts each case's times in ms, or the error.
 */
import { nobleSecp256k1, type Secp256k1Backend, useSecp256k1Backend } from '@tessera/core';
import { simulate } from '@tessera/core/testing';
import { loadLibsecp256k1WasmSync } from '@tessera/secp256k1-wasm';

/** One case, as ../chromium.ts reads it. */
interface ChromiumCase {
  label: string;
  backend: string;
  ms: number[];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function cases(backend: Secp256k1Backend, keygens: number, signs: number) {
  useSecp256k1Backend(backend);
  const out: ChromiumCase[] = [];
  // One unmeasured run of each first, so that every measured one runs on warm, compiled code.
  const shares = await simulate.keygen('ecdsa', { threshold: 2, parties: 2 });
  for (const [t, n] of [
    [2, 2],
    [2, 3],
  ] as const) {
    const ms: number[] = [];
    for (let i = 0; i < keygens; i++)
      ms.push(await timed(() => simulate.keygen('ecdsa', { threshold: t, parties: n })));
    out.push({ label: `key generation ${t}-of-${n}`, backend: backend.name, ms });
  }
  const digest = crypto.getRandomValues(new Uint8Array(32));
  await simulate.sign('ecdsa', shares, digest);
  const ms: number[] = [];
  for (let i = 0; i < signs; i++)
    ms.push(await timed(() => simulate.sign('ecdsa', shares, digest)));
  out.push({ label: 'signature 2-of-2', backend: backend.name, ms });
  return out;
}

self.onmessage = async (ev: MessageEvent<{ keygens: number; signs: number }>) => {
  try {
    const { keygens, signs } = ev.data;
    const wasm = await cases(loadLibsecp256k1WasmSync(), keygens, signs);
    const noble = await cases(nobleSecp256k1, Math.max(1, Math.round(keygens / 5)), signs);
    self.postMessage({ cases: [...wasm, ...noble], userAgent: navigator.userAgent });
  } catch (e) {
    self.postMessage({ error: String((e as Error).stack ?? e) });
  }
};
