// The SQL that writes home timelines: the fan-out of new posts (run by the job worker, reading the
// post log), the build of a whole home timeline and the trim to the cap; what a follow or an
// unfollow changes is home-follows.ts. How they all stay exact together (docs/architecture.md, "Home timelines"):
//
// - An entry is written only at or above its owner's floor; reads trust the entries only there.
// - Locks (transaction-scoped advisory locks) order the writers that could otherwise miss each
//   other: the fan-out of an author's posts holds that author's lock exclusively, a follow or
//   unfollow of the author holds it shared, so the fan-out either sees the new follow or runs before
//   it (and the follow's backfill then sees the post). A follow, an unfollow and a build of the same
//   user hold that user's lock. Always the user's lock before an author's, authors in id order:
//   no cycle, no deadlock.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PoolClient } from 'pg';

/** What the writers need to know (env: HOME_TIMELINE_CAP, HOME_TIMELINE_MERGE_FOLLOWERS). */
export interface HomeSettings {
  /** Entries kept per user. */
  cap: number;
  /** Authors with more followers than this are merged at read time, not fanned out. */
  mergeFollowers: number;
}

export const AUTHOR_LOCK = 0x686f_6d61; // "homa"
export const USER_LOCK = 0x686f_6d75; // "homu"
// Log rows the fan-out reads per transaction.
const FANOUT_BATCH = 500;
// The trim reads `cap` index entries, so it runs for about one fan-out in this many per user: a
// home timeline grows to about cap + 1/TRIM_CHANCE entries between trims.
const TRIM_CHANCE = 1 / 50;

const HORIZON = 'pg_snapshot_xmin(pg_current_snapshot())::text::bigint';

export interface FanoutRound {
  /** Log rows read (posts, restores and deletes). */
  events: number;
  /** Entries written. */
  entries: number;
  /** More log rows may follow at once: run again. */
  more: boolean;
  /** Newer rows exist but wait for an older transaction to end: run again soon. */
  held: boolean;
}

/** PostgreSQL's unique_violation: an entry the fan-out writes is there already. */
export const isDuplicate = (error: unknown) => (error as { code?: string }).code === '23505';

/**
 * One transaction of fan-out: the next final rows of the post log after the cursor, each new or
 * restored post written into the home timelines of its author's followers who have one (authors
 * over the threshold are marked as merged instead), and the cursor moved past them. The cursor row
 * is locked for the transaction: concurrent runs queue up instead of writing twice.
 *
 * `duplicates: 'fail'` inserts plainly, and a batch holding an entry that exists (a follow's or a
 * build's copy of the same post, a restored post) fails with a unique violation: run it again with
 * 'skip' (ON CONFLICT DO NOTHING). That path costs a second index search per entry, about 30% more
 * time, for what is rare.
 */
export async function fanOutOnce(
  client: PoolClient,
  settings: HomeSettings,
  duplicates: 'fail' | 'skip' = 'fail',
): Promise<FanoutRound> {
  await client.query('begin');
  try {
    const [cursor] = (
      await client.query<{ tx: string; event_id: string }>({
        name: 'home-fanout-cursor',
        text: 'select tx, event_id from home_fanout_cursor where id = 1 for update',
      })
    ).rows;
    const rows = (
      await client.query<{ tx: string; id: string; kind: string; post_id: string; author_id: string; horizon: string }>(
        {
          name: 'home-fanout-log',
          text: `select e.tx, e.id, e.kind, e.post_id, e.author_id, ${HORIZON}::text as horizon
               from timeline_events e where (e.tx, e.id) > ($1::bigint, $2::bigint)
               order by e.tx, e.id limit $3`,
          values: [cursor?.tx ?? '0', cursor?.event_id ?? '0', FANOUT_BATCH],
        },
      )
    ).rows;
    const final = rows.filter((row) => BigInt(row.tx) < BigInt(row.horizon));
    const last = final.at(-1);
    if (!last) {
      await client.query('commit');
      return { events: 0, entries: 0, more: false, held: rows.length > 0 };
    }
    const posts = final.filter((row) => row.kind === 'post');
    const authors = [...new Set(posts.map((row) => row.author_id))].sort();
    let entries = 0;
    // HOME_TIMELINE_CAP=0 (home timelines off): the cursor moves on, nothing is written.
    if (posts.length > 0 && settings.cap > 0) {
      await client.query(
        `select pg_advisory_xact_lock(${AUTHOR_LOCK}, hashtext(a)) from (select unnest($1::text[]) as a order by 1) s`,
        [authors],
      );
      await client.query({
        name: 'home-fanout-merged',
        text: `insert into home_merged_authors (author_id)
               select a from unnest($1::uuid[]) a
               where (select count(*) from (select from follows where followee_id = a limit $2 + 1) f) > $2
               on conflict do nothing`,
        values: [authors, settings.mergeFollowers],
      });
      // One row per follower reached (not per entry: a batch writes tens of thousands).
      const written = await client.query<{ user_id: string; n: number }>({
        name: `home-fanout-insert-${duplicates}`,
        text: `with written as (
                 insert into home_timeline_entries (user_id, created_at, post_id)
                 select f.follower_id, p.created_at, p.id
                 from posts p
                 join follows f on f.followee_id = p.author_id
                 join home_timelines h on h.user_id = f.follower_id
                 where p.id = any($1::uuid[]) and p.deleted_at is null
                   and not exists (select from home_merged_authors m where m.author_id = p.author_id)
                   and (h.floor_created_at is null or (p.created_at, p.id) >= (h.floor_created_at, h.floor_id))
                 ${duplicates === 'skip' ? 'on conflict do nothing' : ''}
                 returning user_id
               )
               select user_id, count(*)::int as n from written group by user_id`,
        values: [posts.map((row) => row.post_id)],
      });
      entries = written.rows.reduce((sum, row) => sum + row.n, 0);
      const owners = written.rows.map((row) => row.user_id);
      await trim(
        client,
        settings.cap,
        owners.filter(() => Math.random() < TRIM_CHANCE),
      );
    }
    await client.query('update home_fanout_cursor set tx = $1, event_id = $2, updated_at = now() where id = 1', [
      last.tx,
      last.id,
    ]);
    await client.query('commit');
    return { events: final.length, entries, more: rows.length === FANOUT_BATCH, held: final.length < rows.length };
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

/** Cuts each of `userIds`' home timelines to `cap` entries and raises its floor to the oldest kept. */
export async function trim(client: PoolClient, cap: number, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return;
  await client.query(
    `with cut as (
       select t.user_id, c.created_at, c.post_id
       from unnest($1::uuid[]) t(user_id)
       -- Not while a build runs: it sets the floor itself when it commits.
       join home_timelines b on b.user_id = t.user_id and b.built_at is not null
       cross join lateral (
         select created_at, post_id from home_timeline_entries
         where user_id = t.user_id order by created_at desc, post_id desc offset $2 - 1 limit 1
       ) c
       where exists (select from home_timeline_entries e
                     where e.user_id = t.user_id and (e.created_at, e.post_id) < (c.created_at, c.post_id))
     ), gone as (
       delete from home_timeline_entries e using cut
       where e.user_id = cut.user_id and (e.created_at, e.post_id) < (cut.created_at, cut.post_id)
     )
     update home_timelines s set floor_created_at = cut.created_at, floor_id = cut.post_id
     from cut
     where s.user_id = cut.user_id
       and (s.floor_created_at is null or (cut.created_at, cut.post_id) > (s.floor_created_at, s.floor_id))`,
    [userIds, cap],
  );
}

/**
 * Builds `userId`'s home timeline from the pull query's data: the newest `cap` live posts of the
 * followed authors that are not merged. Idempotent; false when it was built already.
 */
export async function build(client: PoolClient, settings: HomeSettings, userId: string): Promise<boolean> {
  // First, on its own: from this commit on, the fan-out writes into this timeline, so a post
  // committed after the snapshot below still arrives.
  await client.query('insert into home_timelines (user_id) values ($1) on conflict do nothing', [userId]);
  await client.query('begin');
  try {
    const [state] = (
      await client.query<{ built: boolean }>(
        `select built_at is not null as built, pg_advisory_xact_lock(${USER_LOCK}, hashtext($1::text))
         from home_timelines where user_id = $1::uuid`,
        [userId],
      )
    ).rows;
    if (!state || state.built) {
      await client.query('commit');
      return false;
    }
    const [oldest] = (
      await client.query<{ n: number; created_at: Date; id: string }>(
        `with newest as (
           select x.created_at, x.id
           from follows f
           cross join lateral (
             select created_at, id from posts
             where author_id = f.followee_id and deleted_at is null
             order by created_at desc, id desc limit $2
           ) x
           where f.follower_id = $1
             and not exists (select from home_merged_authors m where m.author_id = f.followee_id)
           order by x.created_at desc, x.id desc
           limit $2
         ), written as (
           insert into home_timeline_entries (user_id, created_at, post_id)
           select $1, created_at, id from newest
           on conflict do nothing
         )
         select (select count(*)::int from newest) as n, o.created_at, o.id
         from (select created_at, id from newest order by created_at, id limit 1) o`,
        [userId, settings.cap],
      )
    ).rows;
    // `cap` posts found: older ones were left out, so the oldest of them is the floor.
    const floor = oldest && oldest.n >= settings.cap ? oldest : undefined;
    await client.query(
      'update home_timelines set built_at = now(), floor_created_at = $2, floor_id = $3, read_at = now() where user_id = $1',
      [userId, floor?.created_at ?? null, floor?.id ?? null],
    );
    await client.query('commit');
    return true;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

/** Drops home timelines unread for `days` (their owners take the pull query until rebuilt). */
export async function expireInactive(client: PoolClient, days: number, batch = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const [row] = (
      await client.query<{ users: number }>(
        `with gone as (
           delete from home_timelines where user_id in (
             select user_id from home_timelines where read_at < now() - make_interval(days => $1) limit $2)
           returning user_id
         ), entries as (
           delete from home_timeline_entries e using gone where e.user_id = gone.user_id
         )
         select count(*)::int as users from gone`,
        [days, batch],
      )
    ).rows;
    total += row?.users ?? 0;
    if (!row || row.users < batch) return total;
  }
}

/** Notes a read of `userId`'s home timeline (done at most daily per user: see timeline.ts). */
export async function touch(em: EntityManager, userId: string): Promise<void> {
  await em.execute('update home_timelines set read_at = now() where user_id = ?', [userId]);
}
