// When a post shows in home timelines: the author's own post and a merged author's post at once
// (both are read from posts when the timeline is read), a followed author's post shortly after
// posts.create returns (the job worker's fan-out writes its entries).
import { describe, expect, it } from 'vitest';
import { readHomePage } from '../server/timelines/home-read.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { drain, entryOwners, idsOf, readAndBuild } from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, eventually, follow, signedInUser, succeeded, timeline } from './helpers/social.ts';

const MERGE_FOLLOWERS = 3;

describe('home timelines: when a post shows', () => {
  const t = useTestApp({
    env: testEnv({ HOME_TIMELINE_CAP: '10', HOME_TIMELINE_MERGE_FOLLOWERS: String(MERGE_FOLLOWERS) }),
  });

  const firstIds = async (token: string) => idsOf(succeeded(await timeline(t.url, token, { limit: 5 })).items);
  /** The home read's first page (what posts.timeline serves when it can). */
  const homeFirstIds = async (userId: string) => {
    const page = await readHomePage(t.orm.em.fork(), userId, undefined, 6);
    expect(page.kind).toBe('page');
    return page.kind === 'page' ? idsOf(page.posts) : [];
  };

  it('shows the author’s own post in their very next read, from their built home timeline', async () => {
    const [author, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, author.token, friend.username);
    await createPost(t.url, friend.token, 'before');
    await readAndBuild(t, [author]);
    await drain(t.db.url);

    for (let i = 0; i < 3; i++) {
      const post = await createPost(t.url, author.token, `mine ${i}`);
      // No waiting: the very next read.
      expect((await firstIds(author.token))[0]).toBe(post.id);
      expect((await homeFirstIds(author.id))[0]).toBe(post.id);
    }
    // The author's own posts are never entries of their own timeline.
    expect(await sql(t.db.url, 'select 1 from home_timeline_entries where user_id = $1', [author.id])).toHaveLength(1);
  });

  it('shows a merged author’s post in their followers’ next read, and writes no entries for it', async () => {
    const celebrity = await signedInUser(t.url);
    const fans = await Promise.all([1, 2, 3, 4].map(() => signedInUser(t.url)));
    for (const fan of fans) await follow(t.url, fan.token, celebrity.username);
    await readAndBuild(t, fans);
    // More followers than the threshold: the fan-out marks them merged when it meets their post.
    const first = await createPost(t.url, celebrity.token, 'first');
    await eventually(
      async () =>
        (await sql(t.db.url, 'select 1 from home_merged_authors where author_id = $1', [celebrity.id])).length > 0,
      'the celebrity is marked merged',
    );

    for (let i = 0; i < 3; i++) {
      const post = await createPost(t.url, celebrity.token, `news ${i}`);
      for (const fan of fans) {
        expect((await firstIds(fan.token))[0]).toBe(post.id);
        expect((await homeFirstIds(fan.id))[0]).toBe(post.id);
      }
    }
    await drain(t.db.url);
    const news = succeeded(await timeline(t.url, fans[0]!.token)).items.filter((post) => post.id !== first.id);
    for (const post of news) expect(await entryOwners(t.db.url, post.id)).toEqual([]);
  });

  it('brings a followed author’s post into their followers’ home timelines within a few seconds', async () => {
    const author = await signedInUser(t.url);
    const followers = await Promise.all([1, 2].map(() => signedInUser(t.url)));
    const unbuilt = await signedInUser(t.url);
    for (const user of [...followers, unbuilt]) await follow(t.url, user.token, author.username);
    await readAndBuild(t, followers);
    // Not more followers than the threshold: fanned out, not merged.
    expect(followers.length + 1).toBeLessThanOrEqual(MERGE_FOLLOWERS);

    const post = await createPost(t.url, author.token, 'hello followers');
    for (const follower of followers) {
      await eventually(
        async () => (await firstIds(follower.token))[0] === post.id,
        'the post reaches a follower’s timeline',
      );
      expect((await homeFirstIds(follower.id))[0]).toBe(post.id);
    }
    // Entries for followers who have a home timeline; the one without reads the pull query.
    await drain(t.db.url);
    expect((await entryOwners(t.db.url, post.id)).sort()).toEqual(followers.map((user) => user.id).sort());
    expect((await firstIds(unbuilt.token))[0]).toBe(post.id);
    expect(await sql(t.db.url, 'select 1 from home_merged_authors where author_id = $1', [author.id])).toEqual([]);
  });
});
