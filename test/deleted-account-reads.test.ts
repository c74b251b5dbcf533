// auth.deleteAccount is a soft delete (server/auth/accounts.ts): the users row stays (the name stays
// taken) and so do its posts, until the purge. Every read must then act as if the account did not
// exist: one world is built around an author, Ada, who deletes her account, and every read path
// is walked. Hand-written SQL skips the ORM's filters, so each list query says `u.deleted_at is null`
// itself (server/posts/post-queries.ts, server/realtime/event-log.ts, server/users/follow-queries.ts);
// the ORM paths rely on the default `liveAccount` filter (server/users/user.entity.ts).
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Post } from '../server/posts/post.entity.ts';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { User } from '../server/users/user.entity.ts';
import { useTestApp } from './helpers/app.ts';
import { PASSWORD } from './helpers/auth.ts';
import { sql } from './helpers/sessions.ts';
import {
  createPost,
  deleteAccountCall,
  deletePost,
  expectTrpcError,
  follow,
  followList,
  followUser,
  pagedIds,
  postById,
  postsByUser,
  restorePostCall,
  signedInUser,
  succeeded,
  timeline,
  unfollowUser,
  updateProfileCall,
  userProfile,
  type PostDto,
  type UserProfile,
} from './helpers/social.ts';
import { expectExactly, openTimeline, timelineOf } from './helpers/sse.ts';

// HEAVY_FOLLOWER in server/posts/post-queries.ts: from this many followed authors on, timelines
// take the newest-first query.
const HEAVY_FOLLOWER = 1000;
const BULK_POSTS = 30;

type Someone = Awaited<ReturnType<typeof signedInUser>>;

describe('reads after auth.deleteAccount', () => {
  const t = useTestApp();
  // Ada deletes her account. Fan follows Ada and Bob; Heavy follows Ada and 1000 others; Ada
  // follows Idol.
  let ada: Someone, fan: Someone, heavy: Someone, idol: Someone, bob: Someone;
  let adaPosts: PostDto[]; // live when she left
  let adaDeletedPost: PostDto; // deleted by her the moment before, still restorable by her
  let resumeFrom: string; // the id of Fan's last timeline event before Ada's posts
  const before: Record<'fanTimeline' | 'heavyTimeline', string[][]> = { fanTimeline: [], heavyTimeline: [] };
  const profileBefore: Record<string, UserProfile> = {};

  const pages = (who: Someone) => pagedIds((cursor) => timeline(t.url, who.token, { cursor, limit: 5 }));
  const profile = async (who: Someone) => succeeded(await userProfile(t.url, who.username));
  const allAdaPostIds = () => [...adaPosts, adaDeletedPost].map((post) => post.id);

  beforeAll(async () => {
    const newUser = () => signedInUser(t.url);
    [ada, fan, heavy, idol, bob] = await Promise.all([newUser(), newUser(), newUser(), newUser(), newUser()]);
    succeeded(await updateProfileCall(t.url, { displayName: 'Ada', bio: 'soon gone' }, ada.token));
    await follow(t.url, fan.token, ada.username);
    await follow(t.url, fan.token, bob.username);
    await follow(t.url, heavy.token, ada.username);
    await follow(t.url, ada.token, idol.username);

    // Heavy follows a thousand more authors, whose posts (an hour old) fill Heavy's timeline.
    await sql(
      t.db.url,
      `insert into users (id, username, password_hash, created_at)
       select gen_random_uuid(), 'bulk_' || lpad(n::text, 4, '0'), 'x', now() from generate_series(1, ${HEAVY_FOLLOWER}) n`,
    );
    await sql(
      t.db.url,
      `insert into follows (follower_id, followee_id, created_at)
       select $1, id, now() from users where username like 'bulk\\_%'`,
      [heavy.id],
    );
    await sql(
      t.db.url,
      `insert into posts (id, author_id, body, created_at)
       select gen_random_uuid(), u.id, 'bulk post', now() - interval '1 hour' - n * interval '1 second'
       from generate_series(1, ${BULK_POSTS}) n
       join users u on u.username = 'bulk_' || lpad(n::text, 4, '0')`,
    );

    adaDeletedPost = await createPost(t.url, ada.token, 'ada deleted this one');
    succeeded(await deletePost(t.url, adaDeletedPost.id, ada.token));
    const stream = openTimeline(t.url, fan.token);
    try {
      await stream.connected();
      await createPost(t.url, bob.token, 'bob before');
      await stream.receive(1);
      resumeFrom = stream.lastId();
      adaPosts = [];
      for (const body of ['ada 1', 'ada 2', 'ada 3']) adaPosts.push(await createPost(t.url, ada.token, body));
      await createPost(t.url, bob.token, 'bob after');
      // Ada's posts were in Fan's live timeline.
      await expectExactly(stream, ['post:bob before', 'post:ada 1', 'post:ada 2', 'post:ada 3', 'post:bob after']);
    } finally {
      stream.close();
    }

    before.fanTimeline = await pages(fan);
    before.heavyTimeline = await pages(heavy);
    for (const who of [fan, heavy, idol]) profileBefore[who.username] = await profile(who);
    // Ada's posts are the newest in both timelines: a read that let them through would show them first.
    expect(before.fanTimeline[0]!.slice(1, 4)).toEqual(adaPosts.map((post) => post.id).reverse());
    expect(before.heavyTimeline[0]!.slice(0, 3)).toEqual(adaPosts.map((post) => post.id).reverse());

    expect(succeeded(await deleteAccountCall(t.url, ada.token, PASSWORD))).toEqual({ deleted: true });
  }, 60_000);

  const without = (pages: string[][], ids: string[]) => pages.flat().filter((id) => !ids.includes(id));

  it('users.profile, posts.byUser and her follow lists: NOT_FOUND, with or without a token', async () => {
    for (const token of [undefined, fan.token]) {
      expectTrpcError(await userProfile(t.url, ada.username, { token }), 404, 'NOT_FOUND');
      expectTrpcError(await userProfile(t.url, ada.username.toUpperCase(), { token }), 404, 'NOT_FOUND');
      expectTrpcError(await postsByUser(t.url, ada.username, {}, token), 404, 'NOT_FOUND');
    }
    for (const which of ['followers', 'following'] as const) {
      expectTrpcError(await followList(t.url, which, { username: ada.username }), 404, 'NOT_FOUND');
    }
  });

  it('posts.byId of each of her posts: NOT_FOUND', async () => {
    for (const id of allAdaPostIds()) {
      expectTrpcError(await postById(t.url, id), 404, 'NOT_FOUND');
      expectTrpcError(await postById(t.url, id, fan.token), 404, 'NOT_FOUND');
    }
  });

  it('a follower’s timeline: the same pages without her posts', async () => {
    const now = await pages(fan);
    expect(now.flat()).toEqual(without(before.fanTimeline, allAdaPostIds()));
    expect(now.flat()).toHaveLength(2); // bob's two posts: nothing else was there
  });

  it('the timeline of a follower of a thousand authors (the newest-first query): without her posts', async () => {
    expect(await statementsFor(heavy.id)).toEqual(['count', 'newest']);
    const now = await pages(heavy);
    expect(now.flat()).toEqual(without(before.heavyTimeline, allAdaPostIds()));
    expect(now.flat()).toHaveLength(BULK_POSTS);
  });

  it('follow lists and counts of those she followed and who followed her: without her', async () => {
    const ids = async (who: Someone, which: 'followers' | 'following') =>
      succeeded(await followList(t.url, which, { username: who.username, limit: 100 })).items.map((user) => user.id);
    expect(await ids(idol, 'followers')).toEqual([]);
    expect(await ids(fan, 'following')).toEqual([bob.id]);

    expect((await profile(idol)).followersCount).toBe(profileBefore[idol.username]!.followersCount - 1);
    expect((await profile(fan)).followingCount).toBe(profileBefore[fan.username]!.followingCount - 1);
    expect((await profile(heavy)).followingCount).toBe(HEAVY_FOLLOWER);
    expect(profileBefore[heavy.username]!.followingCount).toBe(HEAVY_FOLLOWER + 1);
  });

  it('users.follow and users.unfollow of her: NOT_FOUND', async () => {
    expectTrpcError(await followUser(t.url, ada.username, fan.token), 404, 'NOT_FOUND');
    expectTrpcError(await followUser(t.url, ada.username, idol.token), 404, 'NOT_FOUND');
    expectTrpcError(await unfollowUser(t.url, ada.username, fan.token), 404, 'NOT_FOUND');
    expect((await profile(idol)).followingCount).toBe(0);
  });

  it('posts.restore and posts.delete of her posts by someone else: NOT_FOUND (not FORBIDDEN)', async () => {
    // FORBIDDEN would tell that the post exists.
    expectTrpcError(await restorePostCall(t.url, adaDeletedPost.id, bob.token), 404, 'NOT_FOUND');
    expectTrpcError(await restorePostCall(t.url, adaPosts[0]!.id, bob.token), 404, 'NOT_FOUND');
    expectTrpcError(await deletePost(t.url, adaPosts[0]!.id, bob.token), 404, 'NOT_FOUND');
    expectTrpcError(await postById(t.url, adaDeletedPost.id), 404, 'NOT_FOUND');
  });

  it('a live stream resumed from before her posts: everything else, none of hers', async () => {
    await expectExactly(timelineOf(t.url, fan.token, { lastEventId: resumeFrom }), ['post:bob after']);
  });

  it('the ORM: find/findOne do not return her or her posts (the filter), but the rows are kept', async () => {
    const em = t.orm.em.fork();
    expect(await em.findOne(User, ada.id)).toBeNull();
    expect((await em.find(User, {})).map((user) => user.id)).not.toContain(ada.id);
    expect((await em.find(User, {})).map((user) => user.id)).toContain(bob.id);
    for (const post of adaPosts) expect(await em.findOne(Post, post.id)).toBeNull();
    expect(await em.count(Post, { author: ada.id })).toBe(0);

    const unfiltered = t.orm.em.fork();
    expect(await unfiltered.findOne(User, ada.id, { filters: false })).toMatchObject({
      username: ada.username,
      displayName: 'Ada',
      deletedAt: expect.any(Date),
    });
    expect((await unfiltered.find(User, {}, { filters: false })).map((user) => user.id)).toContain(ada.id);
    for (const post of adaPosts) {
      expect(await unfiltered.findOne(Post, post.id, { filters: false })).toMatchObject({ body: post.body });
    }
  });

  describe('with a follow of hers left behind (put back by hand): no list relies on her follows being gone', () => {
    beforeAll(() =>
      sql(
        t.db.url,
        `insert into follows (follower_id, followee_id, created_at)
         values ($1, $3, now()), ($2, $3, now()), ($3, $4, now())`,
        [fan.id, heavy.id, ada.id, idol.id],
      ),
    );
    afterAll(() => sql(t.db.url, 'delete from follows where $1 in (follower_id, followee_id)', [ada.id]));

    it('follow lists still skip her', async () => {
      const list = (who: Someone, which: 'followers' | 'following') =>
        followList(t.url, which, { username: who.username, limit: 100 });
      expect(succeeded(await list(idol, 'followers')).items).toEqual([]);
      expect(succeeded(await list(fan, 'following')).items).toEqual([{ id: bob.id, username: bob.username }]);
    });

    it('timelines, both queries, still skip her posts', async () => {
      expect((await pages(fan)).flat()).toEqual(without(before.fanTimeline, allAdaPostIds()));
      expect(await statementsFor(heavy.id)).toEqual(['count', 'newest']);
      expect((await pages(heavy)).flat()).toEqual(without(before.heavyTimeline, allAdaPostIds()));
    });

    it('a resumed stream still skips her posts', async () => {
      await expectExactly(timelineOf(t.url, fan.token, { lastEventId: resumeFrom }), ['post:bob after']);
    });
  });

  /** What timelinePosts sends for a first page of 5: the kind of each statement (they run for real). */
  async function statementsFor(viewerId: string) {
    const connection = t.orm.em.fork().getConnection();
    const kinds: string[] = [];
    const recording = {
      getConnection: () => ({
        execute: (text: string, params: unknown[]) => {
          kinds.push(/cross join lateral/.test(text) ? 'per-author' : /\bnewest\b/.test(text) ? 'newest' : 'count');
          return connection.execute(text, params);
        },
      }),
    };
    await timelinePosts(recording as unknown as EntityManager, viewerId, undefined, 6);
    return kinds;
  }
});
