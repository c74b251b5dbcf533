import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
import { signup, signupAndLogin, uniqueUsername } from './helpers/auth.ts';
import {
  expectTrpcError as expectError,
  followList,
  followRows,
  followUser,
  setFollowTimes,
  signedInUser,
  unfollowUser,
  userProfile,
  type FollowListInput,
  type UserRef,
} from './helpers/social.ts';
import { mutate, query } from './helpers/trpc.ts';

const t = useTestApp();
const newUser = () => signedInUser(t.url);
const ref = (user: UserRef): UserRef => ({ id: user.id, username: user.username });

/** Asserts a page came back and returns it. */
async function page(which: 'followers' | 'following', input: FollowListInput) {
  const result = await followList(t.url, which, input);
  expect(result.error).toBeUndefined();
  return result.data!;
}

async function createPost(token: string, body: string) {
  const result = await mutate<{ id: string }>(t.url, 'posts.create', { body }, { token });
  expect(result.error).toBeUndefined();
  return result.data!.id;
}

describe('users.follow', () => {
  it('follows by username, case-insensitively, and following again changes nothing', async () => {
    const fan = await newUser();
    const star = await signup(t.url, uniqueUsername('Star'));
    const first = await followUser(t.url, star.username.toUpperCase(), fan.token);
    expect([first.status, first.data]).toEqual([200, { following: true }]);
    expect((await followUser(t.url, star.username.toLowerCase(), fan.token)).data).toEqual({ following: true });
    const rows = await followRows(t.db.url, { follower: fan.id });
    expect(rows.map((row) => row.followee_id)).toEqual([star.id]);
    expect((await userProfile(t.url, star.username)).data?.followersCount).toBe(1);
  });

  it('refuses to follow yourself (BAD_REQUEST, whatever the case) and unknown users (NOT_FOUND)', async () => {
    const me = await newUser();
    expectError(await followUser(t.url, me.username, me.token), 400, 'BAD_REQUEST');
    expectError(await followUser(t.url, me.username.toUpperCase(), me.token), 400, 'BAD_REQUEST');
    expectError(await followUser(t.url, uniqueUsername('ghost'), me.token), 404, 'NOT_FOUND');
    expect(await followRows(t.db.url, { follower: me.id })).toEqual([]);
  });

  it('needs a valid access token', async () => {
    const star = await signup(t.url);
    expectError(await followUser(t.url, star.username), 401, 'UNAUTHORIZED');
    expectError(await followUser(t.url, star.username, 'not.a.token'), 401, 'UNAUTHORIZED');
    expect(await followRows(t.db.url, { followee: star.id })).toEqual([]);
  });

  it('rejects unknown keys and malformed usernames', async () => {
    const fan = await newUser();
    const star = await signup(t.url);
    const token = { token: fan.token };
    expectError(await mutate(t.url, 'users.follow', { username: star.username, x: 1 }, token), 400, 'BAD_REQUEST');
    expectError(await mutate(t.url, 'users.follow', { username: 'a b' }, token), 400, 'BAD_REQUEST');
    expect(await followRows(t.db.url, { follower: fan.id })).toEqual([]);
  });

  it('counts parallel follows once', async () => {
    const fan = await newUser();
    const star = await signup(t.url);
    const results = await Promise.all(Array.from({ length: 10 }, () => followUser(t.url, star.username, fan.token)));
    for (const result of results) expect([result.status, result.data]).toEqual([200, { following: true }]);
    expect((await userProfile(t.url, star.username)).data?.followersCount).toBe(1);
    expect(await followRows(t.db.url, { follower: fan.id, followee: star.id })).toHaveLength(1);
  });
});

describe('users.unfollow', () => {
  it('unfollows; doing it again, or for someone never followed, still answers { following: false }', async () => {
    const fan = await newUser();
    const star = await signup(t.url, uniqueUsername('Star'));
    const stranger = await signup(t.url);
    await followUser(t.url, star.username, fan.token);

    const result = await unfollowUser(t.url, star.username.toLowerCase(), fan.token);
    expect([result.status, result.data]).toEqual([200, { following: false }]);
    expect(await followRows(t.db.url, { follower: fan.id })).toEqual([]);
    expect((await userProfile(t.url, star.username)).data?.followersCount).toBe(0);
    expect((await unfollowUser(t.url, star.username, fan.token)).data).toEqual({ following: false });
    expect((await unfollowUser(t.url, stranger.username, fan.token)).data).toEqual({ following: false });
  });

  it('leaves other follows of the same users alone', async () => {
    const [fan, other] = [await newUser(), await newUser()];
    const [star, idol] = [await signup(t.url), await signup(t.url)];
    await followUser(t.url, star.username, fan.token);
    await followUser(t.url, idol.username, fan.token);
    await followUser(t.url, star.username, other.token);
    await unfollowUser(t.url, star.username, fan.token);
    expect((await followRows(t.db.url, { follower: fan.id })).map((row) => row.followee_id)).toEqual([idol.id]);
    expect((await followRows(t.db.url, { followee: star.id })).map((row) => row.follower_id)).toEqual([other.id]);
  });

  it('needs a valid access token', async () => {
    const fan = await newUser();
    const star = await signup(t.url);
    await followUser(t.url, star.username, fan.token);
    expectError(await unfollowUser(t.url, star.username), 401, 'UNAUTHORIZED');
    expectError(await unfollowUser(t.url, star.username, `${fan.token}x`), 401, 'UNAUTHORIZED');
    expect(await followRows(t.db.url, { followee: star.id })).toHaveLength(1);
  });

  it('keeps the count equal to the rows through a storm of parallel follows and unfollows', async () => {
    const fans = await Promise.all(Array.from({ length: 4 }, newUser));
    const star = await signup(t.url);
    const calls = fans.flatMap((fan) =>
      Array.from({ length: 8 }, (_, i) => (i % 2 ? unfollowUser : followUser)(t.url, star.username, fan.token)),
    );
    const results = await Promise.all(calls);
    expect(results.map((result) => result.status)).toEqual(results.map(() => 200));
    const rows = await followRows(t.db.url, { followee: star.id });
    expect(new Set(rows.map((row) => row.follower_id)).size).toBe(rows.length);
    const profile = (await userProfile(t.url, star.username)).data!;
    expect(profile.followersCount).toBe(rows.length);
    for (const fan of fans) {
      const followed = rows.some((row) => row.follower_id === fan.id);
      const view = (await userProfile(t.url, star.username, { token: fan.token })).data!;
      expect(view.followedByMe).toBe(followed);
      expect((await userProfile(t.url, fan.username)).data?.followingCount).toBe(followed ? 1 : 0);
    }
  });
});

describe('users.profile', () => {
  it('shows the user with follower, following and live post counts', async () => {
    const star = await newUser();
    const [fanA, fanB, idol] = await Promise.all([newUser(), newUser(), signup(t.url)]);
    await followUser(t.url, star.username, fanA.token);
    await followUser(t.url, star.username, fanB.token);
    await followUser(t.url, idol.username, star.token);
    await followUser(t.url, idol.username, fanA.token);
    const posts = [await createPost(star.token, 'one'), await createPost(star.token, 'two')];
    await createPost(star.token, 'three');
    await createPost(fanA.token, 'not theirs');
    for (const id of posts)
      expect((await mutate(t.url, 'posts.delete', { id }, { token: star.token })).status).toBe(200);

    const result = await userProfile(t.url, star.username.toUpperCase());
    expect(result.status).toBe(200);
    expect(result.data).toEqual({
      id: star.id,
      username: star.username,
      displayName: null,
      bio: '',
      createdAt: star.createdAt,
      followersCount: 2,
      followingCount: 1,
      postsCount: 1,
      followedByMe: false,
    });
  });

  it('says followedByMe only to a caller who follows the user', async () => {
    const star = await newUser();
    const [fan, other] = [await newUser(), await newUser()];
    await followUser(t.url, star.username, fan.token);
    await followUser(t.url, fan.username, other.token);
    const followedBy = async (token?: string) =>
      (await userProfile(t.url, star.username, token ? { token } : {})).data?.followedByMe;
    expect(await followedBy(fan.token)).toBe(true);
    expect(await followedBy(other.token)).toBe(false);
    expect(await followedBy(star.token)).toBe(false);
    expect(await followedBy()).toBe(false);
    await unfollowUser(t.url, star.username, fan.token);
    expect(await followedBy(fan.token)).toBe(false);
  });

  it('answers 401 to an Authorization header that is present but invalid', async () => {
    const star = await signup(t.url);
    const { tokens } = await signupAndLogin(t.url);
    expectError(await userProfile(t.url, star.username, { token: 'not.a.token' }), 401, 'UNAUTHORIZED');
    const basic = { headers: { authorization: 'Basic dXNlcjpwYXNz' } };
    expectError(await userProfile(t.url, star.username, basic), 401, 'UNAUTHORIZED');
    // A revoked session's access token is no longer valid either.
    expect((await mutate(t.url, 'auth.logoutAll', undefined, { token: tokens.accessToken })).status).toBe(200);
    expectError(await userProfile(t.url, star.username, { token: tokens.accessToken }), 401, 'UNAUTHORIZED');
  });

  it('answers NOT_FOUND for an unknown user and BAD_REQUEST for unknown keys', async () => {
    const star = await signup(t.url);
    expectError(await userProfile(t.url, uniqueUsername('ghost')), 404, 'NOT_FOUND');
    expectError(await query(t.url, 'users.profile', { username: star.username, extra: true }), 400, 'BAD_REQUEST');
  });
});

describe('users.followers and users.following', () => {
  it('list the most recent follow first, as { id, username } only', async () => {
    const star = await newUser();
    const fans = [await newUser(), await newUser(), await newUser()];
    const idols = [await signup(t.url), await signup(t.url)];
    // A few milliseconds apart, so that "most recent" is unambiguous.
    for (const fan of fans) await followUser(t.url, star.username, fan.token).then(() => sleep(5));
    for (const idol of idols) await followUser(t.url, idol.username, star.token).then(() => sleep(5));
    const [a, b, c] = fans.map(ref) as [UserRef, UserRef, UserRef];
    expect(await page('followers', { username: star.username })).toEqual({ items: [c, b, a], nextCursor: null });
    expect(await page('following', { username: star.username.toUpperCase() })).toEqual({
      items: idols.map(ref).reverse(),
      nextCursor: null,
    });
    expect((await page('following', { username: fans[0]!.username })).items).toEqual([ref(star)]);

    // Following again does not move a follow; unfollowing and following again does.
    await followUser(t.url, star.username, fans[0]!.token);
    expect((await page('followers', { username: star.username })).items).toEqual([c, b, a]);
    await unfollowUser(t.url, star.username, fans[1]!.token);
    await followUser(t.url, star.username, fans[1]!.token);
    expect((await page('followers', { username: star.username })).items).toEqual([b, c, a]);
  });

  it('pages through 25 followers 10 at a time: each exactly once, in order, then a null cursor', async () => {
    const star = await signup(t.url);
    const fans = await Promise.all(Array.from({ length: 25 }, newUser));
    await Promise.all(fans.map((fan) => followUser(t.url, star.username, fan.token)));
    // Ties in follow time, some across page boundaries: every three follows share a second.
    const rank = new Map(fans.map((fan, i) => [fan.id, Math.floor(i / 3)]));
    const at = (id: string) => new Date(Date.UTC(2020, 0, 1) + rank.get(id)! * 1000);
    await setFollowTimes(t.db.url, star.id, new Map(fans.map((fan) => [fan.id, at(fan.id)])));

    expect((await page('followers', { username: star.username })).items).toHaveLength(20);
    const whole = (await page('followers', { username: star.username, limit: 100 })).items;
    const served: UserRef[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const next = await page('followers', { username: star.username, limit: 10, cursor });
      sizes.push(next.items.length);
      served.push(...next.items);
      cursor = next.nextCursor;
      // A follow arriving between pages is newer than every position: later pages never shift.
      if (sizes.length === 1) await followUser(t.url, star.username, (await newUser()).token);
    } while (cursor !== null && sizes.length < 5);

    expect(sizes).toEqual([10, 10, 5]);
    expect(served).toEqual(whole);
    expect(new Set(served.map((user) => user.id))).toEqual(new Set(fans.map((fan) => fan.id)));
    const ranks = served.map((user) => rank.get(user.id)!);
    expect(ranks).toEqual([...ranks].sort((x, y) => y - x));
  });

  it('refuses a cursor from another list', async () => {
    const star = await newUser();
    const other = await newUser();
    for (const fan of [await newUser(), await newUser()]) {
      await followUser(t.url, star.username, fan.token);
      await followUser(t.url, other.username, fan.token);
      await followUser(t.url, fan.username, star.token);
    }
    // (Were either cursor null, the calls below would be first pages, answered 200.)
    const cursor = (await page('followers', { username: star.username, limit: 1 })).nextCursor;
    const followingCursor = (await page('following', { username: star.username, limit: 1 })).nextCursor;
    expect((await page('followers', { username: star.username, limit: 1, cursor })).items).toHaveLength(1);
    const misuse = [
      followList(t.url, 'following', { username: star.username, cursor }),
      followList(t.url, 'followers', { username: other.username, cursor }),
      followList(t.url, 'followers', { username: star.username, cursor: followingCursor }),
    ];
    for (const result of await Promise.all(misuse)) expectError(result, 400, 'BAD_REQUEST');
  });

  it('refuses a damaged or made-up cursor', async () => {
    const star = await newUser();
    for (const fan of [await newUser(), await newUser()]) await followUser(t.url, star.username, fan.token);
    const input = { username: star.username, limit: 1 };
    const cursor = (await page('followers', input)).nextCursor!;
    const [payload, sum] = cursor.split('.') as [string, string];
    const flip = (text: string) => `${text.slice(0, -1)}${text.endsWith('A') ? 'B' : 'A'}`;
    const bad = [`${flip(payload)}.${sum}`, `${payload}.${flip(sum)}`, payload, `${cursor}.x`, 'garbage'];
    for (const cursor of bad)
      expectError(await followList(t.url, 'followers', { ...input, cursor }), 400, 'BAD_REQUEST');
  });

  it('takes a limit from 1 to 100, strict inputs, and answers NOT_FOUND for an unknown user', async () => {
    const star = await newUser();
    await followUser(t.url, star.username, (await newUser()).token);
    for (const which of ['followers', 'following'] as const) {
      for (const limit of [1, 100])
        expect((await followList(t.url, which, { username: star.username, limit })).status).toBe(200);
      for (const limit of [0, 101, -1, 1.5]) {
        expectError(await followList(t.url, which, { username: star.username, limit }), 400, 'BAD_REQUEST');
      }
      const extra = { username: star.username, offset: 1 } as FollowListInput;
      expectError(await followList(t.url, which, extra), 400, 'BAD_REQUEST');
      expectError(await followList(t.url, which, { username: uniqueUsername('ghost') }), 404, 'NOT_FOUND');
    }
  });
});
