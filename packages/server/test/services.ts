/**
 * The machine's PostgreSQL and Redis for the scale-out tests. Where they are missing the tests
 * skip, saying so, except under CI=true, where a missing service is a failure: CI must run them.
 */
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import pg from 'pg';

export const PG_URL = process.env.TESSERA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TESSERA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('error', () => done(false));
    s.connect(Number(u.port), u.hostname, () => done(true));
  });
}

/**
 * Why the tests that need `what` cannot run here (a skip message), or null if they can. Under
 * CI=true an unreachable service throws instead.
 */
export async function missing(what: 'postgres' | 'redis'): Promise<string | null> {
  const url = what === 'postgres' ? PG_URL : REDIS_URL;
  if (await reachable(url)) return null;
  const why = `${what} is not reachable at ${url}`;
  if (process.env.CI === 'true') throw new Error(`${why}, and CI=true: these tests must run`);
  console.log(`# skipping the ${what} tests: ${why}`);
  return `${why} (skipped outside CI)`;
}

/** A `postgres://` store URL in a fresh schema of its own, and a way to drop it. */
export function freshSchema(): { url: string; drop(): Promise<void> } {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    url: `${PG_URL}?schema=${schema}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}
