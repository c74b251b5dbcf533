// Builds many home timelines at once: `npm run timelines:build` (server/commands) and
// `npm run bench:seed`. Each user's build is the worker's own (home-writes.ts), run a few at a time.
import type { Pool } from 'pg';
import { build, type HomeSettings } from './home-writes.ts';

export interface BuildAllOptions {
  /** Whose: every live account, the named ones, or (default) those marked unbuilt. */
  who: { all: true } | { usernames: string[] } | { unbuilt: true };
  /** Drop every home timeline and merged-author mark first (after a change of the settings). */
  reset?: boolean;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Returns how many home timelines were built. */
export async function buildHomeTimelines(pool: Pool, settings: HomeSettings, options: BuildAllOptions) {
  if (options.reset) {
    // Readers take the pull query until their timeline is built again.
    await pool.query('truncate home_timeline_entries, home_timelines, home_merged_authors');
  }
  const { who } = options;
  if ('all' in who) {
    // Authors over the threshold now are merged, not copied into thousands of timelines (the
    // fan-out marks the others when they next post).
    await pool.query(
      `insert into home_merged_authors (author_id)
       select followee_id from follows group by followee_id having count(*) > $1
       on conflict do nothing`,
      [settings.mergeFollowers],
    );
  }
  const ids = (
    'all' in who
      ? await pool.query<{ id: string }>('select id from users where deleted_at is null order by id')
      : 'usernames' in who
        ? await pool.query<{ id: string }>(
            'select id from users where lower(username) = any($1) and deleted_at is null',
            [who.usernames.map((name) => name.toLowerCase())],
          )
        : await pool.query<{ id: string }>('select user_id as id from home_timelines where built_at is null')
  ).rows.map((row) => row.id);
  // A timeline built before is built again from scratch (its entries stay: they are all still right,
  // and the build completes them above its new floor).
  await pool.query('update home_timelines set built_at = null where user_id = any($1::uuid[])', [ids]);
  let next = 0;
  let done = 0;
  const worker = async () => {
    const client = await pool.connect();
    try {
      while (next < ids.length) {
        const id = ids[next++]!;
        await build(client, settings, id);
        options.onProgress?.(++done, ids.length);
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 2, ids.length) }, worker));
  // Fresh statistics for the planner: a page's plan depends on them (a stale estimate of these
  // tables turned a 0.3 ms page into a 600 ms hash join in testing).
  if ('all' in who) await pool.query('analyze home_timeline_entries, home_timelines, home_merged_authors');
  return done;
}
