// A follow copies at most HOME_TIMELINE_CAP of the followee's posts into the follower's home
// timeline. When the followee has more, their older posts are missing from it: the floor must rise
// so that deeper pages take the pull query, or they would silently lack those posts.
import { describe, expect, it } from 'vitest';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { readHomePage } from '../server/timelines/home-read.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, eventually, follow, idsOf, readAllPages, signedInUser, timeline } from './helpers/social.ts';

const CAP = 5;

describe('users.follow with a built home timeline', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: String(CAP) }) });

  it('copies the newest posts and raises the floor, so every page still matches the pull query', async () => {
    const viewer = await signedInUser(t.url);
    const quiet = await signedInUser(t.url);
    const prolific = await signedInUser(t.url);
    await follow(t.url, viewer.token, quiet.username);
    for (let i = 0; i < 2; i++) await createPost(t.url, quiet.token, `quiet ${i}`);
    for (let i = 0; i < 3 * CAP; i++) await createPost(t.url, prolific.token, `prolific ${i}`);

    // The first read asks for a build; it completes with everything (fewer than CAP posts): no floor.
    await timeline(t.url, viewer.token);
    await eventually(
      async () =>
        (await sql(t.db.url, 'select 1 from home_timelines where user_id = $1 and built_at is not null', [viewer.id]))
          .length > 0,
      'home timeline built',
    );
    const [before] = await sql<{ floor_id: string | null }>(
      t.db.url,
      'select floor_id from home_timelines where user_id = $1',
      [viewer.id],
    );
    expect(before?.floor_id).toBeNull();

    await follow(t.url, viewer.token, prolific.username);
    const [after] = await sql<{ floor_id: string | null }>(
      t.db.url,
      'select floor_id from home_timelines where user_id = $1',
      [viewer.id],
    );
    expect(after?.floor_id).not.toBeNull();

    const em = t.orm.em.fork();
    // Page 1 is the home timeline's; a page reaching past the copied posts is not.
    expect((await readHomePage(em, viewer.id, undefined, CAP)).kind).toBe('page');
    expect((await readHomePage(em, viewer.id, undefined, CAP + 3)).kind).toBe('below floor');

    const expected = (await timelinePosts(em, viewer.id, undefined, 100)).map((post) => post.id);
    expect(expected).toHaveLength(3 * CAP + 2);
    for (const limit of [1, 2, 4, 100]) {
      const pages = await readAllPages((cursor) => timeline(t.url, viewer.token, { cursor, limit }));
      expect(pages.flatMap((page) => idsOf(page.items))).toEqual(expected);
    }
  });
});
