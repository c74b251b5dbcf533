// posts.timeline served from home timelines (server/timelines/) must page exactly like the pull
// query (timelinePosts, the reference) and like the timeline's plain definition, on any data:
// ties, deleted posts and accounts, merged authors, and a cap small enough that pages reach below
// the floor, where the pull query takes over.
import { describe, expect, it } from 'vitest';
import type { HomePage } from '../server/timelines/home-read.ts';
import { readHomePage } from '../server/timelines/home-read.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import {
  definition,
  drain,
  expectIdenticalPages,
  homeState,
  idsOf,
  seededRandom,
  sqlFollows,
  sqlPosts,
  sqlUsers,
  waitBuilt,
  type SqlPost,
} from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, signedInUser, succeeded, timeline } from './helpers/social.ts';

const CAP = 25;
const MERGE_FOLLOWERS = 5;
const SEED = 1717;

describe('home timelines: pages identical to the pull query', () => {
  const t = useTestApp({
    env: testEnv({ HOME_TIMELINE_CAP: String(CAP), HOME_TIMELINE_MERGE_FOLLOWERS: String(MERGE_FOLLOWERS) }),
  });

  it('pages a random data set exactly as the pull query and the definition, through the floor', async () => {
    const random = seededRandom(SEED);
    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
    const viewers = await Promise.all([0, 1, 2, 3, 4, 5].map(() => signedInUser(t.url)));
    const authors = await sqlUsers(t.db.url, 'pages', 28);
    const [popular1, popular2] = authors;
    const doomed = authors.at(-1)!;
    // Two authors with more followers than the threshold: merged at read time once they post.
    await sqlFollows(
      t.db.url,
      authors.slice(2, 2 + MERGE_FOLLOWERS + 2).flatMap((a) => [[a, popular1!] as [string, string], [a, popular2!]]),
    );
    const followCounts = [0, 3, 6, 10, 16, 27];
    await sqlFollows(
      t.db.url,
      viewers.flatMap((viewer, i) => {
        const followed = [...authors].sort(() => random() - 0.5).slice(0, followCounts[i]);
        if (i >= 3) followed.push(popular1!, doomed);
        return followed.map((author) => [viewer.id, author] as [string, string]);
      }),
    );
    const everyone = [...authors, ...viewers.map((viewer) => viewer.id)];
    // Whole seconds: many posts share a created_at, so ties are broken by id across pages.
    const posts = (count: number, oldest: number): SqlPost[] =>
      Array.from({ length: count }, () => ({
        author: pick(everyone),
        age: Math.floor(random() * oldest),
        deleted: random() < 0.1,
      }));
    await sqlPosts(
      t.db.url,
      posts(300, 900).map((post) => ({ ...post, age: post.age + 300 })),
    );
    // The fan-out marks the popular authors as merged; builds then leave them out.
    await drain(t.db.url);

    // First reads: no home timeline yet, so the pull query answers, and builds are asked for.
    for (const viewer of viewers) {
      const page = succeeded(await timeline(t.url, viewer.token, { limit: 20 }));
      expect(idsOf(page.items)).toEqual(idsOf((await definition(t.db.url, viewer.id)).slice(0, 20)));
    }
    await waitBuilt(
      t.db.url,
      viewers.map((viewer) => viewer.id),
    );

    // Then more posts, fanned out into the built timelines: all over the time range (so below
    // and above floors, with ties), some through the API; deletes, restores, a deleted account.
    const later = await sqlPosts(t.db.url, posts(150, 1200));
    for (const viewer of viewers.slice(0, 3)) await createPost(t.url, viewer.token, 'fresh');
    const live = later.filter(() => random() < 0.2);
    await sql(t.db.url, 'update posts set deleted_at = now() where id = any($1::uuid[])', [live]);
    await sql(t.db.url, 'update posts set deleted_at = null where id = any($1::uuid[])', [live.slice(0, 5)]);
    await sql(t.db.url, 'update users set deleted_at = now() where id = $1', [doomed]);
    await sql(t.db.url, 'delete from follows where follower_id = $1 or followee_id = $1', [doomed]);
    await drain(t.db.url);

    const merged = await sql<{ author_id: string }>(t.db.url, 'select author_id from home_merged_authors');
    expect(merged.map((row) => row.author_id).sort(), `seed ${SEED}`).toEqual([popular1, popular2].sort());
    const floors: string[] = [];
    for (const viewer of viewers) {
      const kinds = await expectIdenticalPages(t, viewer, [1, 7, 20, 100]);
      // The home timeline really answered the first pages, and the pull query the deep ones.
      expect(kinds.get(7)![0], `seed ${SEED}`).toBe('page');
      if ((await homeState(t.db.url, viewer.id))?.floor) {
        floors.push(viewer.id);
        expect(kinds.get(7), `seed ${SEED}`).toContain('below floor');
      }
    }
    // The data set is one where floors exist (else the test would not reach below them).
    expect(floors.length, `seed ${SEED}`).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('keeps keyset paging stable through the floor into the pull query while posts arrive', async () => {
    const viewer = await signedInUser(t.url);
    const authors = await sqlUsers(t.db.url, 'keyset', 4);
    await sqlFollows(
      t.db.url,
      authors.map((author) => [viewer.id, author] as [string, string]),
    );
    await sqlPosts(
      t.db.url,
      Array.from({ length: 70 }, (_, i) => ({ author: authors[i % 4]!, age: 100 + Math.floor(i / 3) })),
    );
    succeeded(await timeline(t.url, viewer.token));
    await waitBuilt(t.db.url, [viewer.id]);
    expect((await homeState(t.db.url, viewer.id))?.floor).not.toBeNull();

    const expected = idsOf(await definition(t.db.url, viewer.id));
    const em = t.orm.em.fork();
    const served: string[] = [];
    const kinds: HomePage['kind'][] = [];
    let cursor: string | null | undefined;
    for (let page = 0; page === 0 || cursor; page++) {
      // Which path answers this page (as posts.timeline asks: one more than the limit).
      const last = served.at(-1);
      if (last) {
        const [row] = await sql<{ created_at: Date }>(t.db.url, 'select created_at from posts where id = $1', [last]);
        kinds.push((await readHomePage(em, viewer.id, { createdAt: row!.created_at, id: last }, 8)).kind);
      }
      const result = succeeded(await timeline(t.url, viewer.token, { limit: 7, cursor }));
      served.push(...idsOf(result.items));
      cursor = result.nextCursor;
      if (page === 0 || page === 2) {
        // New posts arrive (newer than everything served) and are fanned out.
        await sqlPosts(
          t.db.url,
          authors.map((author) => ({ author, age: 0 })),
        );
        await createPost(t.url, viewer.token, 'mine, meanwhile');
        await drain(t.db.url);
      }
    }
    expect(served).toEqual(expected);
    expect(kinds).toContain('page');
    expect(kinds.at(-1)).toBe('below floor');
  }, 60_000);
});
