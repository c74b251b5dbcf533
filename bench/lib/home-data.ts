// The bench data's home timelines (issue #17): built for the whole data set by bench:seed (and by
// `npm run bench` when they are missing), their size on disk, and taking out what a run wrote.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool, PoolClient } from 'pg';
import { buildHomeTimelines } from '../../server/timelines/build-all.ts';
import type { HomeSettings } from '../../server/timelines/home-writes.ts';
import { grouped } from './args.ts';
import { num } from './stats.ts';
import { Progress } from './progress.ts';

/**
 * Runs `task` on a connection of its own without the app's statement timeout (copying, restoring
 * and vacuuming millions of entries may take longer), destroyed afterwards rather than returned
 * to the pool with that setting.
 */
export async function unbounded<T>(pool: Pool, task: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('set statement_timeout = 0');
    return await task(client);
  } finally {
    client.release(true);
  }
}

/** The copies snapshotHome makes: one for a whole run, one for the home phase within it. */
type CopyTag = 'run' | 'phase';
const copyOf = (tag: CopyTag) => ({ entries: `bench_home_${tag}_entries`, timelines: `bench_home_${tag}_timelines` });
const ALL_COPIES = (['run', 'phase'] as const).flatMap((tag) => Object.values(copyOf(tag))).join(', ');

/** Authors over the merge threshold not marked as merged (buildHomeTimelines marks them all). */
const UNMARKED_AUTHORS = `select followee_id from follows group by followee_id having count(*) > $1
                          except select author_id from home_merged_authors`;

/**
 * Drops every home timeline and builds every live account's (server/timelines/build-all.ts: the
 * authors over the merge threshold are marked merged first, so builds leave their posts out and
 * reads merge them, as after each of them has posted once), with a progress bar.
 */
export async function buildAllHomeTimelines(
  pool: Pool,
  settings: HomeSettings,
): Promise<{ built: number; ms: number }> {
  const started = performance.now();
  process.stderr.write(`home timelines: building every account's, ${settings.cap} entries each\n`);
  let progress: Progress | undefined;
  const built = await buildHomeTimelines(pool, settings, {
    who: { all: true },
    reset: true,
    concurrency: 3,
    onProgress: (done, total) => (progress ??= new Progress('home', total, 'timelines')).update(done),
  });
  progress?.finish();
  // A snapshot of the timelines built before is stale now (see snapshotHome).
  await pool.query(`drop table if exists ${ALL_COPIES}`);
  process.stderr.write('vacuum (analyze) of the home timelines...\n');
  await unbounded(pool, (client) =>
    client.query('vacuum (analyze) home_timeline_entries, home_timelines, home_merged_authors'),
  );
  return { built, ms: performance.now() - started };
}

export interface HomeReadiness {
  users: number;
  built: number;
  /** Authors over the threshold not marked as merged: the timelines were built without the marks. */
  unmarked: number;
}

export async function homeReadiness(em: EntityManager, mergeFollowers: number): Promise<HomeReadiness> {
  const pool = await em.getConnection().getNativeClient();
  const { rows } = await pool.query<{ users: string; built: string; unmarked: string }>(
    `select (select count(*) from users where deleted_at is null) as users,
            (select count(*) from home_timelines where built_at is not null) as built,
            (select count(*) from (${UNMARKED_AUTHORS}) u) as unmarked`,
    [mergeFollowers],
  );
  return { users: Number(rows[0]?.users), built: Number(rows[0]?.built), unmarked: Number(rows[0]?.unmarked) };
}

export interface HomeSize {
  timelines: number;
  entries: number;
  mergedAuthors: number;
  /** Timelines that reached the cap (entries below their floor were left out or trimmed). */
  atCap: number;
  /** Megabytes (2^20 bytes): table, its indexes, and both together. */
  entriesHeapMB: number;
  entriesIndexMB: number;
  entriesMB: number;
  timelinesMB: number;
  /** For scale: posts and follows, indexes included. */
  postsMB: number;
  followsMB: number;
}

export async function homeSize(em: EntityManager): Promise<HomeSize> {
  const pool = await em.getConnection().getNativeClient();
  const mb = (table: string, what = 'total_relation') => `pg_${what}_size('${table}')::float8 / 1048576`;
  const { rows } = await pool.query<Record<keyof HomeSize, string | number>>(
    `select (select count(*) from home_timelines) as timelines,
            (select count(*) from home_timeline_entries) as entries,
            (select count(*) from home_merged_authors) as "mergedAuthors",
            (select count(*) from home_timelines where floor_created_at is not null) as "atCap",
            ${mb('home_timeline_entries', 'table')} as "entriesHeapMB",
            ${mb('home_timeline_entries', 'indexes')} as "entriesIndexMB",
            ${mb('home_timeline_entries')} as "entriesMB",
            ${mb('home_timelines')} as "timelinesMB",
            ${mb('posts')} as "postsMB",
            ${mb('follows')} as "followsMB"`,
  );
  return Object.fromEntries(
    Object.entries(rows[0]!).map(([key, value]) => [key, Number(value)]),
  ) as unknown as HomeSize;
}

export function describeHomeSize(size: HomeSize): string {
  const mb = (value: number) => `${num(value)} MB`;
  return (
    `home timelines: ${grouped(size.timelines)} (${grouped(size.atCap)} at the cap, ${mb(size.timelinesMB)}); ` +
    `${grouped(size.entries)} entries, ${mb(size.entriesMB)} (table ${mb(size.entriesHeapMB)}, key ` +
    `${mb(size.entriesIndexMB)}); ${grouped(size.mergedAuthors)} authors merged at read time. For scale: posts ` +
    `${mb(size.postsMB)}, follows ${mb(size.followsMB)}, indexes included`
  );
}

/**
 * Takes out the posts `authorIds` wrote since `since`, with what they left behind: their rows in the
 * post log (which the fan-out and the live streams read) and their entries in home timelines (which
 * have no foreign keys). The entries go last: a fan-out still running finds no post to write.
 * No VACUUM here: callers vacuum once at the end.
 */
export async function removeRunPosts(em: EntityManager, authorIds: string[], since: Date) {
  if (authorIds.length === 0) return { posts: 0, entries: 0 };
  const pool = await em.getConnection().getNativeClient();
  return unbounded(pool, async (client) => {
    const ids = (
      await client.query<{ id: string }>(
        'delete from posts where author_id = any($1::uuid[]) and created_at >= $2 returning id',
        [authorIds, since],
      )
    ).rows.map((row) => row.id);
    await client.query('delete from timeline_events where author_id = any($1::uuid[]) and created_at >= $2', [
      authorIds,
      since,
    ]);
    // Entries are keyed by their owner: finding a post's takes a scan of the table.
    const entries = ids.length
      ? await client.query('delete from home_timeline_entries where post_id = any($1::uuid[])', [ids])
      : { rowCount: 0 };
    return { posts: ids.length, entries: entries.rowCount ?? 0 };
  });
}

/**
 * Copies the home timelines (entries and state) and returns what puts them back. A run's
 * posts.create fans its posts out into thousands of home timelines and trims them to the cap,
 * raising their floors; once the run's posts are taken out again, those timelines would hold fewer
 * entries than the cap (a heavy follower's, none at all) and their pages would fall back to the pull
 * query: every run would measure other data. Restoring puts back exactly what there was. No Warble
 * process may run meanwhile. A copy left by a run that was killed is put back first: it is the data
 * as it was before that run (bench:seed --timelines drops it).
 */
export async function snapshotHome(
  em: EntityManager,
  tag: CopyTag,
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  const COPY = copyOf(tag);
  const pool = await em.getConnection().getNativeClient();
  const restore = () =>
    unbounded(pool, async (client) => {
      const started = performance.now();
      try {
        await client.query('begin');
        // Emptied and written again in key order: the table and its key come out as compact as after
        // a build, so runs do not measure a table grown by the last run's churn.
        await client.query('truncate home_timeline_entries');
        const entries = await client.query(
          `insert into home_timeline_entries select * from ${COPY.entries} order by user_id, created_at, post_id`,
        );
        await client.query('delete from home_timelines');
        await client.query(
          `insert into home_timelines select c.* from ${COPY.timelines} c
         where exists (select from users u where u.id = c.user_id)`,
        );
        await client.query(`drop table ${COPY.entries}, ${COPY.timelines}`);
        await client.query('commit');
        await client.query('vacuum (analyze) home_timeline_entries, home_timelines');
        log(
          `home timelines put back as they were: ${grouped(entries.rowCount ?? 0)} entries ` +
            `(${grouped(performance.now() - started)} ms)`,
        );
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      }
    });
  const { rows } = await pool.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [
    COPY.entries,
  ]);
  if (rows[0]?.present) {
    log('home timelines: a copy from an earlier run that did not finish is there; putting it back first');
    await restore();
  }
  await unbounded(pool, async (client) => {
    await client.query(`create unlogged table ${COPY.entries} as select * from home_timeline_entries`);
    await client.query(`create unlogged table ${COPY.timelines} as select * from home_timelines`);
  });
  return restore;
}
