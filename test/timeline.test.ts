import type { EntityManager } from '@mikro-orm/postgresql';
import { describe, expect, it } from 'vitest';
import type { Position } from '../server/pagination/cursor.ts';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { useTestApp } from './helpers/app.ts';
import { sql } from './helpers/sessions.ts';
import {
  burstOfPosts as burst,
  createPost,
  damagedCursors as damaged,
  deletePost,
  eventually,
  expectTrpcError,
  follow,
  idsOf,
  newestFirst,
  postsByUser,
  postsInOrder,
  readAllPages,
  signedInUser,
  succeeded,
  timeline,
  unfollowUser,
  type PostDto,
} from './helpers/social.ts';
import { query } from './helpers/trpc.ts';

type User = Awaited<ReturnType<typeof signedInUser>>;

describe('posts.timeline', () => {
  const t = useTestApp();

  it('shows the caller’s and followed users’ live posts, newest first; not strangers’, unfollowed or deleted', async () => {
    const [me, friend, former, stranger] = await Promise.all([1, 2, 3, 4].map(() => signedInUser(t.url)));
    const authors: Record<string, User> = { m: me!, f: friend!, s: stranger!, x: former! };
    const posts: Record<string, PostDto> = {};
    for (const body of ['m1', 'f1', 's1', 'x1', 'f2', 'm2', 'f3']) {
      posts[body] = await createPost(t.url, authors[body[0]!]!.token, body);
    }
    const bodies = async (user: User) => succeeded(await timeline(t.url, user.token)).items.map((post) => post.body);

    expect(await bodies(me!)).toEqual(['m2', 'm1']);
    // A follow brings in the followee's earlier posts too; following is one-way.
    await follow(t.url, me!.token, friend!.username);
    await follow(t.url, me!.token, former!.username);
    expect(await bodies(me!)).toEqual(['f3', 'm2', 'f2', 'x1', 'f1', 'm1']);
    expect(await bodies(friend!)).toEqual(['f3', 'f2', 'f1']);

    succeeded(await unfollowUser(t.url, former!.username, me!.token));
    succeeded(await deletePost(t.url, posts.f2!.id, friend!.token));
    const page = succeeded(await timeline(t.url, me!.token));
    expect(page).toEqual({ items: [posts.f3, posts.m2, posts.f1, posts.m1], nextCursor: null });
    expect(page.items).toEqual([...page.items].sort(newestFirst));
    expect(await bodies(stranger!)).toEqual(['s1']);
  });

  it('keeps later pages where they were while posts arrive and served ones are deleted (keyset paging)', async () => {
    const [me, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, me.token, friend.username);
    const older: PostDto[] = [];
    for (let i = 0; i < 12; i++) older.push(await createPost(t.url, (i % 2 ? me : friend).token, `old ${i}`));
    const expected = [...older].sort(newestFirst);
    const tokenOf = (post: PostDto) => (post.author.id === me.id ? me : friend).token;

    const first = succeeded(await timeline(t.url, me.token, { limit: 5 }));
    expect(idsOf(first.items)).toEqual(idsOf(expected.slice(0, 5)));
    expect(first.nextCursor).toEqual(expect.any(String));

    // Meanwhile new posts arrive, and the last post served (the one the cursor names) is deleted.
    const newer = [
      await createPost(t.url, me.token, 'new 1'),
      await createPost(t.url, friend.token, 'new 2'),
      await createPost(t.url, friend.token, 'new 3'),
    ];
    succeeded(await deletePost(t.url, expected[4]!.id, tokenOf(expected[4]!)));

    const second = succeeded(await timeline(t.url, me.token, { limit: 5, cursor: first.nextCursor }));
    expect(idsOf(second.items)).toEqual(idsOf(expected.slice(5, 10)));
    const third = succeeded(await timeline(t.url, me.token, { limit: 5, cursor: second.nextCursor }));
    expect(third).toEqual({ items: expected.slice(10), nextCursor: null });

    const live = [...newer, ...older].filter((post) => post.id !== expected[4]!.id).sort(newestFirst);
    // The friend's new posts reach my home timeline shortly after they are written (the fan-out).
    const firstPage = async () => succeeded(await timeline(t.url, me.token, { limit: 5 }));
    await eventually(
      async () => idsOf((await firstPage()).items).includes(newer[2]!.id),
      'the friend’s newest post reaches the timeline',
    );
    const fresh = await firstPage();
    expect(idsOf(fresh.items)).toEqual(idsOf(live.slice(0, 5)));
    expect(idsOf(fresh.items).slice(0, 3).sort()).toEqual(idsOf(newer).sort());
  });

  it('pages 30 posts created in one burst completely, newest first then by id, without repeats or gaps', async () => {
    const [me, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, me.token, friend.username);
    const created = await burst(t.url, [me, friend], 30);

    const pages = await readAllPages((cursor) => timeline(t.url, me.token, { limit: 7, cursor }));
    expect(pages.map((page) => page.items.length)).toEqual([7, 7, 7, 7, 2]);
    expect(pages.map((page) => page.nextCursor === null)).toEqual([false, false, false, false, true]);
    const items = pages.flatMap((page) => page.items);
    expect(new Set(idsOf(items)).size).toBe(30);
    expect(items).toEqual([...created].sort(newestFirst));
  });

  it('breaks ties of equal createdAt by id, descending, across page boundaries', async () => {
    const [me, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, me.token, friend.username);
    const created = await burst(t.url, [me, friend], 12);
    const tied = created.slice(0, 9);
    const instant = new Date(Date.now() - 3_600_000);
    await sql(t.db.url, 'update posts set created_at = $1 where id = any($2::uuid[])', [instant, idsOf(tied)]);
    for (const post of tied) post.createdAt = instant.toISOString();
    const expected = [...created].sort(newestFirst);
    expect(idsOf(expected.slice(3))).toEqual(idsOf(tied).sort().reverse());

    const pages = await readAllPages((cursor) => timeline(t.url, me.token, { limit: 4, cursor }));
    expect(pages.flatMap((page) => page.items)).toEqual(expected);
    const byFriend = await readAllPages((cursor) => postsByUser(t.url, friend.username, { limit: 2, cursor }));
    expect(byFriend.flatMap((page) => page.items)).toEqual(expected.filter((post) => post.author.id === friend.id));
  });

  it('takes a limit of 1 to 100, 20 by default', async () => {
    const me = await signedInUser(t.url);
    const created = (await burst(t.url, [me], 25)).sort(newestFirst);

    for (const input of [undefined, {}, { cursor: null }]) {
      const page = succeeded(await timeline(t.url, me.token, input));
      expect(idsOf(page.items)).toEqual(idsOf(created.slice(0, 20)));
      expect(page.nextCursor).toEqual(expect.any(String));
    }
    expect(succeeded(await timeline(t.url, me.token, { limit: 1 })).items).toEqual(created.slice(0, 1));
    expect(succeeded(await timeline(t.url, me.token, { limit: 100 }))).toEqual({ items: created, nextCursor: null });
    for (const limit of [0, 101, -1, 2.5, '5', null]) {
      const result = await query(t.url, 'posts.timeline', { limit }, { token: me.token });
      expectTrpcError(result, 400, 'BAD_REQUEST');
      expect(result.error?.data.zodError?.fieldErrors.limit).toEqual([expect.any(String)]);
    }
  });

  it('refuses a damaged cursor', async () => {
    const me = await signedInUser(t.url);
    await burst(t.url, [me], 3);
    const { nextCursor } = succeeded(await timeline(t.url, me.token, { limit: 1 }));
    for (const cursor of damaged(nextCursor!)) {
      expectTrpcError(await timeline(t.url, me.token, { limit: 1, cursor }), 400, 'BAD_REQUEST');
    }
    expect(succeeded(await timeline(t.url, me.token, { limit: 1, cursor: nextCursor })).items).toHaveLength(1);
  });

  it('refuses a cursor from another list: posts.byUser, or another user’s timeline', async () => {
    const [me, other, friend] = await Promise.all([1, 2, 3].map(() => signedInUser(t.url)));
    await follow(t.url, me!.token, friend!.username);
    await follow(t.url, other!.token, friend!.username);
    await burst(t.url, [friend!], 4);
    // The same posts in every list, so only the list the cursor came from differs.
    const cursorOf = async (result: ReturnType<typeof timeline>) => succeeded(await result).nextCursor!;
    const mine = await cursorOf(timeline(t.url, me!.token, { limit: 2 }));
    const others = await cursorOf(timeline(t.url, other!.token, { limit: 2 }));
    const friends = await cursorOf(postsByUser(t.url, friend!.username, { limit: 2 }));

    for (const cursor of [others, friends]) {
      expectTrpcError(await timeline(t.url, me!.token, { limit: 2, cursor }), 400, 'BAD_REQUEST');
    }
    expectTrpcError(await timeline(t.url, other!.token, { limit: 2, cursor: mine }), 400, 'BAD_REQUEST');
    expectTrpcError(await postsByUser(t.url, friend!.username, { limit: 2, cursor: mine }), 400, 'BAD_REQUEST');
    expect(succeeded(await timeline(t.url, me!.token, { limit: 2, cursor: mine })).items).toHaveLength(2);
  });

  it('takes the `direction: "forward"` that TanStack infinite queries add, and refuses backward paging', async () => {
    const me = await signedInUser(t.url);
    const created = (await burst(t.url, [me], 3)).sort(newestFirst);
    const first = succeeded(await timeline(t.url, me.token, { limit: 2, direction: 'forward' }));
    expect(first.items).toEqual(created.slice(0, 2));
    const next = { limit: 2, cursor: first.nextCursor, direction: 'forward' as const };
    expect(succeeded(await timeline(t.url, me.token, next)).items).toEqual(created.slice(2));
    const backward = await query(t.url, 'posts.timeline', { limit: 2, direction: 'backward' }, { token: me.token });
    expectTrpcError(backward, 400, 'BAD_REQUEST');
    expect(backward.error?.data.zodError?.fieldErrors.direction).toEqual(['Only forward paging is supported']);
  });

  it('needs an access token, and refuses unknown keys', async () => {
    const me = await signedInUser(t.url);
    expectTrpcError(await timeline(t.url, undefined), 401, 'UNAUTHORIZED');
    expectTrpcError(await timeline(t.url, 'not.a.token', { limit: 5 }), 401, 'UNAUTHORIZED');
    const extra = await query(t.url, 'posts.timeline', { limit: 5, userId: me.id }, { token: me.token });
    expectTrpcError(extra, 400, 'BAD_REQUEST');
  });
});

describe('posts.byUser', () => {
  const t = useTestApp();

  it('lists that user’s live posts, newest first, to anyone without a token', async () => {
    const [author, other] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    const [a1, a2, a3] = await postsInOrder(t.url, author.token, ['a1', 'a2', 'a3']);
    await createPost(t.url, other.token, 'o1');
    await follow(t.url, author.token, other.username);
    succeeded(await deletePost(t.url, a2!.id, author.token));

    expect(succeeded(await postsByUser(t.url, author.username))).toEqual({ items: [a3, a1], nextCursor: null });
    expect(succeeded(await postsByUser(t.url, author.username, {}, other.token)).items).toEqual([a3, a1]);
  });

  it('answers NOT_FOUND for an unknown user, BAD_REQUEST for bad input', async () => {
    expectTrpcError(await postsByUser(t.url, 'nobody_by_that_name'), 404, 'NOT_FOUND');
    const { username } = await signedInUser(t.url);
    for (const input of [{ username: 'x' }, { username, limit: 0 }, { username, limit: 101 }, { username, id: 'x' }]) {
      expectTrpcError(await query(t.url, 'posts.byUser', input), 400, 'BAD_REQUEST');
    }
  });

  it('pages keyset-stable: a burst pages completely, and new posts never shift later pages', async () => {
    const author = await signedInUser(t.url);
    const created = (await burst(t.url, [author], 23)).sort(newestFirst);
    const first = succeeded(await postsByUser(t.url, author.username, { limit: 5 }));
    expect(first.items).toEqual(created.slice(0, 5));
    await burst(t.url, [author], 3);

    const rest = await readAllPages((cursor) =>
      postsByUser(t.url, author.username, { limit: 5, cursor: cursor ?? first.nextCursor }),
    );
    expect(rest.map((page) => page.items.length)).toEqual([5, 5, 5, 3]);
    expect([...first.items, ...rest.flatMap((page) => page.items)]).toEqual(created);
  });

  it('refuses a damaged cursor, and one of another user’s posts', async () => {
    const [author, other] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await burst(t.url, [author, other], 6);
    const { nextCursor } = succeeded(await postsByUser(t.url, author.username, { limit: 1 }));
    const othersCursor = succeeded(await postsByUser(t.url, other.username, { limit: 1 })).nextCursor!;
    for (const cursor of [...damaged(nextCursor!), othersCursor]) {
      expectTrpcError(await postsByUser(t.url, author.username, { limit: 1, cursor }), 400, 'BAD_REQUEST');
    }
  });
});

describe('posts.timeline query plan', () => {
  const t = useTestApp();
  interface PlanNode {
    'Node Type': string;
    'Relation Name'?: string;
    'Index Name'?: string;
    Plans?: PlanNode[];
  }
  const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

  /** EXPLAIN of exactly the SQL and parameters timelinePosts sends, run through the app's own connection. */
  async function explainTimeline(viewerId: string, after: Position | undefined): Promise<PlanNode[]> {
    const connection = t.orm.em.fork().getConnection();
    let plan: unknown;
    const explaining = {
      getConnection: () => ({
        execute: async (text: string, params: unknown[]) => {
          plan = await connection.execute(`explain (format json) ${text}`, params);
          return [];
        },
      }),
    };
    await timelinePosts(explaining as unknown as EntityManager, viewerId, after, 21);
    const [row] = plan as [{ 'QUERY PLAN': [{ Plan: PlanNode }] }];
    return nodesOf(row['QUERY PLAN'][0].Plan);
  }

  it('reads a page of a heavy timeline through posts_author_live_recent, never scanning posts', async () => {
    const viewer = await signedInUser(t.url);
    const authors = `(select array_agg(id order by username) as ids from users where username like 'bulk\\_%')`;
    for (const statement of [
      `insert into users (id, username, password_hash, created_at)
       select gen_random_uuid(), 'bulk_' || n, 'x', now() from generate_series(1, 2000) n`,
      // 100 posts an author over a year, with millisecond times; every author's 20th deleted.
      // A bulk load, so it skips the realtime log as bench/seed.ts does (200,000 trigger rows
      // would take most of the test's time).
      `set warble.timeline_events = 'off';
       insert into posts (id, author_id, body, created_at, deleted_at)
       select gen_random_uuid(), a.ids[1 + n % 2000], 'bulk post ' || n,
              date_trunc('milliseconds', now() - random() * interval '365 days'), case when n / 2000 % 20 = 0 then now() end
       from ${authors} a, generate_series(1, 200000) n`,
      // Everyone follows 20 others; the viewer follows 150.
      `insert into follows (follower_id, followee_id, created_at)
       select a.ids[1 + n % 2000], a.ids[1 + (n % 2000 + 1 + n / 2000) % 2000], now()
       from ${authors} a, generate_series(0, 39999) n`,
    ]) {
      await sql(t.db.url, statement);
    }
    await sql(
      t.db.url,
      `insert into follows (follower_id, followee_id, created_at)
       select $1, id, now() from users where username like 'bulk\\_%' order by username limit 150`,
      [viewer.id],
    );
    await sql(t.db.url, 'vacuum analyze users, posts, follows');
    await burst(t.url, [viewer], 3);

    const page = succeeded(await timeline(t.url, viewer.token));
    const last = page.items.at(-1)!;
    for (const after of [undefined, { createdAt: new Date(last.createdAt), id: last.id }]) {
      const nodes = await explainTimeline(viewer.id, after);
      const postScans = nodes.filter((node) => node['Relation Name'] === 'posts');
      expect(postScans.length).toBeGreaterThan(0);
      expect(postScans.filter((node) => node['Node Type'] === 'Seq Scan')).toEqual([]);
      // An index-only scan per followed author, as post-queries.ts intends.
      const viaIndex = nodes.filter((node) => node['Index Name'] === 'posts_author_live_recent');
      expect(new Set(viaIndex.map((node) => node['Node Type']))).toEqual(new Set(['Index Only Scan']));
    }

    // And on this volume it answers what a plain query says the timeline is.
    const expected = await sql<{ id: string }>(
      t.db.url,
      `select id from posts where deleted_at is null
         and (author_id = $1 or author_id in (select followee_id from follows where follower_id = $1))
       order by created_at desc, id desc limit 40`,
      [viewer.id],
    );
    const next = succeeded(await timeline(t.url, viewer.token, { cursor: page.nextCursor }));
    expect(idsOf([...page.items, ...next.items])).toEqual(expected.map((row) => row.id));
    // Loading 200,000 posts and vacuuming takes ~9 s alone, several times that beside the other files.
  }, 90_000);
});
