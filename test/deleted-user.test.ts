// A user removed from the database directly (DELETE FROM users; their sessions, posts and follows
// cascade) must lose every token at once, although each process remembers verified callers for
// AUTH_CACHE_SECONDS (server/auth/viewer-cache.ts): every call with such a token is UNAUTHORIZED,
// never a success on behalf of nobody and never a 500.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, createPostCall, follow, followUser } from './helpers/social.ts';
import { expectAccepted, expectRefused, me } from './helpers/tokens.ts';
import { mutate, query, type TrpcResult } from './helpers/trpc.ts';

const CHANNEL = 'warble_sessions_revoked';
const WAIT_MS = 5000;
// Far less than AUTH_CACHE_SECONDS (5): a token still refused after this was not merely forgotten
// by the cache's expiry.
const NOTICE_MS = 1000;

/** Polls until `probe` is true; false after `ms`. */
async function waitFor(probe: () => Promise<boolean>, ms = WAIT_MS): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Every procedure that takes a token, called as `token`'s user (`other` is someone else, `postId` their own post). */
function everyCallWithToken(url: string, token: string, other: string, postId: string) {
  const options = { token };
  return {
    'auth.me': () => query(url, 'auth.me', undefined, options),
    'auth.sessions': () => query(url, 'auth.sessions', undefined, options),
    'auth.logoutAll': () => mutate(url, 'auth.logoutAll', undefined, options),
    'posts.create': () => mutate(url, 'posts.create', { body: 'posted by nobody' }, options),
    'posts.delete': () => mutate(url, 'posts.delete', { id: postId }, options),
    'posts.timeline': () => query(url, 'posts.timeline', undefined, options),
    'users.follow': () => mutate(url, 'users.follow', { username: other }, options),
    'users.unfollow': () => mutate(url, 'users.unfollow', { username: other }, options),
    'users.profile': () => query(url, 'users.profile', { username: other }, options),
  } satisfies Record<string, () => Promise<TrpcResult<unknown>>>;
}

/** A logged-in user with a post and a follow, whose token the app has verified (and so cached). */
async function doomedUser(url: string, other: { username: string }) {
  const { user, tokens } = await signupAndLogin(url);
  const post = await createPost(url, tokens.accessToken, 'soon gone');
  await follow(url, tokens.accessToken, other.username);
  expectAccepted(await me(url, { token: tokens.accessToken }), user.id);
  return { user, token: tokens.accessToken, post };
}

/** Listens on the revocation channel with a connection of its own; `next` waits for a notice. */
async function listenForRevocations(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const payloads: unknown[] = [];
  client.on('notification', (message) => payloads.push(JSON.parse(message.payload ?? 'null')));
  await client.query(`listen ${CHANNEL}`);
  return {
    payloads,
    close: () => client.end(),
  };
}

describe('a token whose user was deleted from the database', () => {
  // AUTH_CACHE_SECONDS at its default (5): verified callers are remembered.
  const t = useTestApp();
  let other: { username: string };

  beforeAll(async () => {
    // The app's revocation listener connects in the background; until it does, nothing is cached.
    const listening = await waitFor(async () => {
      const rows = await sql(
        t.db.url,
        `select 1 from pg_stat_activity where application_name = 'warble-revocations' and datname = current_database()`,
      );
      return rows.length === 1;
    });
    expect(listening, 'the app listens for revocations').toBe(true);
    other = (await signupAndLogin(t.url)).user;
  });

  it('is refused (401) by every procedure that takes a token, at once', async () => {
    const doomed = await doomedUser(t.url, other);
    const sessionId = (
      await sql<{ id: string }>(t.db.url, 'select id from sessions where user_id = $1', [doomed.user.id])
    )[0]!.id;
    const listener = await listenForRevocations(t.db.url);
    try {
      await sql(t.db.url, 'delete from users where id = $1', [doomed.user.id]);
      // The deletion itself tells every process (this test listens too) to forget the session;
      // the app's listener is signalled by the same commit as this test's.
      await waitFor(() => Promise.resolve(listener.payloads.length > 0), NOTICE_MS);

      const calls = everyCallWithToken(t.url, doomed.token, other.username, doomed.post.id);
      for (const [name, call] of Object.entries(calls)) {
        const result = await call();
        expect({ name, status: result.status }).toEqual({ name, status: 401 });
        expectRefused(result);
      }
      expect(listener.payloads).toEqual([{ sessionId }]);
    } finally {
      await listener.close();
    }
  });

  it('is refused (401), not a 500, by a write that raced the deletion (the notice not heard yet)', async () => {
    const [poster, follower] = [await doomedUser(t.url, other), await doomedUser(t.url, other)];
    // Deleted without a notice, as if the call had found the caller in the cache a moment before
    // it arrived: the sessions are ended behind the app's back first (no notice for an UPDATE
    // by hand, nor for deleting sessions that had ended). The write then refers to a user row
    // that is gone.
    const ids = [poster.user.id, follower.user.id];
    await sql(t.db.url, 'update sessions set revoked_at = now() where user_id = any($1)', [ids]);
    await sql(t.db.url, 'delete from users where id = any($1)', [ids]);

    const created = await createPostCall(t.url, { body: 'posted by nobody' }, poster.token);
    expectRefused(created);
    const followed = await followUser(t.url, other.username, follower.token);
    expectRefused(followed);
    // And from then on this process knows: every call with those tokens is refused.
    for (const doomed of [poster, follower]) {
      for (const [name, call] of Object.entries(
        everyCallWithToken(t.url, doomed.token, other.username, doomed.post.id),
      )) {
        const result = await call();
        expect({ name, status: result.status }).toEqual({ name, status: 401 });
      }
    }
  });
});
