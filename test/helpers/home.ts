// Shared by the home timeline tests (test/home-*.test.ts): the timeline by definition (plain SQL),
// walks of its pages through the API, the pull query (timelinePosts, the reference) and the home
// read (readHomePage), and waits for the job worker, which runs inside the test process's app.
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { PoolClient } from 'pg';
import { expect } from 'vitest';
import type { Position } from '../../server/pagination/cursor.ts';
import { timelinePosts } from '../../server/posts/post-queries.ts';
import { readHomePage, type HomePage } from '../../server/timelines/home-read.ts';
import { build } from '../../server/timelines/home-writes.ts';
import type { Env } from '../../server/env.ts';
import { sql } from './sessions.ts';
import { eventually, readAllPages, timeline } from './social.ts';

/** A post's place in every timeline: newest first, ties broken by id, descending. */
export interface Placed extends Position {
  id: string;
}

/** posts.timeline by definition: live posts of live accounts, by the viewer or whom they follow. */
export async function definition(databaseUrl: string, viewerId: string): Promise<Placed[]> {
  const rows = await sql<{ id: string; created_at: Date }>(
    databaseUrl,
    `select p.id, p.created_at from posts p join users u on u.id = p.author_id and u.deleted_at is null
     where p.deleted_at is null
       and (p.author_id = $1 or p.author_id in (select followee_id from follows where follower_id = $1))
     order by p.created_at desc, p.id desc`,
    [viewerId],
  );
  return rows.map((row) => ({ id: row.id, createdAt: row.created_at }));
}

/** The pages a list of `items` makes at `size` a page (an empty list is one empty page). */
export function chunk<T>(items: T[], size: number): T[][] {
  if (items.length === 0) return [[]];
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/** The ids of a list of posts, in order. */
export const idsOf = (items: { id: string }[]) => items.map((item) => item.id);

const positionOf = (item: Placed | undefined): Position | undefined =>
  item && { createdAt: item.createdAt, id: item.id };

/** Every page of posts.timeline through HTTP, as ids. */
export async function apiPages(url: string, token: string, limit: number): Promise<string[][]> {
  const pages = await readAllPages((cursor) => timeline(url, token, { cursor, limit }), 1000);
  return pages.map((page) => idsOf(page.items));
}

/** Every page of the pull query, asked as posts.timeline asks it (one more than the limit). */
export async function pullPages(em: EntityManager, viewerId: string, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let after: Position | undefined;
  for (;;) {
    const rows = await timelinePosts(em, viewerId, after, limit + 1);
    pages.push(rows.slice(0, limit).map((row) => row.id));
    if (rows.length <= limit) return pages;
    after = { createdAt: rows[limit - 1]!.createdAt, id: rows[limit - 1]!.id };
  }
}

export interface Floor {
  built: boolean;
  floor: Placed | null;
}

/** The state of `userId`'s home timeline, or undefined when they have none. */
export async function homeState(databaseUrl: string, userId: string): Promise<Floor | undefined> {
  const [row] = await sql<{ built: boolean; floor_created_at: Date | null; floor_id: string | null }>(
    databaseUrl,
    'select built_at is not null as built, floor_created_at, floor_id from home_timelines where user_id = $1',
    [userId],
  );
  if (!row) return undefined;
  const floor = row.floor_id && row.floor_created_at ? { id: row.floor_id, createdAt: row.floor_created_at } : null;
  return { built: row.built, floor };
}

const atOrAbove = (item: Placed, floor: Placed) =>
  item.createdAt.getTime() > floor.createdAt.getTime() ||
  (item.createdAt.getTime() === floor.createdAt.getTime() && item.id >= floor.id);

/**
 * readHomePage for each page of `expected` (the definition) as posts.timeline asks it (limit + 1):
 * asserts that every page the home timeline answers is exactly the definition's, and that it
 * answers exactly where it can (entries are complete at and above the floor) and falls back below.
 * Returns the kinds, page by page.
 */
export async function expectHomeAnswers(
  em: EntityManager,
  databaseUrl: string,
  viewerId: string,
  expected: Placed[],
  limit: number,
): Promise<HomePage['kind'][]> {
  const state = await homeState(databaseUrl, viewerId);
  expect(state?.built, 'the home timeline is built').toBe(true);
  const kinds: HomePage['kind'][] = [];
  for (let start = 0; start === 0 || start < expected.length; start += limit) {
    const wanted = expected.slice(start, start + limit + 1);
    const page = await readHomePage(em, viewerId, positionOf(expected[start - 1]), limit + 1);
    const last = wanted.at(-1);
    const answerable =
      !state!.floor || (wanted.length === limit + 1 && last !== undefined && atOrAbove(last, state!.floor));
    expect(page.kind, `page at ${start} of ${expected.length} (limit ${limit})`).toBe(
      answerable ? 'page' : 'below floor',
    );
    if (page.kind === 'page') expect(idsOf(page.posts), `page at ${start}`).toEqual(idsOf(wanted));
    kinds.push(page.kind);
  }
  return kinds;
}

/**
 * The user-visible promise: every page sequence through the API, the pull query's and the
 * definition's are the same, at each limit. Returns the home read's kinds per limit.
 */
export async function expectIdenticalPages(
  app: { url: string; orm: MikroORM; db: { url: string } },
  viewer: { id: string; token: string },
  limits: number[],
): Promise<Map<number, HomePage['kind'][]>> {
  const em = app.orm.em.fork();
  const expected = await definition(app.db.url, viewer.id);
  const kinds = new Map<number, HomePage['kind'][]>();
  for (const limit of limits) {
    const pages = chunk(idsOf(expected), limit);
    expect(await apiPages(app.url, viewer.token, limit), `API pages, limit ${limit}`).toEqual(pages);
    expect(await pullPages(em, viewer.id, limit), `pull pages, limit ${limit}`).toEqual(pages);
    kinds.set(limit, await expectHomeAnswers(em, app.db.url, viewer.id, expected, limit));
  }
  return kinds;
}

// ---------------------------------------------------------------------------------------------
// The job worker: waking the fan-out, waiting for it and for builds
// ---------------------------------------------------------------------------------------------

/** Adds the fan-out job as posts.create's wake-up does (for posts written by SQL). */
export const wakeFanout = (databaseUrl: string) =>
  sql(databaseUrl, `select graphile_worker.add_job('home_fanout', '{}'::json, job_key => 'home_fanout')`);

/** True when the fan-out's cursor has passed every row of the post log. */
export async function fannedOut(databaseUrl: string): Promise<boolean> {
  const [row] = await sql<{ done: boolean }>(
    databaseUrl,
    `select coalesce((c.tx, c.event_id) >= (e.tx, e.id), true) as done
     from home_fanout_cursor c
     left join lateral (select tx, id from timeline_events order by tx desc, id desc limit 1) e on true`,
  );
  return row?.done ?? false;
}

/** Wakes the fan-out and waits until it has read the whole post log. */
export async function drain(databaseUrl: string, ms = 15_000): Promise<void> {
  await wakeFanout(databaseUrl);
  await eventually(() => fannedOut(databaseUrl), 'the fan-out read the whole post log', ms);
}

/** Waits until every one of `userIds` has a built home timeline. */
export async function waitBuilt(databaseUrl: string, userIds: string[], ms = 15_000): Promise<void> {
  await eventually(
    async () =>
      (
        await sql<{ n: number }>(
          databaseUrl,
          'select count(*)::int as n from home_timelines where user_id = any($1::uuid[]) and built_at is not null',
          [userIds],
        )
      )[0]!.n === userIds.length,
    `home timelines of ${userIds.length} user(s) built`,
    ms,
  );
}

/** The post ids in `userId`'s home timeline entries (any order). */
export const entryIds = async (databaseUrl: string, userId: string) =>
  (
    await sql<{ post_id: string }>(databaseUrl, 'select post_id from home_timeline_entries where user_id = $1', [
      userId,
    ])
  ).map((row) => row.post_id);

/** Who has an entry for `postId`. */
export const entryOwners = async (databaseUrl: string, postId: string) =>
  (
    await sql<{ user_id: string }>(databaseUrl, 'select user_id from home_timeline_entries where post_id = $1', [
      postId,
    ])
  ).map((row) => row.user_id);

/** Runs `work` on a connection of the app's own pool (for the worker's functions, called directly). */
export async function withAppClient<T>(orm: MikroORM, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const pool = await orm.em.getConnection().getNativeClient();
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Data sets
// ---------------------------------------------------------------------------------------------

/** A small seeded generator (mulberry32), so that a failing data set can be made again. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` accounts made by SQL (no password that works): authors for data sets. Returns ids. */
export async function sqlUsers(databaseUrl: string, prefix: string, count: number): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    databaseUrl,
    `insert into users (id, username, password_hash, created_at)
     select gen_random_uuid(), $1 || '_' || n, 'x', now() from generate_series(1, $2) n
     returning id`,
    [prefix, count],
  );
  return rows.map((row) => row.id);
}

/** Follows made by SQL (no backfill: for users whose home timeline is not built yet). */
export const sqlFollows = (databaseUrl: string, pairs: [follower: string, followee: string][]) =>
  sql(
    databaseUrl,
    `insert into follows (follower_id, followee_id, created_at)
     select f, e, now() from unnest($1::uuid[], $2::uuid[]) t(f, e) on conflict do nothing`,
    [pairs.map((pair) => pair[0]), pairs.map((pair) => pair[1])],
  );

export interface SqlPost {
  author: string;
  /** Seconds before now. */
  age: number;
  deleted?: boolean;
}

/** Posts written by SQL with the given times (the post log's trigger still writes their rows). */
export async function sqlPosts(databaseUrl: string, posts: SqlPost[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    databaseUrl,
    `insert into posts (id, author_id, body, created_at, deleted_at)
     select gen_random_uuid(), a, 'post ' || n, date_trunc('milliseconds', now()) - make_interval(secs => s),
            case when d then now() end
     from unnest($1::uuid[], $2::float8[], $3::bool[]) with ordinality t(a, s, d, n)
     returning id`,
    [posts.map((post) => post.author), posts.map((post) => post.age), posts.map((post) => post.deleted ?? false)],
  );
  return rows.map((row) => row.id);
}

/** A first read of `user`'s timeline (which asks for a build), then waits for the build. */
export async function readAndBuild(app: { url: string; db: { url: string } }, users: { id: string; token: string }[]) {
  for (const user of users) expect((await timeline(app.url, user.token)).status).toBe(200);
  await waitBuilt(
    app.db.url,
    users.map((user) => user.id),
  );
}

/**
 * Builds home timelines directly, as the worker's build job does (for tests that must not use the
 * app's own request: it asks at most once a minute per user).
 */
export async function buildNow(app: { orm: MikroORM; env: Env }, userIds: string[]) {
  const settings = { cap: app.env.HOME_TIMELINE_CAP, mergeFollowers: app.env.HOME_TIMELINE_MERGE_FOLLOWERS };
  await withAppClient(app.orm, async (client) => {
    for (const id of userIds) await build(client, settings, id);
  });
}
