// The timeline of a viewer who follows a thousand authors or more takes another query (newest
// first over all posts, see server/posts/post-queries.ts) and falls back to the per-author one
// when that gives up. Whichever runs, the pages must be exactly the timeline.
import type { EntityManager } from '@mikro-orm/postgresql';
import { describe, expect, it } from 'vitest';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { sql } from './helpers/sessions.ts';
import { idsOf, readAllPages, signedInUser, succeeded, timeline } from './helpers/social.ts';

const FOLLOWED = 1100;
const NOT_FOLLOWED = 100;

describe('posts.timeline of a viewer who follows more than a thousand authors', () => {
  // The pull query is what this file is about, so home timelines are off: every page through the API
  // is one of its two queries (and the follows this file deletes by SQL skip the home timelines'
  // own removal, which users.unfollow does).
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: '0' }) });

  /** What timelinePosts sends for a page: the kind of each statement, in order (they run for real). */
  async function statementsFor(viewerId: string, cursorOf?: { createdAt: string; id: string }) {
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
    const after = cursorOf && { createdAt: new Date(cursorOf.createdAt), id: cursorOf.id };
    await timelinePosts(recording as unknown as EntityManager, viewerId, after, 21);
    return kinds;
  }

  /** The timeline by definition: a plain query, no cleverness. */
  const expectedIds = async (viewerId: string) =>
    (
      await sql<{ id: string }>(
        t.db.url,
        `select id from posts where deleted_at is null
           and (author_id = $1 or author_id in (select followee_id from follows where follower_id = $1))
         order by created_at desc, id desc`,
        [viewerId],
      )
    ).map((row) => row.id);

  const allPages = async (token: string) =>
    (await readAllPages((cursor) => timeline(t.url, token, { cursor, limit: 100 }), 200)).flatMap((page) =>
      idsOf(page.items),
    );

  it('pages exactly the timeline, newest first, whether the newest posts are followed ones or not', async () => {
    const viewer = await signedInUser(t.url);
    const authors = `(select array_agg(id order by username) as ids from users where username like 'heavy\\_%')`;
    await sql(
      t.db.url,
      `insert into users (id, username, password_hash, created_at)
       select gen_random_uuid(), 'heavy_' || lpad(n::text, 4, '0'), 'x', now()
       from generate_series(1, ${FOLLOWED + NOT_FOLLOWED}) n`,
    );
    await sql(
      t.db.url,
      `insert into follows (follower_id, followee_id, created_at)
       select $1, id, now() from users where username like 'heavy\\_%' order by username limit ${FOLLOWED}`,
      [viewer.id],
    );
    // 4,000 posts over the last day by everyone, every 10th deleted, with some equal times so that
    // ties are broken by id across pages; the viewer's own posts belong too.
    await sql(
      t.db.url,
      `insert into posts (id, author_id, body, created_at, deleted_at)
       select gen_random_uuid(), a.ids[1 + n % ${FOLLOWED + NOT_FOLLOWED}], 'post ' || n,
              date_trunc('second', now() - (n % 3000) * interval '20 seconds'), case when n % 10 = 0 then now() end
       from ${authors} a, generate_series(1, 4000) n`,
    );
    await sql(
      t.db.url,
      `insert into posts (id, author_id, body, created_at)
       select gen_random_uuid(), $1, 'mine ' || n, now() - n * interval '1 hour' from generate_series(1, 5) n`,
      [viewer.id],
    );

    const dense = await expectedIds(viewer.id);
    expect(dense.length).toBeGreaterThan(3000);
    expect(await allPages(viewer.token)).toEqual(dense);
    // The first page comes from the newest-first query alone; the last one (short) from the
    // per-author query, which is what it falls back to.
    expect(await statementsFor(viewer.id)).toEqual(['count', 'newest']);
    const lastPage = await sql<{ created_at: Date; id: string }>(
      t.db.url,
      'select created_at, id from posts where id = $1',
      [dense.at(-10)],
    );
    const cursorOf = { createdAt: lastPage[0]!.created_at.toISOString(), id: lastPage[0]!.id };
    expect(await statementsFor(viewer.id, cursorOf)).toEqual(['count', 'newest', 'per-author']);

    // 12,000 newer posts by unfollowed authors bury the followed ones beyond what the newest-first
    // query reads: it gives up, and the per-author query answers the same timeline.
    await sql(
      t.db.url,
      `insert into posts (id, author_id, body, created_at)
       select gen_random_uuid(), a.ids[${FOLLOWED} + 1 + n % ${NOT_FOLLOWED}], 'noise ' || n, now() + n * interval '1 ms'
       from ${authors} a, generate_series(1, 12000) n`,
    );
    expect(await statementsFor(viewer.id)).toEqual(['count', 'newest', 'per-author']);
    expect(await allPages(viewer.token)).toEqual(dense);

    // Below the threshold it is the per-author query only.
    await sql(
      t.db.url,
      `delete from follows where follower_id = $1
         and followee_id in (select id from users where username like 'heavy\\_%' order by username limit 200)`,
      [viewer.id],
    );
    expect(await statementsFor(viewer.id)).toEqual(['count', 'per-author']);
    expect(await allPages(viewer.token)).toEqual(await expectedIds(viewer.id));
    expect(succeeded(await timeline(t.url, viewer.token)).items).toHaveLength(20);
  });
});
