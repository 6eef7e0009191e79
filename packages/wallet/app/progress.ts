/**
 * A protocol run's progress as the seeds show it: three named stages, each pending, running or
 * done. The protocols have their own number of steps; the stages split them in thirds, and the
 * step counter under them is exact.
 * @module
 */
import type { Progress } from '@tessera/client';
import { h } from './ui.ts';

export function progressList(stages: readonly [string, string, string]): {
  el: HTMLElement;
  update: (p: Progress) => void;
  finish: () => void;
} {
  const items = stages.map((s, i) =>
    h('li', { 'data-state': i === 0 ? 'running' : 'pending' }, `Round ${i + 1}: ${s}`)
  );
  const step = h(
    'p',
    { class: 'muted', 'aria-live': 'polite', 'data-testid': 'step' },
    'starting…'
  );
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'protocol progress' });
  const set = (done: number) =>
    items.forEach((li, i) => {
      li.dataset.state = i < done ? 'done' : i === done ? 'running' : 'pending';
    });
  return {
    el: h('div', { class: 'progress' }, h('ol', { class: 'stages' }, ...items), bar, step),
    update: (p) => {
      set(Math.min(2, Math.floor((3 * (p.round - 1)) / p.totalRounds)));
      bar.value = (p.round - 1) / p.totalRounds;
      step.textContent = `step ${p.round} of ${p.totalRounds}`;
    },
    finish: () => {
      set(3);
      bar.value = 1;
      step.textContent = 'done';
    },
  };
}
