// A follow or an unfollow changes the follower's home timeline in its own transaction: the next read
// includes the followee's recent posts (backfill), or no longer shows them (removal), also those
// the fan-out wrote before.
import { describe, expect, it } from 'vitest';
import { readHomePage } from '../server/timelines/home-read.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import {
  definition,
  drain,
  entryIds,
  expectIdenticalPages,
  homeState,
  idsOf,
  readAndBuild,
  sqlPosts,
} from './helpers/home.ts';
import {
  createPost,
  eventually,
  follow,
  postsInOrder,
  signedInUser,
  succeeded,
  timeline,
  unfollowUser,
} from './helpers/social.ts';

const CAP = 10;

describe('home timelines: follows and unfollows', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: String(CAP), HOME_TIMELINE_MERGE_FOLLOWERS: '50' }) });

  const firstIds = async (token: string, limit = 20) => idsOf(succeeded(await timeline(t.url, token, { limit })).items);
  const homeKind = async (userId: string, limit = 6) =>
    (await readHomePage(t.orm.em.fork(), userId, undefined, limit)).kind;

  it('shows a new followee’s recent posts in the follower’s next read, and none of an unfollowed one’s', async () => {
    const [viewer, friend, newcomer] = await Promise.all([
      signedInUser(t.url),
      signedInUser(t.url),
      signedInUser(t.url),
    ]);
    await follow(t.url, viewer.token, friend.username);
    // The friend's posts fill the viewer's timeline past the cap (a floor), the newcomer's are recent.
    await sqlPosts(
      t.db.url,
      Array.from({ length: 3 * CAP }, (_, i) => ({ author: friend.id, age: 1000 + i })),
    );
    const recent = await postsInOrder(t.url, newcomer.token, ['n1', 'n2', 'n3', 'n4']);
    await readAndBuild(t, [viewer]);
    await drain(t.db.url);
    expect((await homeState(t.db.url, viewer.id))?.floor).not.toBeNull();

    await follow(t.url, viewer.token, newcomer.username);
    // The very next read: the backfill wrote them, and the home timeline answered.
    expect((await firstIds(viewer.token, 4)).sort()).toEqual(idsOf(recent).sort());
    expect(await homeKind(viewer.id)).toBe('page');
    await expectIdenticalPages(t, viewer, [3, 20]);

    // A later post of the newcomer, fanned out into the viewer's entries; then the unfollow.
    const later = await createPost(t.url, newcomer.token, 'n5');
    await eventually(async () => (await entryIds(t.db.url, viewer.id)).includes(later.id), 'n5 fanned out');
    succeeded(await unfollowUser(t.url, newcomer.username, viewer.token));
    const shown = await firstIds(viewer.token, 100);
    for (const post of [...recent, later]) expect(shown).not.toContain(post.id);
    // A page the entries can still hold: n5's fan-out may have trimmed (about one in 50 does) to the
    // cap's 10 newest, five of them the newcomer's, which the unfollow removed.
    expect(await homeKind(viewer.id, 3)).toBe('page');
    await expectIdenticalPages(t, viewer, [3, 20]);
    const entries = await entryIds(t.db.url, viewer.id);
    for (const post of [...recent, later]) expect(entries).not.toContain(post.id);
  });

  it('follows and unfollows back and forth: each next read is the timeline', async () => {
    const [viewer, author] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await postsInOrder(t.url, author.token, ['a1', 'a2', 'a3']);
    await readAndBuild(t, [viewer]);
    for (let i = 0; i < 4; i++) {
      await follow(t.url, viewer.token, author.username);
      expect(await firstIds(viewer.token)).toEqual(idsOf(await definition(t.db.url, viewer.id)));
      expect(await firstIds(viewer.token)).toHaveLength(3 + i);
      await createPost(t.url, viewer.token, `mine ${i}`);
      succeeded(await unfollowUser(t.url, author.username, viewer.token));
      expect(await firstIds(viewer.token)).toEqual(idsOf(await definition(t.db.url, viewer.id)));
      expect(await firstIds(viewer.token)).toHaveLength(1 + i);
    }
  });
});
