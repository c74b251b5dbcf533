// users.updateProfile (contract: displayName 1–50 characters or null, bio 0–160, code points,
// trimmed, the text rules of post bodies) and where a display name shows: the Profile of
// users.profile and auth.me, and `author.displayName` of every Post, on every read path and in
// live events. A caller's name travels in the token cache (server/auth/viewer-cache.ts; posts.create
// answers with it), so a change must reach that cache on every process, not only in the database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp, type TestApp } from './helpers/app.ts';
import { sql } from './helpers/sessions.ts';
import {
  createPost,
  eventually,
  expectTrpcError,
  follow,
  myProfile,
  postById,
  postsByUser,
  signedInUser,
  succeeded,
  timeline,
  updateProfileCall,
  userProfile,
} from './helpers/social.ts';
import { timelineOf } from './helpers/sse.ts';

// Far longer than any test: a cached caller is forgotten only because the change says so (NOTIFY),
// never because its entry expired while the test waited.
const LONG_CACHE = { AUTH_CACHE_SECONDS: '300' };

/** The revocation listeners connected to the test database (one per process); without one, nothing is cached. */
const listeners = async (databaseUrl: string) =>
  (
    await sql(
      databaseUrl,
      `select 1 from pg_stat_activity where application_name = 'warble-revocations' and datname = current_database()`,
    )
  ).length;

describe('users.updateProfile', () => {
  const t = useTestApp({ env: testEnv(LONG_CACHE) });
  beforeAll(() => eventually(async () => (await listeners(t.db.url)) === 1, 'the app listens for revocations'));

  const update = async (token: string, input: unknown) => succeeded(await updateProfileCall(t.url, input, token));

  it('sets displayName and bio, answers the whole Profile, and users.profile and auth.me show them', async () => {
    const ada = await signedInUser(t.url);
    const before = succeeded(await myProfile(t.url, ada.token));
    expect(before).toMatchObject({ displayName: null, bio: '' });

    const answer = await update(ada.token, { displayName: 'Ada Lovelace', bio: 'Analyst of engines' });
    expect(answer).toEqual({ ...before, displayName: 'Ada Lovelace', bio: 'Analyst of engines' });
    expect(succeeded(await myProfile(t.url, ada.token))).toEqual(answer);
    expect(succeeded(await userProfile(t.url, ada.username))).toEqual(answer);
  });

  it('removes displayName with null, allows an empty bio, leaves omitted fields, and {} changes nothing', async () => {
    const ada = await signedInUser(t.url);
    await update(ada.token, { displayName: 'Ada', bio: 'first bio' });

    expect(await update(ada.token, { bio: 'second bio' })).toMatchObject({ displayName: 'Ada', bio: 'second bio' });
    expect(await update(ada.token, { displayName: 'Countess' })).toMatchObject({
      displayName: 'Countess',
      bio: 'second bio',
    });
    expect(await update(ada.token, {})).toMatchObject({ displayName: 'Countess', bio: 'second bio' });
    expect(await update(ada.token, { displayName: null })).toMatchObject({ displayName: null, bio: 'second bio' });
    expect(await update(ada.token, { bio: '' })).toMatchObject({ displayName: null, bio: '' });
    expect(succeeded(await userProfile(t.url, ada.username))).toMatchObject({ displayName: null, bio: '' });
  });

  it('trims, and counts characters as code points (50 emoji fit a display name, 160 a bio)', async () => {
    const ada = await signedInUser(t.url);
    expect(await update(ada.token, { displayName: '  Ada  ', bio: '\n\t hello \n' })).toMatchObject({
      displayName: 'Ada',
      bio: 'hello',
    });
    // A bio may be empty: whitespace only trims to ''.
    expect(await update(ada.token, { bio: '   ' })).toMatchObject({ bio: '' });

    // 😀 is two UTF-16 units: a limit counted in String#length would refuse these.
    const emoji = (n: number) => '😀'.repeat(n);
    expect(await update(ada.token, { displayName: emoji(50), bio: emoji(160) })).toMatchObject({
      displayName: emoji(50),
      bio: emoji(160),
    });
    // Spaces around do not count.
    expect(await update(ada.token, { displayName: ` ${'a'.repeat(50)} ` })).toMatchObject({
      displayName: 'a'.repeat(50),
    });
    for (const input of [{ displayName: emoji(51) }, { bio: emoji(161) }, { displayName: 'a'.repeat(51) }]) {
      const refused = await updateProfileCall(t.url, input, ada.token);
      expectTrpcError(refused, 400, 'BAD_REQUEST');
      expect(refused.error?.data.zodError?.fieldErrors[Object.keys(input)[0]!]).toHaveLength(1);
    }
    expect(succeeded(await userProfile(t.url, ada.username))).toMatchObject({ displayName: 'a'.repeat(50) });
  });

  it.each([
    ['an empty display name', { displayName: '' }, 'displayName'],
    ['a whitespace-only display name', { displayName: ' \n\t ' }, 'displayName'],
    ['a NUL in the display name', { displayName: 'Ada\u0000Lovelace' }, 'displayName'],
    ['a lone surrogate in the display name', { displayName: 'Ada \ud800' }, 'displayName'],
    ['a NUL in the bio', { bio: 'bio\u0000' }, 'bio'],
    ['a lone surrogate in the bio', { bio: '\udc00 bio' }, 'bio'],
    ['a display name that is not a string', { displayName: 42 }, 'displayName'],
    ['a null bio', { bio: null }, 'bio'],
  ])('refuses %s with BAD_REQUEST on that field, and changes nothing', async (_case, input, field) => {
    const ada = await signedInUser(t.url);
    const before = await update(ada.token, { displayName: 'Ada', bio: 'kept' });
    const refused = await updateProfileCall(t.url, input, ada.token);
    expectTrpcError(refused, 400, 'BAD_REQUEST');
    expect(refused.error?.data.zodError?.fieldErrors[field]).toHaveLength(1);
    expect(succeeded(await myProfile(t.url, ada.token))).toEqual(before);
  });

  it('refuses unknown keys (no writing someone else’s fields), a half-valid input as a whole, and no token', async () => {
    const ada = await signedInUser(t.url);
    const before = await update(ada.token, { displayName: 'Ada', bio: 'kept' });
    for (const input of [
      { displayName: 'Mallory', username: 'mallory' },
      { bio: 'x', id: '00000000-0000-7000-8000-000000000000' },
      { displayName: 'Mallory', bio: 'x'.repeat(161) },
    ]) {
      expectTrpcError(await updateProfileCall(t.url, input, ada.token), 400, 'BAD_REQUEST');
    }
    expect(succeeded(await myProfile(t.url, ada.token))).toEqual(before);

    const anonymous = await updateProfileCall(t.url, { displayName: 'Nobody' });
    expectTrpcError(anonymous, 401, 'UNAUTHORIZED');
    expectTrpcError(await updateProfileCall(t.url, { displayName: 'Nobody' }, `${ada.token}x`), 401, 'UNAUTHORIZED');
  });

  it('shows in posts.create’s answer at once, though the caller was cached with the old name', async () => {
    const ada = await signedInUser(t.url);
    // Cached now, with displayName null.
    expect((await createPost(t.url, ada.token, 'before')).author).toEqual({
      id: ada.id,
      username: ada.username,
      displayName: null,
    });
    await update(ada.token, { displayName: 'Ada' });
    expect((await createPost(t.url, ada.token, 'named')).author.displayName).toBe('Ada');
    await update(ada.token, { displayName: null });
    expect((await createPost(t.url, ada.token, 'unnamed')).author.displayName).toBeNull();
  });

  it('shows on every read path of posts, old posts included, and in live timeline events', async () => {
    const [ada, reader, nameless] = [await signedInUser(t.url), await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, reader.token, ada.username);
    await follow(t.url, reader.token, nameless.username);
    const old = await createPost(t.url, ada.token, 'written before the name');
    const plain = await createPost(t.url, nameless.token, 'by someone without a display name');
    const stream = timelineOf(t.url, reader.token);
    await stream.connected();

    await update(ada.token, { displayName: 'Ada Lovelace' });
    const fresh = await createPost(t.url, ada.token, 'written after');
    const author = { id: ada.id, username: ada.username, displayName: 'Ada Lovelace' };
    expect(fresh.author).toEqual(author);

    // The name is read with the post, not stored with it: the old post shows the new name too.
    for (const post of [old, fresh]) expect(succeeded(await postById(t.url, post.id)).author).toEqual(author);
    expect(succeeded(await postsByUser(t.url, ada.username)).items.map((post) => post.author)).toEqual([
      author,
      author,
    ]);
    const items = succeeded(await timeline(t.url, reader.token)).items;
    expect(items.map((post) => [post.body, post.author.displayName])).toEqual([
      ['written after', 'Ada Lovelace'],
      ['by someone without a display name', null],
      ['written before the name', 'Ada Lovelace'],
    ]);
    expect(succeeded(await postById(t.url, plain.id)).author).toEqual({
      id: nameless.id,
      username: nameless.username,
      displayName: null,
    });

    const [event] = await stream.receive(1);
    expect(event?.data).toEqual({ type: 'post', post: fresh });
  });
});

describe('users.updateProfile seen from another process sharing the database', () => {
  const a = useTestApp({ env: testEnv(LONG_CACHE) });
  let b: TestApp;
  beforeAll(async () => {
    b = await startTestApp({ databaseUrl: a.db.url, env: testEnv({ ...LONG_CACHE, JWT_SECRET: a.env.JWT_SECRET! }) });
    // Until a process listens for revocations it caches nothing, and this test would prove nothing.
    await eventually(async () => (await listeners(a.db.url)) === 2, 'both processes listen for revocations');
  });
  afterAll(() => b?.close());

  it('reaches posts.create on the other process, whose token cache still held the old name', async () => {
    const ada = await signedInUser(a.url);
    // Process B verifies the token and remembers the caller (displayName null) for 300 s.
    expect((await createPost(b.url, ada.token, 'on B, unnamed')).author.displayName).toBeNull();

    succeeded(await updateProfileCall(a.url, { displayName: 'Ada' }, ada.token));
    // B learns of the change by NOTIFY, asynchronously (within milliseconds): poll briefly. The
    // 5 s deadline is far below the cache's 300 s, so only the notice can make B read the name.
    await eventually(
      async () => (await createPost(b.url, ada.token, 'on B, named?')).author.displayName === 'Ada',
      'process B shows the new display name in posts.create',
    );
    // And the session stayed valid on B throughout (a profile change revokes nothing).
    expect(succeeded(await myProfile(b.url, ada.token))).toMatchObject({ id: ada.id, displayName: 'Ada' });
  });
});
