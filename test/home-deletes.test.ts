// Deleted posts and accounts leave home timelines at once (reads skip them; their entries stay),
// and a restored post is back in its place at once.
import { describe, expect, it } from 'vitest';
import { readHomePage } from '../server/timelines/home-read.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD } from './helpers/auth.ts';
import { definition, drain, entryOwners, expectIdenticalPages, idsOf, readAndBuild } from './helpers/home.ts';
import {
  deleteAccountCall,
  deletePost,
  follow,
  postsInOrder,
  restorePostCall,
  signedInUser,
  succeeded,
  timeline,
} from './helpers/social.ts';

describe('home timelines: deleted and restored posts, deleted accounts', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: '6', HOME_TIMELINE_MERGE_FOLLOWERS: '2' }) });

  const shown = async (token: string) => idsOf(succeeded(await timeline(t.url, token, { limit: 100 })).items);
  /** The home read's first page: it must answer, not the pull query. */
  const homeIds = async (userId: string, count: number) => {
    const page = await readHomePage(t.orm.em.fork(), userId, undefined, count);
    expect(page.kind).toBe('page');
    return page.kind === 'page' ? idsOf(page.posts) : [];
  };

  it('drops a deleted post from followers’ timelines at once, and puts a restored one back in its place', async () => {
    const author = await signedInUser(t.url);
    const followers = await Promise.all([1, 2].map(() => signedInUser(t.url)));
    for (const follower of followers) await follow(t.url, follower.token, author.username);
    await readAndBuild(t, followers);
    const posts = await postsInOrder(t.url, author.token, ['p1', 'p2', 'p3', 'p4']);
    await drain(t.db.url);
    for (const post of posts) expect((await entryOwners(t.db.url, post.id)).sort()).toHaveLength(2);
    const before = await shown(followers[0]!.token);
    expect(before).toEqual(idsOf(posts).reverse());

    const gone = posts[2]!;
    succeeded(await deletePost(t.url, gone.id, author.token));
    for (const follower of followers) {
      expect(await shown(follower.token)).toEqual(before.filter((id) => id !== gone.id));
      expect(await homeIds(follower.id, 3)).toEqual(before.filter((id) => id !== gone.id).slice(0, 3));
    }
    succeeded(await restorePostCall(t.url, gone.id, author.token));
    for (const follower of followers) {
      expect(await shown(follower.token)).toEqual(before);
      expect(await homeIds(follower.id, 3)).toEqual(before.slice(0, 3));
    }
  });

  it('drops a merged author’s deleted post at once too', async () => {
    const celebrity = await signedInUser(t.url);
    const fans = await Promise.all([1, 2, 3].map(() => signedInUser(t.url)));
    for (const fan of fans) await follow(t.url, fan.token, celebrity.username);
    await readAndBuild(t, fans);
    const posts = await postsInOrder(t.url, celebrity.token, ['c1', 'c2']);
    await drain(t.db.url);
    expect(await entryOwners(t.db.url, posts[1]!.id)).toEqual([]);
    succeeded(await deletePost(t.url, posts[1]!.id, celebrity.token));
    for (const fan of fans) expect(await homeIds(fan.id, 3)).toEqual([posts[0]!.id]);
  });

  it('drops a deleted account’s posts from its followers’ timelines at once', async () => {
    const [leaving, staying] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    const followers = await Promise.all([1, 2].map(() => signedInUser(t.url)));
    for (const follower of followers) {
      await follow(t.url, follower.token, leaving.username);
      await follow(t.url, follower.token, staying.username);
    }
    await readAndBuild(t, followers);
    // Interleaved, and more than the cap: the leaving account's posts are among the entries.
    for (let i = 0; i < 4; i++) {
      await postsInOrder(t.url, leaving.token, [`leaving ${i}`]);
      await postsInOrder(t.url, staying.token, [`staying ${i}`]);
    }
    await drain(t.db.url);
    expect(await shown(followers[0]!.token)).toHaveLength(8);

    succeeded(await deleteAccountCall(t.url, leaving.token, PASSWORD));
    for (const follower of followers) {
      const ids = await shown(follower.token);
      expect(ids).toEqual(idsOf(await definition(t.db.url, follower.id)));
      expect(ids).toHaveLength(4);
      expect(await homeIds(follower.id, 3)).toEqual(ids.slice(0, 3));
      await expectIdenticalPages(t, follower, [1, 3]);
    }
  });
});
