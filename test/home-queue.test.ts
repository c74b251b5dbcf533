// The fan-out's durable queue is the post log (timeline_events) and its cursor, not the job that
// wakes it: posts taken while no worker runs are fanned out once one does, and the log's purge keeps
// what the fan-out has not read (for a week; beyond, home timelines are rebuilt).
import { MikroORM } from '@mikro-orm/postgresql';
import { describe, expect, it } from 'vitest';
import { ormOptions } from '../server/db.ts';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { EventLog } from '../server/realtime/event-log.ts';
import { readHomePage } from '../server/timelines/home-read.ts';
import { fanOutOnce } from '../server/timelines/home-writes.ts';
import { startTestApp, testEnv, type TestApp } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import {
  buildNow,
  entryIds,
  expectIdenticalPages,
  fannedOut,
  homeState,
  idsOf,
  sqlFollows,
  sqlPosts,
  sqlUsers,
  withAppClient,
} from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { eventually, follow, postsInOrder, signedInUser } from './helpers/social.ts';

describe('home timelines: the post log as the fan-out’s queue', () => {
  it('fans out posts taken while no worker ran, once a process with a worker starts', async () => {
    const db = await createTestDatabase();
    const apps: TestApp[] = [];
    try {
      // One environment (the same JWT secret: tokens stay valid in the second process), worker off.
      const env = testEnv({ HOME_TIMELINE_CAP: '10', JOB_WORKER: 'false' });
      const idle = await startTestApp({ databaseUrl: db.url, env });
      apps.push(idle);
      const [viewer, author] = await Promise.all([signedInUser(idle.url), signedInUser(idle.url)]);
      await follow(idle.url, viewer.token, author.username);
      await buildNow(idle, [viewer.id]);
      const posts = await postsInOrder(idle.url, author.token, ['q1', 'q2', 'q3']);
      await idle.close();
      apps.pop();
      // The wake-ups those posts queued are dropped: only the log says what is left to do.
      await sql(db.url, `select graphile_worker.remove_job('home_fanout')`);
      expect(await sql(db.url, 'select * from graphile_worker.jobs')).toEqual([]);
      expect(await fannedOut(db.url)).toBe(false);
      expect(await entryIds(db.url, viewer.id)).toEqual([]);

      const working = await startTestApp({ databaseUrl: db.url, env: { ...env, JOB_WORKER: true } });
      apps.push(working);
      await eventually(() => fannedOut(db.url), 'the new worker read the log', 15_000);
      expect((await entryIds(db.url, viewer.id)).sort()).toEqual(idsOf(posts).sort());
      const kinds = await expectIdenticalPages({ ...working, db }, viewer, [2]);
      expect(kinds.get(2)).toEqual(['page', 'page']);
    } finally {
      for (const app of apps) await app.close();
      await db.drop();
    }
  });

  it('keeps unread log rows through the purge, and marks home timelines unbuilt past a week', async () => {
    const db = await createTestDatabase();
    const env = testEnv({ HOME_TIMELINE_CAP: '10' });
    // No app: no worker and no purge of its own run meanwhile.
    const orm = await MikroORM.init(ormOptions(env, db.url));
    try {
      const settings = { cap: env.HOME_TIMELINE_CAP, mergeFollowers: env.HOME_TIMELINE_MERGE_FOLLOWERS };
      const log = new EventLog(async () => await orm.em.getConnection().getNativeClient());
      const [viewer, author] = await sqlUsers(db.url, 'purge', 2);
      await sqlFollows(db.url, [[viewer!, author!]]);
      await buildNow({ orm, env }, [viewer!]);
      const [read] = await sqlPosts(db.url, [{ author: author!, age: 1 }]);
      await withAppClient(orm, (client) => fanOutOnce(client, settings));
      expect(await entryIds(db.url, viewer!)).toEqual([read]);
      const [unread] = await sqlPosts(db.url, [{ author: author!, age: 0 }]);
      const logged = () => sql<{ post_id: string }>(db.url, 'select post_id from timeline_events order by tx, id');

      // Past the hour of retention: the row the fan-out read goes, the other stays.
      await sql(db.url, `update timeline_events set created_at = now() - interval '2 hours'`);
      expect(await log.purge()).toEqual({ purged: 1, unread: 0 });
      expect(await logged()).toEqual([{ post_id: unread }]);
      expect((await homeState(db.url, viewer!))?.built).toBe(true);

      // Unread for more than a week: gone, and home timelines must be built again.
      await sql(db.url, `update timeline_events set created_at = now() - interval '8 days'`);
      expect(await log.purge()).toEqual({ purged: 1, unread: 1 });
      expect(await logged()).toEqual([]);
      expect((await homeState(db.url, viewer!))?.built).toBe(false);
      const em = orm.em.fork();
      expect((await readHomePage(em, viewer!, undefined, 5)).kind).toBe('unbuilt');

      // The rebuild has the post the fan-out never read.
      await buildNow({ orm, env }, [viewer!]);
      expect((await entryIds(db.url, viewer!)).sort()).toEqual([read, unread].sort());
      const page = await readHomePage(em, viewer!, undefined, 5);
      expect(page.kind === 'page' && idsOf(page.posts)).toEqual(idsOf(await timelinePosts(em, viewer!, undefined, 5)));
    } finally {
      await orm.close();
      await db.drop();
    }
  });
});
