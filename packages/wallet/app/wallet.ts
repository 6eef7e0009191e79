/**
 * The page's handle on the worker: typed calls that resolve with the worker's result, report
 * progress and waiting on the way, and reject with a `WalletError` carrying a stable code.
 * @module
 */
import type { Progress } from '@tessera/client';
import {
  type AnswerMessage,
  type CallName,
  type Calls,
  WalletError,
  type WalletEvent,
  type WalletQuestion,
  type WorkerMessage,
} from './rpc.ts';

export interface CallHooks {
  onProgress?: (p: Progress) => void;
  /** Another tab holds the key's lock: the call waits for it. */
  onWaiting?: () => void;
  onEvent?: (e: WalletEvent) => void;
  /** A question for the user (a pairing code to compare, a request to approve); no hook: no. */
  onAsk?: (q: WalletQuestion) => Promise<boolean>;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: WalletError) => void;
  hooks: CallHooks;
}

export class Wallet {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  constructor() {
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.#worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const m = ev.data;
      const p = this.#pending.get(m.id);
      if (!p) return;
      if (m.kind === 'progress') p.hooks.onProgress?.(m.progress);
      else if (m.kind === 'waiting') p.hooks.onWaiting?.();
      else if (m.kind === 'event') p.hooks.onEvent?.(m.event);
      else if (m.kind === 'ask') {
        const answer = p.hooks.onAsk ? p.hooks.onAsk(m.question) : Promise.resolve(false);
        void answer
          .catch(() => false)
          .then((yes) => this.#worker.postMessage({ ask: m.ask, yes } satisfies AnswerMessage));
      } else {
        this.#pending.delete(m.id);
        if (m.kind === 'result') p.resolve(m.value);
        else p.reject(new WalletError(m.code, m.message));
      }
    };
    this.#worker.onerror = (ev) => {
      for (const p of this.#pending.values())
        p.reject(new WalletError('INTERNAL', `the wallet worker failed: ${ev.message}`));
      this.#pending.clear();
    };
  }

  call<N extends CallName>(
    call: N,
    ...[arg, hooks]: Calls[N][0] extends undefined
      ? [undefined?, CallHooks?]
      : [Calls[N][0], CallHooks?]
  ): Promise<Calls[N][1]> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        hooks: hooks ?? {},
      });
      this.#worker.postMessage({ id, call, arg });
    });
  }
}
