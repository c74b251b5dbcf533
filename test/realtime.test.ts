// posts.onTimeline on one process, read by a raw SSE client (test/helpers/sse.ts), not tRPC's:
// which events a live stream carries and in what order, follows taking effect on an open stream,
// the stream's end when its token expires or its session is revoked, and its bounds (a burst, a
// reader that stops reading and catches up, the caps per user and per process). Resuming after a disconnect, on
// another process or after a restart, and refused ids, are in test/realtime-resume.test.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { login, signupAndLogin, type TokenPair } from './helpers/auth.ts';
import { refreshed } from './helpers/sessions.ts';
import { createPost, deletePost, follow, signedInUser, succeeded, unfollowUser } from './helpers/social.ts';
import {
  describeEvents,
  endCode,
  expectNothingRepeated,
  isIncreasing,
  openTimeline,
  SETTLE_MS,
  SSE_WAIT_MS,
  timelineOf,
  type SseEnd,
  type TimelineStream,
} from './helpers/sse.ts';
import { claimsOf, refresh } from './helpers/tokens.ts';
import { mutate } from './helpers/trpc.ts';

// "Within a few seconds": how long after a revocation (or the token's exp) the stream may take to end.
const FEW_SECONDS_MS = 5_000;
/** How a stream stands a moment after it started: undefined while open, else how it ended. */
async function settled(stream: TimelineStream): Promise<SseEnd | undefined> {
  await stream.until('the stream to start or end', () => !!stream.end() || stream.events.length > 0);
  await sleep(SETTLE_MS);
  return stream.end();
}

/** A connection to the test database, for writes behind the app's back; closed when the test ends. */
async function connect(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  onTestFinished(() => client.end());
  return client;
}

describe('posts.onTimeline', () => {
  // The cap of two streams per user is for the cap test; the others never hold more than two.
  // No grace for a spent refresh token, so that using it twice is reuse at once.
  const t = useTestApp({ env: testEnv({ STREAMS_MAX_PER_USER: '2', REFRESH_REUSE_GRACE_SECONDS: '0' }) });

  it('answers an SSE stream that starts with `connected`, and refuses a caller without a valid token', async () => {
    const me = await signedInUser(t.url);
    const stream = timelineOf(t.url, me.token);
    expect(await stream.head).toMatchObject({ status: 200, contentType: expect.stringMatching(/^text\/event-stream/) });
    await stream.connected();
    expect(stream.events[0]?.event).toBe('connected');

    for (const token of [undefined, 'not-a-token', `${me.token}x`]) {
      const refused = openTimeline(t.url, token);
      expect(endCode(await refused.ended)).toBe('UNAUTHORIZED');
      expect(refused.received()).toEqual([]);
    }
  });

  it('delivers the caller’s and followed users’ posts and deletes in order, with increasing ids, and nothing else', async () => {
    const [me, friend, stranger] = [await signedInUser(t.url), await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, me.token, friend.username);
    await createPost(t.url, friend.token, 'before the stream');

    const stream = timelineOf(t.url, me.token);
    await stream.connected();
    const m1 = await createPost(t.url, me.token, 'm1');
    const f1 = await createPost(t.url, friend.token, 'f1');
    const s1 = await createPost(t.url, stranger.token, 's1');
    const f2 = await createPost(t.url, friend.token, 'f2');
    succeeded(await deletePost(t.url, f1.id, friend.token));
    succeeded(await deletePost(t.url, s1.id, stranger.token));
    succeeded(await deletePost(t.url, m1.id, me.token));
    await createPost(t.url, stranger.token, 's2');
    const last = await createPost(t.url, me.token, 'm2');

    await stream.receive(6);
    await sleep(SETTLE_MS); // and nothing more
    const events = stream.received();
    // In order, each post the contract's Post as posts.create answered it.
    expect(events.map((event) => event.data)).toEqual([
      { type: 'post', post: m1 },
      { type: 'post', post: f1 },
      { type: 'post', post: f2 },
      { type: 'delete', id: f1.id },
      { type: 'delete', id: m1.id },
      { type: 'post', post: last },
    ]);
    const ids = events.map((event) => event.id);
    expect(ids.every((id) => id.length > 0)).toBe(true);
    expect(isIncreasing(ids), `ids ${ids.join(', ')}`).toBe(true);
    expect(stream.end()).toBeUndefined();
  });

  it('starts from the moment it opens even while a long transaction holds the log back', async () => {
    const [me, friend] = [await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, me.token, friend.username);
    // A transaction that stays open (a backup, a long job, another database's work on the server):
    // the log is final only up to it, and events committed after it began wait behind it.
    const long = new pg.Client({ connectionString: t.db.url });
    await long.connect();
    onTestFinished(() => long.end());
    await long.query('begin');
    await long.query('select txid_current()');
    const before = await createPost(t.url, friend.token, 'committed before the stream');
    succeeded(await deletePost(t.url, before.id, friend.token));

    const stream = timelineOf(t.url, me.token);
    await stream.connected();
    const after = await createPost(t.url, friend.token, 'after the stream opened');
    await long.query('commit');
    await stream.receive(1);
    await sleep(SETTLE_MS); // and nothing more
    // Not the post and delete the client's timeline read already had: only what came after.
    expect(stream.received().map((event) => event.data)).toEqual([{ type: 'post', post: after }]);
  });

  it('applies a follow and an unfollow to an open stream at once', async () => {
    const [me, x] = [await signedInUser(t.url), await signedInUser(t.url)];
    const stream = timelineOf(t.url, me.token);
    await stream.connected();

    await createPost(t.url, x.token, 'x before the follow');
    await follow(t.url, me.token, x.username);
    await createPost(t.url, x.token, 'x while followed');
    await stream.receive(1);
    expect(succeeded(await unfollowUser(t.url, x.username, me.token))).toEqual({ following: false });
    await createPost(t.url, x.token, 'x after the unfollow');
    // Posted after x's: if x's last post were coming, it would come first.
    await createPost(t.url, me.token, 'mine');

    await stream.receive(2);
    await sleep(SETTLE_MS);
    // Who sees an event is decided when the log hands it out, which can be a moment after its commit
    // (docs/realtime.md): a post made just before the follow may come too. Nothing after the
    // unfollow may.
    const seen = describeEvents(stream.received()).filter((event) => event !== 'post:x before the follow');
    expect(seen).toEqual(['post:x while followed', 'post:mine']);
  });

  /** One way each to revoke the session of `tokens` (no grace for a spent refresh token here). */
  const revocations: Record<string, (tokens: TokenPair) => Promise<unknown>> = {
    'auth.logout': async (tokens) =>
      succeeded(await mutate(t.url, 'auth.logout', { refreshToken: tokens.refreshToken })),
    'auth.logoutAll from another session': async (tokens) => {
      const other = await login(t.url, tokens.user.username);
      succeeded(await mutate(t.url, 'auth.logoutAll', undefined, { token: other.accessToken }));
    },
    'refresh-token reuse': async (tokens) => {
      await refreshed(t.url, tokens.refreshToken);
      expect((await refresh(t.url, tokens.refreshToken)).error?.data.code).toBe('UNAUTHORIZED');
    },
  };
  for (const [how, revoke] of Object.entries(revocations)) {
    it(`ends the stream with UNAUTHORIZED within a few seconds of ${how}; others’ streams live on`, async () => {
      const { tokens } = await signupAndLogin(t.url);
      const bystander = await signedInUser(t.url);
      const [stream, other] = [timelineOf(t.url, tokens.accessToken), timelineOf(t.url, bystander.token)];
      await Promise.all([stream.connected(), other.connected()]);
      await createPost(t.url, tokens.accessToken, 'while signed in');
      await stream.receive(1);

      const revokedAt = Date.now();
      await revoke(tokens);
      const end = await stream.ended;
      expect(endCode(end)).toBe('UNAUTHORIZED');
      expect(end.at - revokedAt).toBeLessThan(FEW_SECONDS_MS);
      await createPost(t.url, bystander.token, 'unaffected');
      await other.receive(1);
      expect(other.end()).toBeUndefined();
    });
  }

  /** `count` posts by `authorId` in one statement (one transaction), behind the app's back; their ids. */
  const insertPosts = async (sql: pg.Client, authorId: string, count: number) =>
    (
      await sql.query<{ id: string }>(
        `insert into posts (id, author_id, body, created_at) select gen_random_uuid(), $1, repeat('🐦', 280),
         clock_timestamp() from generate_series(1, $2) returning id`,
        [authorId, count],
      )
    ).rows.map((row) => row.id);
  const postIdsOf = (...streams: TimelineStream[]) =>
    streams.flatMap((stream) => stream.received().map(({ data }) => (data.type === 'post' ? data.post.id : '')));

  it('delivers a burst of 300 posts made in one transaction to a reader that keeps up', async () => {
    const me = await signedInUser(t.url);
    const stream = timelineOf(t.url, me.token);
    await stream.connected();
    const inserted = await insertPosts(await connect(t.db.url), me.id, 300);
    await stream.receive(inserted.length);
    expect(postIdsOf(stream)).toEqual(inserted);
  });

  it('lets a reader that stopped reading catch up on the same stream, from the log: every post once, in order', async () => {
    const me = await signedInUser(t.url);
    const stream = timelineOf(t.url, me.token);
    await stream.connected();
    const inserted = [(await createPost(t.url, me.token, 'read')).id];
    await stream.receive(1);
    stream.pause();
    const sql = await connect(t.db.url);
    // About 7 MB, about twice what this machine's socket buffers hold, and far more events than a
    // stream may keep waiting (the server drops them and reads them again from the log).
    for (let batch = 0; batch < 30; batch++) {
      inserted.push(...(await insertPosts(sql, me.id, 200)));
      await sleep(20);
    }
    stream.resume();
    await stream.receive(inserted.length, 4 * SSE_WAIT_MS);
    await sleep(SETTLE_MS);
    expect(stream.end()).toBeUndefined();
    expect(postIdsOf(stream)).toEqual(inserted);
    expectNothingRepeated(stream);
  });

  it('refuses a third stream of one user with TOO_MANY_REQUESTS, and lets one in once a stream closes', async () => {
    const [me, other] = [await signedInUser(t.url), await signedInUser(t.url)];
    const [first, second] = [timelineOf(t.url, me.token), timelineOf(t.url, me.token)];
    await Promise.all([first.connected(), second.connected()]);

    const third = timelineOf(t.url, me.token);
    expect(endCode(await third.ended)).toBe('TOO_MANY_REQUESTS');
    // The cap is per user: someone else still gets in.
    const others = timelineOf(t.url, other.token);
    expect(await settled(others)).toBeUndefined();

    first.close();
    // The server learns of the close from the socket; give it a moment, then a new stream gets in.
    let again: TimelineStream | undefined;
    const deadline = Date.now() + FEW_SECONDS_MS;
    for (;;) {
      again = timelineOf(t.url, me.token);
      const end = await settled(again);
      if (!end) break;
      expect(endCode(end)).toBe('TOO_MANY_REQUESTS');
      expect(Date.now(), 'a closed stream still counts against the cap').toBeLessThan(deadline);
    }
    await createPost(t.url, me.token, 'through the new stream');
    expect(describeEvents(await again.receive(1))).toEqual(['post:through the new stream']);
    expect(describeEvents(await second.receive(1))).toEqual(['post:through the new stream']);
  });
});

describe('posts.onTimeline with 2-second access tokens and one stream per process', () => {
  const t = useTestApp({ env: testEnv({ ACCESS_TOKEN_TTL: '2', STREAMS_MAX_PER_PROCESS: '1' }) });

  it('ends the stream with UNAUTHORIZED within a few seconds after the token’s exp, not before', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const exp = claimsOf(tokens.accessToken).exp * 1000;
    const stream = timelineOf(t.url, tokens.accessToken);
    await stream.connected();
    await createPost(t.url, tokens.accessToken, 'before expiry');
    await stream.receive(1);

    const end = await stream.ended;
    expect(endCode(end)).toBe('UNAUTHORIZED');
    // exp is in whole seconds; a clock check a little early is tolerated, a stream cut well before is not.
    expect(end.at).toBeGreaterThanOrEqual(exp - 1000);
    expect(end.at - exp).toBeLessThan(FEW_SECONDS_MS);
  });

  // After the test above, whose stream the server ended (and no longer counts).
  it('refuses a stream beyond STREAMS_MAX_PER_PROCESS with TOO_MANY_REQUESTS, whoever asks', async () => {
    const first = timelineOf(t.url, (await signupAndLogin(t.url)).tokens.accessToken);
    await first.connected();
    const refused = timelineOf(t.url, (await signupAndLogin(t.url)).tokens.accessToken);
    expect(endCode(await refused.ended)).toBe('TOO_MANY_REQUESTS');
    expect(first.end()).toBeUndefined();
  });
});
