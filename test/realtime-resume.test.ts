// Resuming posts.onTimeline, read by a raw SSE client (test/helpers/sse.ts): a client killed and
// resumed with its last id gets exactly the events it missed, then live ones: on the same process,
// on another process sharing the database, and after the server process restarts; an id the log
// no longer has is BAD_REQUEST. Also where a stream's start meets the log: a process that just
// started, a slow first read. Live delivery on one process is test/realtime.test.ts.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTestApp, testEnv, UNLIMITED, type TestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { startServerProcess } from './helpers/server-process.ts';
import { createPost, deletePost, follow, signedInUser, succeeded } from './helpers/social.ts';
import {
  describeEvents,
  endCode,
  expectExactly,
  expectNothingRepeated,
  SSE_WAIT_MS,
  timelineOf,
  type TimelineOptions,
} from './helpers/sse.ts';

// A SIGTERM'd process must end its streams itself, well before its grace period would cut them.
const STREAMS_END_WITHIN_MS = 5_000;

describe('resuming posts.onTimeline', () => {
  const secret = randomBytes(32).toString('base64url');
  let db: TestDatabase;
  // Two processes' worth of app on one database, sharing the token secret as a deployment does.
  let a: TestApp;
  let b: TestApp;
  // For writes behind the apps' backs (bulk posts, a purged log).
  let sql: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    a = await startTestApp({ databaseUrl: db.url, env: testEnv({ JWT_SECRET: secret }) });
    b = await startTestApp({ databaseUrl: db.url, env: testEnv({ JWT_SECRET: secret }) });
  });
  afterAll(async () => {
    await sql?.end();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  /** A signed-in user following another, and a stranger nobody follows. */
  async function cast(url: string) {
    const [me, friend, stranger] = [await signedInUser(url), await signedInUser(url), await signedInUser(url)];
    await follow(url, me.token, friend.username);
    return { me, friend, stranger };
  }

  for (const via of ['input', 'header'] as const) {
    it(`gives a killed client, resumed with its last id (${via}), exactly what it missed, then live events`, async () => {
      const { me, friend, stranger } = await cast(a.url);
      const resumeFrom = (id: string): TimelineOptions =>
        via === 'input' ? { lastEventId: id } : { lastEventIdHeader: id };
      const first = timelineOf(a.url, me.token);
      await first.connected();
      const f1 = await createPost(a.url, friend.token, 'f1');
      await createPost(a.url, me.token, 'm1');
      await first.receive(2);
      first.close();

      // While disconnected.
      await createPost(a.url, friend.token, 'f2');
      await createPost(a.url, stranger.token, 'stranger');
      succeeded(await deletePost(a.url, f1.id, friend.token));
      await createPost(a.url, me.token, 'm2');

      const second = timelineOf(a.url, me.token, resumeFrom(first.lastId()));
      // Live posts race the replay: sent at once, while the stream is still reading the log.
      for (const body of ['live 1', 'live 2', 'live 3']) await createPost(a.url, friend.token, body);
      await expectExactly(second, [
        'post:f2',
        `delete:${f1.id}`,
        'post:m2',
        'post:live 1',
        'post:live 2',
        'post:live 3',
      ]);
      expect(describeEvents(first.received())).toEqual(['post:f1', 'post:m1']);
      expectNothingRepeated(first, second);

      // Killed again with nothing missed: the resumed stream starts empty and stays live.
      second.close();
      const third = timelineOf(a.url, me.token, resumeFrom(second.lastId()));
      await third.connected();
      await createPost(a.url, me.token, 'after the second resume');
      await expectExactly(third, ['post:after the second resume']);
      expectNothingRepeated(first, second, third);
    });
  }

  it('delivers a post made on another process, and resumes on that process from an id received on the first', async () => {
    const { me, friend } = await cast(a.url);
    const onA = timelineOf(a.url, me.token);
    await onA.connected();
    await createPost(b.url, friend.token, 'written on B');
    await expectExactly(onA, ['post:written on B']);
    onA.close();

    await createPost(b.url, friend.token, 'missed, on B');
    await createPost(a.url, me.token, 'missed, on A');
    const onB = timelineOf(b.url, me.token, { lastEventId: onA.lastId() });
    await onB.receive(2);
    await createPost(a.url, friend.token, 'live, on A');
    await expectExactly(onB, ['post:missed, on B', 'post:missed, on A', 'post:live, on A']);
    expectNothingRepeated(onA, onB);
  });

  it('delivers every event to a stream opened as soon as a newly started process serves', async () => {
    const { me, friend } = await cast(a.url);
    // Each round a process that just started: a stream opened at once must not lose what follows.
    for (let round = 0; round < 3; round++) {
      const fresh = await startTestApp({ databaseUrl: db.url, env: testEnv({ JWT_SECRET: secret }) });
      onTestFinished(() => fresh.close());
      const stream = timelineOf(fresh.url, me.token);
      await stream.connected();
      await createPost(a.url, friend.token, `round ${round}`);
      await expectExactly(stream, [`post:round ${round}`]);
      stream.close();
    }
  });

  it('delivers a post committed after `connected` arrived, even when the server’s first read of the log is slow', async () => {
    const me = await signedInUser(a.url);
    const stream = timelineOf(a.url, me.token);
    // The log held by a transaction of ours: the stream's first read of it waits (a slow database).
    await sql.query('begin');
    let connectedFirst: boolean;
    try {
      await sql.query('lock table timeline_events in access exclusive mode');
      // A server that reads the log before it answers cannot say `connected` while it is held.
      connectedFirst = await stream.connected(1_000).then(
        () => true,
        () => false,
      );
      // The same transaction writes the post, so it commits before anyone reads the log.
      await sql.query(
        `insert into posts (id, author_id, body, created_at) values (gen_random_uuid(), $1, 'after connected', now())`,
        [me.id],
      );
    } finally {
      await sql.query('commit');
    }
    await createPost(a.url, me.token, 'later');
    await expectExactly(stream, connectedFirst ? ['post:after connected', 'post:later'] : ['post:later']);
  });

  it(
    'resumes across a restart: SIGTERM ends the stream (SERVICE_UNAVAILABLE), exit 0, then exactly the events made while down',
    async () => {
      const { me, friend } = await cast(a.url);
      const env = {
        DATABASE_URL: db.url,
        PORT: '0',
        NODE_ENV: 'production',
        JWT_SECRET: secret,
        BCRYPT_COST: '4',
        ...UNLIMITED,
      };
      const start = () => {
        const server = startServerProcess(env);
        onTestFinished(() => {
          if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
        });
        return server;
      };

      const before = start();
      const url = await before.serving;
      const stream = timelineOf(url, me.token);
      await stream.connected();
      const f1 = await createPost(url, friend.token, 'before the restart');
      await createPost(a.url, me.token, 'also before, via A');
      await stream.receive(2);

      const signalledAt = Date.now();
      before.child.kill('SIGTERM');
      const end = await stream.ended;
      // Ended by the server itself: SERVICE_UNAVAILABLE (so clients resume elsewhere), not cut at the grace's end.
      expect(endCode(end)).toBe('SERVICE_UNAVAILABLE');
      expect(end.at - signalledAt).toBeLessThan(STREAMS_END_WITHIN_MS);
      expect(await before.exited).toBe(0);
      expect(before.output()).not.toContain('requests still running after the grace period');

      // While no process of ours serves this client: the other process takes the writes.
      await createPost(a.url, friend.token, 'while down');
      succeeded(await deletePost(a.url, f1.id, friend.token));

      const after = start();
      const again = timelineOf(await after.serving, me.token, { lastEventId: stream.lastId() });
      await again.receive(2);
      await createPost(a.url, me.token, 'after the restart');
      await expectExactly(again, ['post:while down', `delete:${f1.id}`, 'post:after the restart']);
      expectNothingRepeated(stream, again);
    },
    4 * SSE_WAIT_MS,
  );

  it('refuses an unknown, malformed or expired lastEventId with BAD_REQUEST (input and header alike)', async () => {
    const { me, friend } = await cast(a.url);
    const live = timelineOf(a.url, me.token);
    await live.connected();
    const posts = [];
    for (const body of ['old', 'gone 1', 'gone 2', 'kept']) posts.push(await createPost(a.url, friend.token, body));
    const [old, , , kept] = await live.receive(4);
    live.close();

    // The log loses its oldest rows up to `gone 2` (as its retention purge would): what follows
    // `old` is no longer there to replay. Found by post, since event ids are opaque.
    const purged = await sql.query(
      `delete from timeline_events
       where id <= (select id from timeline_events where post_id = $1 and kind = 'post')`,
      [posts[2]!.id],
    );
    expect(purged.rowCount).toBeGreaterThanOrEqual(3);

    const refused: TimelineOptions[] = [
      { lastEventId: '99999999999' },
      { lastEventId: 'garbage' },
      { lastEventId: '-1' },
      { lastEventId: old!.id },
      { lastEventIdHeader: '99999999999' },
      { lastEventIdHeader: old!.id },
    ];
    for (const options of refused) {
      const stream = timelineOf(a.url, me.token, options);
      const end = await stream.ended;
      expect(endCode(end), JSON.stringify(options)).toBe('BAD_REQUEST');
      expect(stream.received()).toEqual([]);
    }
    // An id still in the log resumes.
    const resumed = timelineOf(a.url, me.token, { lastEventId: kept!.id });
    await resumed.connected();
    await createPost(a.url, friend.token, 'after kept');
    await expectExactly(resumed, ['post:after kept']);
  });
});
