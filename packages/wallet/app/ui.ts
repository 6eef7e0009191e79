/**
 * A few DOM helpers: elements built from data (never from HTML strings, so nothing a server or a
 * pasted transaction says can become markup), the screen frame, and errors in words.
 * @module
 */
import { WalletError } from './rpc.ts';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | boolean | ((ev: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(name.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(name, '');
    else el.setAttribute(name, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** A labelled value, as the seeds' screens show them (a term and its description). */
export function field(label: string, value: Child, testId?: string): HTMLElement {
  return h(
    'div',
    { class: 'field' },
    h('dt', {}, label),
    h('dd', testId ? { 'data-testid': testId } : {}, value)
  );
}

/** A labelled input: every control has a visible label tied to it. */
export function input(
  label: string,
  attrs: Attrs & { id: string },
  kind: 'input' | 'textarea' | 'select' = 'input',
  ...options: HTMLOptionElement[]
): { row: HTMLElement; el: HTMLInputElement & HTMLTextAreaElement & HTMLSelectElement } {
  const el = h(kind, attrs, ...options) as HTMLInputElement &
    HTMLTextAreaElement &
    HTMLSelectElement;
  return { row: h('div', { class: 'row' }, h('label', { for: attrs.id }, label), el), el };
}

/** What a user can do about each code they can act on. */
const ADVICE: Record<string, string> = {
  TRANSPORT: 'Server unreachable: check the server address and your connection, then retry.',
  UNAUTHORIZED:
    'Session expired or not signed in: paste a fresh access token on Server Status (tessera token).',
  SESSION_EXPIRED: 'The session expired before it finished: start again.',
  KEY_LOCKED:
    'Key locked: the server failed a protocol check, so this wallet refuses to sign with it until a refresh clears the ban.',
  WALLET_LOCKED: 'The wallet is locked: enter its passphrase to unlock it.',
  WRONG_PASSPHRASE: 'Wrong passphrase: nothing was changed. Check it and try again.',
  WEAK_PASSPHRASE:
    'That passphrase is too easy to guess: use at least 12 characters, not common words.',
  CODE_MISMATCH:
    'The codes do not match: someone may be in the middle. Pairing was refused; start again.',
  REFRESH_REQUIRED: 'This key came from a backup: refresh it before it signs.',
  INSECURE_RNG:
    "This browser's random number generator failed its check, so the wallet will not make keys or signatures here. Use another browser or device.",
};

export function errorText(e: unknown): { text: string; code: string } {
  const code = e instanceof WalletError ? e.code : 'INTERNAL';
  const message = e instanceof Error ? e.message : String(e);
  return { text: ADVICE[code] ?? message, code };
}

/** The error banner of a screen (announced by screen readers). */
export function errorBanner(e: unknown): HTMLElement {
  const { text, code } = errorText(e);
  return h(
    'div',
    { class: 'error', role: 'alert', 'data-testid': 'error', 'data-code': code },
    `${text} `,
    h('code', {}, `(${code})`)
  );
}

let leaving: (() => void) | null = null;

/**
 * Called once when the screen shown next replaces this one: a screen that waits for the user's
 * answer (a code to compare, a request to approve) answers no if the user goes elsewhere.
 */
export function onLeave(fn: () => void): void {
  leaving = fn;
}

/** Shows `title` and the screen's content in the app's main region. */
export function showScreen(title: string, ...content: Child[]): HTMLElement {
  const left = leaving;
  leaving = null;
  left?.();
  const main = document.getElementById('screen') as HTMLElement;
  const section = h(
    'section',
    { 'aria-labelledby': 'screen-title' },
    h('h1', { id: 'screen-title' }, title),
    ...content
  );
  main.replaceChildren(section);
  document.title = `${title} · Tessera wallet`;
  return section;
}

export const short = (hex: string, n = 10) =>
  hex.length > 2 * n ? `${hex.slice(0, n)}…${hex.slice(-n)}` : hex;

/** Groups a hex string in bytes, as the seeds print keys and signatures ("02 8a 7f …"). */
export const spaced = (hex: string) => hex.match(/../g)?.join(' ') ?? hex;

export function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
