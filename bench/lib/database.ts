// The benchmark's database: DATABASE_URL when given, otherwise the embedded PostgreSQL in its own
// data folder and port (so development data is never touched), loaded by bench/seed.ts when it
// holds no benchmark users yet; its home timelines built (bench/seed.ts --timelines) when they are not.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { migrate, openDatabase, type Database } from '../../server/db.ts';
import { parseEnv, type Env } from '../../server/env.ts';
import type { HomeSettings } from '../../server/timelines/home-writes.ts';
import { grouped } from './args.ts';
import { countBenchUsers } from './fixtures.ts';
import { homeReadiness } from './home-data.ts';

const BENCH_DATA_DIR = path.join('.data', 'bench');
const BENCH_PG_PORT = 54610;
const SEED_SCRIPT = path.join(import.meta.dirname, '..', 'seed.ts');

export interface SeedOptions {
  users?: number;
  posts?: number;
  follows?: number;
  reset: boolean;
}

/** The configuration with the bench's own data folder and port where the user set neither. */
export function benchDatabaseEnv(env: Env): Env {
  if (env.DATABASE_URL) return env;
  const defaults = parseEnv({});
  if (!defaults.ok) return env;
  return {
    ...env,
    DATA_DIR: env.DATA_DIR === defaults.env.DATA_DIR ? BENCH_DATA_DIR : env.DATA_DIR,
    EMBEDDED_PG_PORT: env.EMBEDDED_PG_PORT === defaults.env.EMBEDDED_PG_PORT ? BENCH_PG_PORT : env.EMBEDDED_PG_PORT,
  };
}

export async function openBenchDatabase(env: Env, logger: Logger): Promise<{ database: Database; url: string }> {
  const database = await openDatabase(env, logger);
  try {
    await migrate(database.orm);
  } catch (error) {
    await database.close();
    throw error;
  }
  const url = database.orm.config.get('clientUrl');
  if (!url) throw new Error('the database has no connection URL');
  return { database, url };
}

/**
 * Runs bench/seed.ts against `url` (its progress bar on our stderr) when there is nothing to measure,
 * or with --timelines when the data is there but its home timelines are not (none built, most of
 * them dropped, or built without marking the authors over the merge threshold).
 */
export async function seedIfEmpty(
  em: EntityManager,
  url: string,
  seed: SeedOptions,
  home: HomeSettings,
  log: (line: string) => void,
): Promise<void> {
  const existing = await countBenchUsers(em);
  if (existing > 0 && !seed.reset) {
    const [row] = await em
      .getConnection()
      .execute<{ follows: boolean }[]>(`select exists(select from follows) as follows`);
    if (!row?.follows) {
      throw new Error(`${existing} bench_ users but no follows: an earlier seeding was interrupted; pass --reseed`);
    }
    const asked = seed.users !== undefined || seed.posts !== undefined || seed.follows !== undefined;
    log(
      `using the existing benchmark data (${existing} bench_ users)` +
        (asked ? '; --seed-* options apply only to an empty database (or with --reseed)' : ''),
    );
    if (home.cap === 0) return;
    const ready = await homeReadiness(em, home.mergeFollowers);
    if (ready.built >= ready.users * 0.9 && ready.unmarked === 0) {
      log(`home timelines: ${grouped(ready.built)} of ${grouped(ready.users)} accounts' built`);
      return;
    }
    log(
      ready.built < ready.users * 0.9
        ? `home timelines: only ${grouped(ready.built)} of ${grouped(ready.users)} accounts' built`
        : `home timelines: ${ready.unmarked} authors over the merge threshold are not marked (built before the marks)`,
    );
    await runSeed(['--timelines'], url, home, log);
    return;
  }
  const args: string[] = [];
  if (seed.users !== undefined) args.push('--users', String(seed.users));
  if (seed.posts !== undefined) args.push('--posts', String(seed.posts));
  if (seed.follows !== undefined) args.push('--follows', String(seed.follows));
  if (seed.reset) args.push('--reset');
  await runSeed(args, url, home, log);
}

async function runSeed(args: string[], url: string, home: HomeSettings, log: (line: string) => void) {
  log(`loading benchmark data: node bench/seed.ts ${args.join(' ')}`);
  const code = await new Promise<number | null>((resolve, reject) => {
    // Its summary goes to our stderr too: stdout carries only the results. Home timelines are
    // built with the settings the run's servers get.
    const child = spawn(process.execPath, [SEED_SCRIPT, ...args], {
      env: {
        DATABASE_URL: url,
        LOG_LEVEL: 'warn',
        HOME_TIMELINE_CAP: String(home.cap),
        HOME_TIMELINE_MERGE_FOLLOWERS: String(home.mergeFollowers),
      },
      stdio: ['ignore', 2, 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`bench/seed.ts failed (exit code ${code})`);
}

export async function dataSize(em: EntityManager) {
  const [row] = await em.getConnection().execute<{ users: string; posts: string; follows: string; version: string }[]>(
    `select (select count(*) from users) as users, (select count(*) from posts where deleted_at is null) as posts,
            (select count(*) from follows) as follows, current_setting('server_version') as version`,
  );
  return {
    users: Number(row?.users),
    posts: Number(row?.posts),
    follows: Number(row?.follows),
    postgresVersion: row?.version ?? 'unknown',
  };
}
