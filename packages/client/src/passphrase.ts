/**
 * The strength rule for backup passphrases: at least 12 characters and a zxcvbn score of at
 * least 3 ("safely unguessable: moderate protection from an offline attack"), because a stolen
 * backup can be attacked offline at leisure and Argon2id only slows each guess down. The
 * estimator and its dictionaries (about 1.5 MB) load on first use, so pages that never export a
 * backup never download them.
 * @module
 */
import { ClientError } from './errors.ts';

const MIN_LENGTH = 12;
const MIN_SCORE = 3;

type Check = (passphrase: string) => { score: number; feedback: { warning: string | null } };
let estimator: Promise<Check> | undefined;

async function loadEstimator(): Promise<Check> {
  const [{ ZxcvbnFactory }, common, en] = await Promise.all([
    import('@zxcvbn-ts/core'),
    import('@zxcvbn-ts/language-common'),
    import('@zxcvbn-ts/language-en'),
  ]);
  const z = new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  return (p) => z.check(p);
}

/** Throws `WEAK_PASSPHRASE` unless `passphrase` is long and unguessable enough for a backup. */
export async function checkPassphrase(passphrase: string): Promise<void> {
  if (typeof passphrase !== 'string' || [...passphrase].length < MIN_LENGTH)
    throw new ClientError(
      'WEAK_PASSPHRASE',
      `a backup passphrase needs at least ${MIN_LENGTH} characters (several unrelated words work well)`
    );
  estimator ??= loadEstimator();
  const r = (await estimator)(passphrase);
  if (r.score < MIN_SCORE)
    throw new ClientError(
      'WEAK_PASSPHRASE',
      `this backup passphrase is too easy to guess${r.feedback.warning ? ` (${r.feedback.warning})` : ''}: add unrelated words`
    );
}
