/**
 * The page of the wallet bench's Chromium section: starts the worker (worker.ts) with the run
 * counts from its address and leaves the worker's results in `window.benchResult` for the bench.
 */
const params = new URLSearchParams(location.search);
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
worker.onmessage = (ev: MessageEvent) => {
  (window as unknown as { benchResult: unknown }).benchResult = ev.data;
};
worker.onerror = (ev: ErrorEvent) => {
  (window as unknown as { benchResult: unknown }).benchResult = { error: ev.message };
};
worker.postMessage({
  keygens: Number(params.get('keygens') ?? 5),
  signs: Number(params.get('signs') ?? 10),
});
