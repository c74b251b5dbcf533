// The SDK against a real server: tokens stored, attached, refreshed once, cleared.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { createWarbleClient, memoryTokenStore, warbleErrorCode, type TokenStore } from '../client-sdk/src/index.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signup, uniqueUsername } from './helpers/auth.ts';

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

async function loggedInClient(url: string, store: TokenStore = memoryTokenStore()) {
  const user = await signup(url);
  const counter = countingFetch();
  const client = createWarbleClient({ url: `${url}/trpc`, tokens: store, fetch: counter.fetch });
  await client.auth.login.mutate({ username: user.username, password: PASSWORD });
  return { user, client, store, counter };
}

describe('@warble/client', () => {
  // JWT times are whole seconds (exp = floor(now) + TTL), so a token lives between TTL - 1 and TTL
  // seconds. 2 s guarantees a refreshed token outlives its retries on a loaded machine (with 1 s it
  // could expire a millisecond after the refresh), and a 2.1 s sleep still guarantees expiry.
  const t = useTestApp({ env: testEnv({ ACCESS_TOKEN_TTL: '2' }) });

  it('stores the tokens of auth.login and attaches the access token to every call', async () => {
    const { user, client, store } = await loggedInClient(t.url);
    expect(await store.get()).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String) });
    const me = await client.auth.me.query();
    expect(me.username).toBe(user.username);
  });

  it('refreshes an expired access token once for five concurrent calls (one batch), and retries each', async () => {
    const { user, client, store, counter } = await loggedInClient(t.url);
    const before = await store.get();
    await sleep(2100); // ACCESS_TOKEN_TTL is 2 s: expired by now
    const results = await Promise.all(Array.from({ length: 5 }, () => client.auth.me.query()));
    expect(results.map((me) => me.username)).toEqual(Array(5).fill(user.username));
    expect(counter.count('auth.refresh')).toBe(1);
    const after = await store.get();
    expect(after?.accessToken).not.toBe(before?.accessToken);
    expect(after?.refreshToken).not.toBe(before?.refreshToken);
  });

  it('shares one refresh among five calls in flight as separate requests too', async () => {
    const { client, counter } = await loggedInClient(t.url);
    await sleep(2100);
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      calls.push(client.posts.create.mutate({ body: `post ${i}` }));
      await sleep(5); // past the batching tick: each call is its own HTTP request
    }
    await Promise.all(calls);
    expect(counter.count('posts.create')).toBeGreaterThanOrEqual(6); // 5 first tries, then retries
    expect(counter.count('auth.refresh')).toBe(1);
  });

  it("never sends a call with another call's token, even when both leave in the same tick", async () => {
    // After a refresh, retries carrying the new token can leave together with calls that read the
    // old one just before: a batch has one Authorization header, so they must not share a batch.
    const alice = await loggedInClient(t.url);
    const bob = await loggedInClient(t.url);
    const tokens = [await alice.store.get(), await bob.store.get()];
    let reads = 0;
    const alternating: TokenStore = { get: () => tokens[reads++ % 2]!, set: () => {} };
    const client = createWarbleClient({ url: `${t.url}/trpc`, tokens: alternating });
    const [first, second] = await Promise.all([client.auth.me.query(), client.auth.me.query()]);
    expect([first.username, second.username]).toEqual([alice.user.username, bob.user.username]);
  });

  it('clears the store and surfaces the original error when the refresh fails, without looping', async () => {
    const { client, store, counter } = await loggedInClient(t.url);
    // Another device ends every session: the access and refresh tokens both stop working.
    const other = createWarbleClient({ url: `${t.url}/trpc` });
    await other.auth.login.mutate({ username: (await client.auth.me.query()).username, password: PASSWORD });
    await other.auth.logoutAll.mutate();

    const error = await client.auth.me.query().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<never>).data).toMatchObject({ code: 'UNAUTHORIZED', path: 'auth.me' });
    expect(await store.get()).toBeNull();
    expect(counter.count('auth.refresh')).toBe(1);
    expect(counter.count('auth.me')).toBe(2); // the one before logoutAll, and the failed one: no retry
  });

  it('clears the store on auth.logout and on auth.logoutAll', async () => {
    const first = await loggedInClient(t.url);
    const { refreshToken } = (await first.store.get())!;
    // No token in the input: the SDK sends the stored one, so the session really ends.
    await first.client.auth.logout.mutate({});
    expect(await first.store.get()).toBeNull();
    const stranger = createWarbleClient({ url: `${t.url}/trpc` });
    const refused = await stranger.auth.refresh
      .mutate({ refreshToken: refreshToken! })
      .catch((caught: unknown) => caught);
    expect(warbleErrorCode(refused)).toBe('UNAUTHORIZED');

    const second = await loggedInClient(t.url);
    expect(await second.client.auth.logoutAll.mutate()).toEqual({ revoked: 1 });
    expect(await second.store.get()).toBeNull();
  });

  it('refreshes with the stored refresh token when the caller asks without one', async () => {
    const { client, store } = await loggedInClient(t.url);
    const before = await store.get();
    const refreshed = await client.auth.refresh.mutate({});
    expect(refreshed.refreshToken).toEqual(expect.any(String));
    expect(refreshed.refreshToken).not.toBe(before?.refreshToken);
    expect(await store.get()).toEqual({ accessToken: refreshed.accessToken, refreshToken: refreshed.refreshToken });
  });

  it('does not refresh when a login fails, and works with an async token store', async () => {
    const saved: { value: Awaited<ReturnType<TokenStore['get']>> } = { value: null };
    const asyncStore: TokenStore = {
      get: async () => (await sleep(1), saved.value),
      set: async (tokens) => void (await sleep(1), (saved.value = tokens)),
    };
    const counter = countingFetch();
    const client = createWarbleClient({ url: `${t.url}/trpc`, tokens: asyncStore, fetch: counter.fetch });
    const user = await signup(t.url, uniqueUsername());
    await expect(client.auth.login.mutate({ username: user.username, password: 'wrong password' })).rejects.toThrow();
    expect(counter.count('auth.refresh')).toBe(0);
    await client.auth.login.mutate({ username: user.username, password: PASSWORD });
    expect(saved.value?.accessToken).toEqual(expect.any(String));
    expect((await client.auth.me.query()).id).toBe(user.id);
  });
});

describe('npm run demo', () => {
  const t = useTestApp();

  it('walks through sign-up, posts, follows, the timeline and a soft delete, step by step', async () => {
    const demo = path.join(import.meta.dirname, '..', 'client-sdk', 'scripts', 'demo.ts');
    // Asynchronously: the server the demo talks to runs in this process.
    const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [demo, '--url', `${t.url}/trpc`]);
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('close', (code) => resolve({ status: code, output: text }));
    });
    expect(status, output).toBe(0);
    const timelines = output.split("'s timeline");
    expect(timelines[1]).toContain('Hello, Warble! First post.');
    expect(timelines[2]).not.toContain('Hello, Warble! First post.');
    expect(output).toContain('posts.byId of the deleted post: Post not found');
  });
});
