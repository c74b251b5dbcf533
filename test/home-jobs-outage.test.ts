// A database outage while a job ends must not end the process. graphile-worker records a job's end
// (done, or failed for a retry) in a promise nobody awaits; while the database refuses connections
// that promise rejects, and an unhandled rejection ends a Node process. The job queue is configured so
// those failures reach graphile-worker's own error path instead (home-jobs.ts), and the worker is
// started again once the database is back.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, testEnv } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { buildNow, entryIds, fannedOut } from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { eventually, follow, postsInOrder, signedInUser } from './helpers/social.ts';

describe('home timelines: a database outage while a job runs', () => {
  const unhandled: unknown[] = [];
  const collect = (reason: unknown) => void unhandled.push(reason);
  beforeEach(() => void process.on('unhandledRejection', collect));
  afterEach(() => void process.off('unhandledRejection', collect));

  it('a fan-out cut off by the outage fails without an unhandled rejection, and a new worker finishes it', async () => {
    const db = await createTestDatabase();
    const app = await startTestApp({
      databaseUrl: db.url,
      env: testEnv({ HOME_TIMELINE_CAP: '10' }),
    });
    const holder = new pg.Client({ connectionString: db.url });
    holder.on('error', () => {}); // it is cut off on purpose below
    try {
      const [viewer, author] = await Promise.all([signedInUser(app.url), signedInUser(app.url)]);
      await follow(app.url, viewer.token, author.username);
      await buildNow(app, [viewer.id]);

      // Hold the fan-out's cursor, so the job that the post wakes waits inside its transaction.
      await holder.connect();
      await holder.query('begin');
      await holder.query('select * from home_fanout_cursor where id = 1 for update');
      const [post] = await postsInOrder(app.url, author.token, ['written just before the outage']);
      const waiting = async () => {
        const [row] = await sql<{ n: number }>(
          db.url,
          `select count(*)::int as n from pg_stat_activity
           where datname = current_database() and application_name = 'warble-jobs' and wait_event_type = 'Lock'`,
        );
        return (row?.n ?? 0) > 0;
      };
      await eventually(waiting, 'the fan-out job waits for the cursor', 15_000);

      // The outage: every connection cut, new ones refused. The job fails, and recording its
      // failure needs a connection the database refuses.
      await db.admin(`alter database "${db.name}" allow_connections false`);
      try {
        await db.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db.name}'`);
        await new Promise((resolve) => setTimeout(resolve, 1500));
      } finally {
        await db.admin(`alter database "${db.name}" allow_connections true`);
      }

      expect(unhandled).toEqual([]);
      // The process still serves, and a worker (a new one: the old one stopped on the error) fans
      // the post out once the database is back: the cron entry or the next wake-up runs the fan-out.
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      await postsInOrder(app.url, author.token, ['written after the outage']);
      await eventually(() => fannedOut(db.url), 'the fan-out caught up after the outage', 30_000);
      expect(await entryIds(db.url, viewer.id)).toContain(post!.id);
      expect(unhandled).toEqual([]);
    } finally {
      await holder.end().catch(() => {});
      await app.close();
      await db.drop();
    }
  }, 90_000);
});
