// auth.changePassword and auth.deleteAccount (issue #15), against a real database through HTTP.
// What users must notice: a changed password ends every other device's session at once (on every
// process), a wrong password is a failed login, and a deleted account is gone from every read while
// its name stays taken.
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp, type TestApp } from './helpers/app.ts';
import { login, PASSWORD, signup, uniqueUsername, type TokenPair } from './helpers/auth.ts';
import { expectUnauthorized, me, refresh, refreshed, sql } from './helpers/sessions.ts';
import {
  createPost,
  expectTrpcError,
  follow,
  followList,
  followUser,
  postById,
  postsByUser,
  signedInUser,
  succeeded,
  timeline,
  userProfile,
} from './helpers/social.ts';
import { mutate, type TrpcResult } from './helpers/trpc.ts';

const NEW_PASSWORD = 'a brand new passphrase';
const RIGHT = { currentPassword: PASSWORD, newPassword: NEW_PASSWORD };
const WAIT_MS = 5000;
// Far longer than any test: a remembered token can only be forgotten through a revocation.
const LONG_CACHE = { AUTH_CACHE_SECONDS: '60' };

const changePassword = (url: string, token: string | undefined, input: unknown) =>
  mutate<{ revokedSessions: number }>(url, 'auth.changePassword', input, token ? { token } : {});
const deleteAccount = (url: string, token: string | undefined, password: unknown) =>
  mutate<{ deleted: true }>(url, 'auth.deleteAccount', { password }, token ? { token } : {});
const loginCall = (url: string, username: string, password: string) =>
  mutate<TokenPair>(url, 'auth.login', { username, password });
const reasonOf = (result: TrpcResult<unknown>) => (result.error?.data as { reason?: string } | undefined)?.reason;

function expectWrongPassword(result: TrpcResult<unknown>) {
  expectUnauthorized(result);
  expect(reasonOf(result)).toBe('WRONG_PASSWORD');
}

/** The value of the `warble_refresh` cookie a response sets ('' when it clears it), or undefined. */
const refreshCookieIn = (headers: Headers) =>
  headers
    .getSetCookie()
    .find((line) => line.startsWith('warble_refresh='))
    ?.split(';')[0]!
    .slice('warble_refresh='.length);

/** Polls until `probe` holds; fails after WAIT_MS. */
async function eventually(probe: () => Promise<boolean>, what: string) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${WAIT_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Each process's cache is used only once its revocation listener is connected (viewer-cache.ts). */
const listenerCount = async (databaseUrl: string) =>
  (
    await sql(
      databaseUrl,
      `select 1 from pg_stat_activity where application_name = 'warble-revocations' and datname = current_database()`,
    )
  ).length;

/** A user logged in on `devices` devices, each token verified once (so remembered by the app). */
async function userOnDevices(url: string, devices: number) {
  const user = await signup(url);
  const pairs: TokenPair[] = [];
  for (let i = 0; i < devices; i++) pairs.push(await login(url, user.username));
  for (const pair of pairs) expect((await me(url, pair.accessToken)).status).toBe(200);
  return { user, pairs };
}

describe('auth.changePassword', () => {
  const t = useTestApp({ env: testEnv(LONG_CACHE) });
  beforeAll(() => eventually(async () => (await listenerCount(t.db.url)) === 1, 'the app listens'));

  it('makes the new password log in and the old one fail; counts the other live sessions it revoked', async () => {
    const { user, pairs } = await userOnDevices(t.url, 5);
    // A session logged out before is not live: it is not counted again.
    expect((await mutate(t.url, 'auth.logout', { refreshToken: pairs[4]!.refreshToken })).status).toBe(200);
    const answer = await changePassword(t.url, pairs[0]!.accessToken, RIGHT);
    expect(succeeded(answer)).toEqual({ revokedSessions: 3 });
    expectUnauthorized(await loginCall(t.url, user.username, PASSWORD));
    expect((await loginCall(t.url, user.username, NEW_PASSWORD)).status).toBe(200);
  });

  it('ends every other session at once; the caller keeps its access and refresh tokens', async () => {
    const { pairs } = await userOnDevices(t.url, 3);
    const [mine, ...others] = pairs as [TokenPair, ...TokenPair[]];
    succeeded(await changePassword(t.url, mine.accessToken, RIGHT));
    // No polling: on the process that changed the password, the remembered tokens are gone already.
    for (const other of others) {
      expectUnauthorized(await me(t.url, other.accessToken));
      expectUnauthorized(await refresh(t.url, other.refreshToken));
    }
    expect((await me(t.url, mine.accessToken)).status).toBe(200);
    const next = await refreshed(t.url, mine.refreshToken);
    expect((await me(t.url, next.accessToken)).status).toBe(200);
  });

  it('refuses a wrong currentPassword with reason WRONG_PASSWORD and changes nothing', async () => {
    const { user, pairs } = await userOnDevices(t.url, 2);
    const wrong = await changePassword(t.url, pairs[0]!.accessToken, {
      currentPassword: 'not my password',
      newPassword: NEW_PASSWORD,
    });
    expectWrongPassword(wrong);
    expect(wrong.error?.message).toBe('Wrong password');
    expect((await me(t.url, pairs[1]!.accessToken)).status).toBe(200);
    expect((await loginCall(t.url, user.username, PASSWORD)).status).toBe(200);
    expectUnauthorized(await loginCall(t.url, user.username, NEW_PASSWORD));
  });

  it('without a valid token is UNAUTHORIZED with no WRONG_PASSWORD reason (a refresh can help there)', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const result = await changePassword(t.url, token, RIGHT);
      expectUnauthorized(result);
      expect(reasonOf(result)).toBeUndefined();
    }
  });

  it('holds newPassword to the signup rules (8–72 UTF-8 bytes) and the input to its two fields', async () => {
    const { user, pairs } = await userOnDevices(t.url, 2);
    const token = pairs[0]!.accessToken;
    for (const newPassword of ['short7!', 'a' + '\u00e9'.repeat(36) /* 36 characters, 73 bytes */]) {
      const result = await changePassword(t.url, token, { currentPassword: PASSWORD, newPassword });
      expectTrpcError(result, 400, 'BAD_REQUEST');
      expect(result.error?.data.zodError?.fieldErrors.newPassword).toHaveLength(1);
    }
    for (const input of [
      { currentPassword: PASSWORD },
      { newPassword: NEW_PASSWORD },
      { ...RIGHT, logoutOthers: false },
      null,
    ]) {
      expectTrpcError(await changePassword(t.url, token, input), 400, 'BAD_REQUEST');
    }
    // Nothing changed, nobody was logged out.
    expect((await me(t.url, pairs[1]!.accessToken)).status).toBe(200);
    expect((await loginCall(t.url, user.username, PASSWORD)).status).toBe(200);

    // Exactly 72 bytes (36 two-byte characters) is allowed, and works as a password.
    const longest = '\u00e9'.repeat(36);
    succeeded(await changePassword(t.url, token, { currentPassword: PASSWORD, newPassword: longest }));
    expect((await loginCall(t.url, user.username, longest)).status).toBe(200);
  });

  it('stores only a bcrypt hash of the new password', async () => {
    const { user, pairs } = await userOnDevices(t.url, 1);
    const hashOf = async () =>
      (await sql<{ password_hash: string }>(t.db.url, 'select password_hash from users where id = $1', [user.id]))[0]!
        .password_hash;
    const before = await hashOf();
    succeeded(await changePassword(t.url, pairs[0]!.accessToken, RIGHT));
    const after = await hashOf();
    expect(after).not.toBe(before);
    expect(after).toMatch(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/);
    expect(after).not.toContain(NEW_PASSWORD);
    expect(await bcrypt.compare(NEW_PASSWORD, after)).toBe(true);
  });

  describe('with a second process on the same database', () => {
    let b: TestApp;
    beforeAll(async () => {
      b = await startTestApp({ databaseUrl: t.db.url, env: testEnv({ ...LONG_CACHE, JWT_SECRET: t.env.JWT_SECRET! }) });
      await eventually(async () => (await listenerCount(t.db.url)) === 2, 'both processes listen');
    });
    afterAll(() => b?.close());

    it("ends another device's access token there within about a second", async () => {
      const { pairs } = await userOnDevices(t.url, 2);
      const [phone, laptop] = pairs as [TokenPair, TokenPair];
      // Process B verifies (and remembers, for 60 s) the laptop's token.
      expect((await me(b.url, laptop.accessToken)).status).toBe(200);
      expect((await me(b.url, laptop.accessToken)).status).toBe(200);

      succeeded(await changePassword(t.url, phone.accessToken, RIGHT));
      const changed = Date.now();
      await eventually(async () => (await me(b.url, laptop.accessToken)).status === 401, 'B refuses the laptop');
      // Only the NOTIFY sent on commit can end B's 60-second memory; it takes milliseconds. 1.5 s
      // leaves room for a loaded CI machine while still far below any cache expiry.
      expect(Date.now() - changed).toBeLessThan(1500);
      expectUnauthorized(await me(b.url, laptop.accessToken));
      expect((await me(b.url, phone.accessToken)).status).toBe(200);
    });
  });
});

describe('a wrong currentPassword is a failed login (LOGIN_MAX_FAILURES = 3)', () => {
  const t = useTestApp({ env: testEnv({ LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' }) });
  const wrongChange = (token: string) =>
    changePassword(t.url, token, { currentPassword: 'guessing again', newPassword: NEW_PASSWORD });

  it('after three wrong guesses even the right password is TOO_MANY_REQUESTS, at login and here', async () => {
    const { user, pairs } = await userOnDevices(t.url, 1);
    for (let i = 0; i < 3; i++) expectWrongPassword(await wrongChange(pairs[0]!.accessToken));
    expectTrpcError(await loginCall(t.url, user.username, PASSWORD), 429, 'TOO_MANY_REQUESTS');
    expectTrpcError(await changePassword(t.url, pairs[0]!.accessToken, RIGHT), 429, 'TOO_MANY_REQUESTS');
  });

  it('a right currentPassword starts the count over, as a successful login does', async () => {
    const { user, pairs } = await userOnDevices(t.url, 1);
    const token = pairs[0]!.accessToken;
    for (let i = 0; i < 2; i++) expectWrongPassword(await wrongChange(token));
    succeeded(await changePassword(t.url, token, RIGHT));
    for (let i = 0; i < 2; i++) expectWrongPassword(await wrongChange(token));
    expect((await loginCall(t.url, user.username, NEW_PASSWORD)).status).toBe(200);
  });
});

describe('auth.deleteAccount', () => {
  const t = useTestApp({ env: testEnv(LONG_CACHE) });
  beforeAll(() => eventually(async () => (await listenerCount(t.db.url)) === 1, 'the app listens'));

  it('refuses a wrong password with reason WRONG_PASSWORD and keeps the account', async () => {
    const { user, pairs } = await userOnDevices(t.url, 1);
    expectWrongPassword(await deleteAccount(t.url, pairs[0]!.accessToken, 'not my password'));
    expect((await me(t.url, pairs[0]!.accessToken)).status).toBe(200);
    expect(succeeded(await userProfile(t.url, user.username)).id).toBe(user.id);
    expect((await loginCall(t.url, user.username, PASSWORD)).status).toBe(200);
  });

  it('clears the refresh cookie of the browser that asked', async () => {
    const user = await signup(t.url);
    const answer = await mutate<{ accessToken: string }>(t.url, 'auth.login', {
      username: user.username,
      password: PASSWORD,
      refreshCookie: true,
    });
    const value = refreshCookieIn(answer.headers);
    expect(value).toMatch(/^[\w-]{43,}$/);
    const deleted = await mutate(
      t.url,
      'auth.deleteAccount',
      { password: PASSWORD },
      { token: answer.data!.accessToken, headers: { cookie: `warble_refresh=${value}` } },
    );
    expect(succeeded(deleted)).toEqual({ deleted: true });
    expect(refreshCookieIn(deleted.headers)).toBe('');
  });

  describe('after the deletion', () => {
    // doomed: logged in on a phone and a laptop, two posts; follows idol; fan follows doomed and idol.
    let doomed: { id: string; username: string };
    let phone: TokenPair, laptop: TokenPair;
    let fan: { username: string; token: string }, idol: { username: string; token: string };
    let postIds: string[];

    beforeAll(async () => {
      const devices = await userOnDevices(t.url, 2);
      doomed = devices.user;
      [phone, laptop] = devices.pairs as [TokenPair, TokenPair];
      [fan, idol] = [await signedInUser(t.url), await signedInUser(t.url)];
      await follow(t.url, phone.accessToken, idol.username);
      await follow(t.url, fan.token, doomed.username);
      await follow(t.url, fan.token, idol.username);
      postIds = [
        (await createPost(t.url, phone.accessToken, 'first')).id,
        (await createPost(t.url, phone.accessToken, 'second')).id,
      ];
      // What the deletion must undo, seen before it.
      expect(succeeded(await userProfile(t.url, idol.username)).followersCount).toBe(2);
      expect(succeeded(await userProfile(t.url, fan.username)).followingCount).toBe(2);
      const before = succeeded(await timeline(t.url, fan.token)).items.map((post) => post.id);
      expect(before).toEqual(expect.arrayContaining(postIds));

      expect(succeeded(await deleteAccount(t.url, phone.accessToken, PASSWORD))).toEqual({ deleted: true });
    });

    it('refuses the access and refresh tokens of every device', async () => {
      for (const pair of [phone, laptop]) {
        expectUnauthorized(await me(t.url, pair.accessToken));
        // "Reuse or unknown": the same 401 as any dead token, never a failure of the server.
        expectUnauthorized(await refresh(t.url, pair.refreshToken));
        const logout = await mutate(t.url, 'auth.logout', { refreshToken: pair.refreshToken });
        expect(logout.data).toEqual({ ok: true });
      }
      // And a second deletion with the old token: the token is dead, not the password wrong.
      const again = await deleteAccount(t.url, phone.accessToken, PASSWORD);
      expectUnauthorized(again);
      expect(reasonOf(again)).toBeUndefined();
    });

    it('answers a login with the right password exactly as for a username that never existed', async () => {
      const deleted = await loginCall(t.url, doomed.username, PASSWORD);
      const unknown = await loginCall(t.url, uniqueUsername(), PASSWORD);
      expectUnauthorized(deleted);
      expect({ status: deleted.status, error: deleted.error }).toEqual({
        status: unknown.status,
        error: unknown.error,
      });
    });

    it('is NOT_FOUND as a profile, an author and someone to follow; its name stays taken', async () => {
      for (const name of [doomed.username, doomed.username.toUpperCase()]) {
        expectTrpcError(await userProfile(t.url, name), 404, 'NOT_FOUND');
        expectTrpcError(await postsByUser(t.url, name), 404, 'NOT_FOUND');
        expectTrpcError(await followUser(t.url, name, fan.token), 404, 'NOT_FOUND');
        const taken = await mutate(t.url, 'auth.signup', { username: name, password: PASSWORD });
        expectTrpcError(taken, 409, 'CONFLICT');
      }
    });

    it('leaves the counts and lists of the people it followed and who followed it', async () => {
      const idolProfile = succeeded(await userProfile(t.url, idol.username));
      expect(idolProfile.followersCount).toBe(1);
      const fanProfile = succeeded(await userProfile(t.url, fan.username));
      expect(fanProfile.followingCount).toBe(1);
      const followers = succeeded(await followList(t.url, 'followers', { username: idol.username }));
      expect(followers.items.map((user) => user.username)).toEqual([fan.username]);
      const following = succeeded(await followList(t.url, 'following', { username: fan.username }));
      expect(following.items.map((user) => user.username)).toEqual([idol.username]);
    });

    it('takes its posts out of posts.byId and its followers’ timelines', async () => {
      for (const id of postIds) expectTrpcError(await postById(t.url, id), 404, 'NOT_FOUND');
      const items = succeeded(await timeline(t.url, fan.token)).items.map((post) => post.id);
      expect(items.filter((id) => postIds.includes(id))).toEqual([]);
    });

    it('keeps the row (deleted_at set, name kept) and, until the purge, its posts and password hash', async () => {
      const [row] = await sql(
        t.db.url,
        `select username, deleted_at, password_hash,
           (select count(*)::int from posts where author_id = u.id) as posts,
           (select count(*)::int from sessions where user_id = u.id and revoked_at is null) as live_sessions
         from users u where id = $1`,
        [doomed.id],
      );
      expect(row).toEqual({
        username: doomed.username,
        deleted_at: expect.any(Date),
        password_hash: expect.stringMatching(/^\$2/),
        posts: 2,
        live_sessions: 0,
      });
    });
  });
});
