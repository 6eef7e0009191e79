/**
 * The vocabulary of checks (`CHECKS`) and docs/errors.md say the same: every code and check core
 * can throw has a row in the document, and every row names a code or check that exists.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CHECKS, CORE_ERROR_CODES } from '@tessera/core';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** The names in backticks in the first cell of every table row of the document. */
function documentedNames(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = /^\|([^|]*)\|/.exec(line);
    if (!m?.[1] || /^[\s:-]*$/.test(m[1])) continue;
    for (const n of m[1].matchAll(/`([A-Za-z0-9_]+)`/g)) names.add(n[1] as string);
  }
  return names;
}

describe('docs/errors.md', () => {
  const documented = documentedNames(doc);

  test('has a row for every error code core throws', () => {
    const missing = Object.keys(CORE_ERROR_CODES).filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  });

  test('has a row for every check core throws', () => {
    const missing = Object.keys(CHECKS).filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `checks missing from docs/errors.md: ${missing.join(', ')}`);
  });

  test('names no check or code that core does not have', () => {
    const known = new Set([...Object.keys(CHECKS), ...Object.keys(CORE_ERROR_CODES)]);
    const unknown = [...documented].filter((n) => !known.has(n));
    assert.deepEqual(
      unknown,
      [],
      `rows of docs/errors.md name unknown checks: ${unknown.join(', ')}`
    );
  });
});

describe('CHECKS', () => {
  test('every check names a code of CORE_ERROR_CODES, a meaning and a culprit kind', () => {
    for (const [name, info] of Object.entries(CHECKS)) {
      assert.ok(Object.hasOwn(CORE_ERROR_CODES, info.code), `${name}: unknown code ${info.code}`);
      assert.ok(info.meaning.length > 0, `${name}: no meaning`);
      assert.ok(info.culprit.length > 0, `${name}: no culprit kind`);
    }
  });
});
