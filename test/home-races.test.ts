// Follows and unfollows racing the fan-out of the followee's posts: whichever commits first, once the
// worker has caught up every viewer's pages are exactly the pull query's (the advisory locks of
// server/timelines/home-writes.ts order them). Commits of posts and follows are slowed down in this
// file's database so that the races actually happen.
import { describe, expect, it } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { drain, expectIdenticalPages, readAndBuild, seededRandom } from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, followUser, signedInUser, succeeded, timeline, unfollowUser } from './helpers/social.ts';

const ROUNDS = 30;

describe('home timelines: concurrent follows, unfollows, posts and fan-out', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: '12', HOME_TIMELINE_MERGE_FOLLOWERS: '10' }) });

  const followOrUnfollow = (viewer: { token: string }, author: { username: string }, follow: boolean) =>
    (follow ? followUser : unfollowUser)(t.url, author.username, viewer.token).then(succeeded);

  it('ends with every viewer’s pages equal to the pull query’s', async () => {
    const random = seededRandom(4242);
    const viewers = await Promise.all([1, 2, 3, 4].map(() => signedInUser(t.url)));
    const authors = await Promise.all([1, 2, 3].map(() => signedInUser(t.url)));
    await readAndBuild(t, viewers);
    // A commit that takes a while (as under load): a post or a follow is written but not yet
    // visible while the others go on — the window in which a fan-out could miss a new follow,
    // or write into a timeline just after an unfollow removed the author's entries.
    await sql(
      t.db.url,
      `create function slow_commit() returns trigger language plpgsql as $$
       begin perform pg_sleep(tg_argv[0]::float8); return null; end $$`,
    );
    for (const [table, seconds] of [
      ['posts', 0.05],
      ['follows', 0.15],
    ] as const) {
      await sql(
        t.db.url,
        `create constraint trigger slow_commit after insert or delete on ${table}
         deferrable initially deferred for each row execute function slow_commit('${seconds}')`,
      );
    }

    const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
    // Everyone at once.
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all([
        ...viewers.map((viewer) => followOrUnfollow(viewer, pick(authors), random() < 0.55)),
        ...authors.map((author) => createPost(t.url, author.token, `round ${round}`)),
        timeline(t.url, pick(viewers).token).then(succeeded),
      ]);
      if (round % 10 === 9) await drain(t.db.url);
    }
    // One pair at a time, in the order that makes each race likeliest: a follow that starts while
    // the author's post is being committed (its copy cannot see the post yet), an unfollow just
    // after the post is committed (the fan-out may still be writing it).
    const following = new Set(
      (await sql<{ pair: string }>(t.db.url, `select follower_id::text || followee_id::text as pair from follows`)).map(
        (row) => row.pair,
      ),
    );
    for (let round = 0; round < ROUNDS; round++) {
      const [viewer, author] = [pick(viewers), pick(authors)];
      const follows = following.has(viewer.id + author.id);
      if (follows) {
        await createPost(t.url, author.token, `before unfollow ${round}`);
        await followOrUnfollow(viewer, author, false);
        following.delete(viewer.id + author.id);
      } else {
        const post = createPost(t.url, author.token, `before follow ${round}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        await Promise.all([post, followOrUnfollow(viewer, author, true)]);
        following.add(viewer.id + author.id);
      }
    }
    await drain(t.db.url);

    for (const viewer of viewers) await expectIdenticalPages(t, viewer, [3, 100]);
    expect((await sql(t.db.url, 'select 1 from home_timeline_entries')).length).toBeGreaterThan(10);
  }, 60_000);
});
