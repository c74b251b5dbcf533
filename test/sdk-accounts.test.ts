// The SDK with the account procedures (issue #15), against a real server: a wrong password is the
// caller's to hear at once (no refresh, no retry), an expired token is still refreshed, a deleted
// account signs the client out, and the new procedures are typed.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createWarbleClient,
  isWarbleError,
  memoryTokenStore,
  warbleErrorCode,
  type RouterInputs,
  type RouterOutputs,
  type WarbleClient,
  type WarbleError,
} from '../client-sdk/src/index.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { login, PASSWORD, signup } from './helpers/auth.ts';
import { mutate } from './helpers/trpc.ts';

const NEW_PASSWORD = 'a brand new passphrase';

/** The real fetch, counting the HTTP requests per procedure path (a batch counts once per path). */
function countingFetch() {
  const calls: string[] = [];
  const fetchAndCount: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push(...decodeURIComponent(url.pathname.split('/trpc/')[1] ?? '').split(','));
    return fetch(input, init);
  };
  return { fetch: fetchAndCount, count: (path: string) => calls.filter((call) => call === path).length };
}

async function loggedInClient(url: string) {
  const user = await signup(url);
  const store = memoryTokenStore();
  const counter = countingFetch();
  const client = createWarbleClient({ url: `${url}/trpc`, tokens: store, fetch: counter.fetch });
  await client.auth.login.mutate({ username: user.username, password: PASSWORD });
  return { user, client, store, counter };
}

describe('@warble/client and the account procedures', () => {
  // ACCESS_TOKEN_TTL 2, not 1: JWT times are whole seconds, so a token lives between TTL - 1 and
  // TTL seconds; with 1 a refreshed token could expire before its retry arrives (see
  // test/sdk-client.test.ts). A 2.1 s sleep still guarantees the first token has expired.
  const t = useTestApp({ env: testEnv({ ACCESS_TOKEN_TTL: '2' }) });

  const wrongPasswordCalls = {
    'auth.changePassword': (client: WarbleClient) =>
      client.auth.changePassword.mutate({ currentPassword: 'not my password', newPassword: NEW_PASSWORD }),
    'auth.deleteAccount': (client: WarbleClient) => client.auth.deleteAccount.mutate({ password: 'not my password' }),
  };

  for (const [path, call] of Object.entries(wrongPasswordCalls)) {
    it(`${path} with a wrong password: the error reaches the caller at once, with no refresh and no retry`, async () => {
      const { user, client, store, counter } = await loggedInClient(t.url);
      const before = await store.get();

      const error = await call(client).catch((caught: unknown) => caught);
      expect(isWarbleError(error)).toBe(true);
      expect((error as WarbleError).data).toMatchObject({ code: 'UNAUTHORIZED', reason: 'WRONG_PASSWORD', path });
      // One request: a retry would count a second failed login against the user.
      expect(counter.count(path)).toBe(1);
      // No refresh: the refresh token was not rotated, and the store is as it was (not cleared either).
      expect(counter.count('auth.refresh')).toBe(0);
      expect(await store.get()).toEqual(before);
      // Nothing changed: the client is still signed in, and the password still logs in.
      expect((await client.auth.me.query()).id).toBe(user.id);
      await login(t.url, user.username, PASSWORD);
    });
  }

  it('auth.changePassword with an expired access token: one refresh, then the change', async () => {
    const { user, client, store, counter } = await loggedInClient(t.url);
    const before = await store.get();
    await sleep(2100); // ACCESS_TOKEN_TTL is 2 s: expired by now

    const result = await client.auth.changePassword.mutate({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(result).toEqual({ revokedSessions: 0 });
    expect(counter.count('auth.refresh')).toBe(1);
    expect(counter.count('auth.changePassword')).toBe(2); // the refused first try, then the retry
    const after = await store.get();
    expect(after?.refreshToken).not.toBe(before?.refreshToken);
    // The caller's own session stays, and the new password is the one that holds.
    expect((await client.auth.me.query()).id).toBe(user.id);
    await login(t.url, user.username, NEW_PASSWORD);
    const old = await mutate(t.url, 'auth.login', { username: user.username, password: PASSWORD });
    expect(old.error?.data.code).toBe('UNAUTHORIZED');
  });

  it('auth.deleteAccount signs the client out: the store is cleared, later calls are UNAUTHORIZED', async () => {
    const { client, store, counter } = await loggedInClient(t.url);
    const { refreshToken } = (await store.get())!;

    expect(await client.auth.deleteAccount.mutate({ password: PASSWORD })).toEqual({ deleted: true });
    // As after auth.logoutAll: the tokens belonged to sessions that are gone, so they are forgotten.
    expect(await store.get()).toBeNull();
    const error = await client.auth.me.query().catch((caught: unknown) => caught);
    expect(warbleErrorCode(error)).toBe('UNAUTHORIZED');
    // Nothing to refresh with: the SDK did not try.
    expect(counter.count('auth.refresh')).toBe(0);
    // The session is over on the server too: the forgotten refresh token no longer works.
    const refused = await mutate(t.url, 'auth.refresh', { refreshToken });
    expect(refused.error?.data.code).toBe('UNAUTHORIZED');
  });

  it('auth.deleteAccount with an expired access token: one refresh, the deletion, then signed out', async () => {
    const { user, client, store, counter } = await loggedInClient(t.url);
    await sleep(2100);

    expect(await client.auth.deleteAccount.mutate({ password: PASSWORD })).toEqual({ deleted: true });
    expect(counter.count('auth.refresh')).toBe(1);
    expect(counter.count('auth.deleteAccount')).toBe(2);
    // The refresh stored new tokens just before: they are cleared too.
    expect(await store.get()).toBeNull();
    const gone = await mutate(t.url, 'auth.login', { username: user.username, password: PASSWORD });
    expect(gone.error?.data.code).toBe('UNAUTHORIZED');
  });

  it('types users.updateProfile and posts.restore, and the reason of a wrong password', async () => {
    const { user, client } = await loggedInClient(t.url);

    const profile = await client.users.updateProfile.mutate({ displayName: '  Ada  ', bio: 'Counts engines' });
    expect(profile).toMatchObject({ id: user.id, displayName: 'Ada', bio: 'Counts engines' });
    expectTypeOf(profile).toEqualTypeOf<RouterOutputs['users']['updateProfile']>();
    expectTypeOf(profile.displayName).toEqualTypeOf<string | null>();
    expectTypeOf(profile.bio).toEqualTypeOf<string>();
    expectTypeOf<RouterInputs['users']['updateProfile']>().toEqualTypeOf<{
      displayName?: string | null | undefined;
      bio?: string | undefined;
    }>();
    // @ts-expect-error a display name is removed with null, but a bio is a string (empty for none)
    const invalid: RouterInputs['users']['updateProfile'] = { bio: null };
    void invalid;

    const post = await client.posts.create.mutate({ body: 'written, deleted, restored' });
    await client.posts.delete.mutate({ id: post.id });
    const restored = await client.posts.restore.mutate({ id: post.id });
    expect(restored).toMatchObject({ id: post.id, body: post.body, author: { id: user.id, displayName: 'Ada' } });
    expectTypeOf(restored).toEqualTypeOf<RouterOutputs['posts']['restore']>();
    expectTypeOf(restored.author.displayName).toEqualTypeOf<string | null>();
    expectTypeOf<RouterInputs['posts']['restore']>().toEqualTypeOf<{ id: string }>();

    // The reason is typed, so a caller can tell a wrong password from an expired session.
    expectTypeOf<NonNullable<WarbleError['data']>['reason']>().toEqualTypeOf<'WRONG_PASSWORD' | undefined>();
  });
});
