// The SDK as a browser page uses it (`refreshCookie: true`) against a real server: the refresh
// token only ever in the httpOnly cookie, one refresh to recover a reloaded page, no loops; and
// isWarbleError on real answers.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  createWarbleClient,
  isWarbleError,
  memoryTokenStore,
  warbleErrorCode,
  type WarbleErrorCode,
} from '../client-sdk/src/index.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signup } from './helpers/auth.ts';

const PAGE_ORIGIN = 'http://localhost:5173';
const COOKIE = 'warble_refresh';

interface SentRequest {
  /** The procedures of the request (a batch lists several). */
  paths: string[];
  credentials: RequestInit['credentials'];
  /** Whether the jar sent its cookie along. */
  sentCookie: boolean;
  body: string;
  answer: string;
}

/**
 * What a browser page on PAGE_ORIGIN does with the API's cookies, as far as these tests need (Node's
 * fetch keeps none): cross-origin, the cookie is stored and sent back only for requests made with
 * `credentials: 'include'`, and such an answer reaches the page only with the CORS headers that
 * allow credentials. The `Secure` attribute is not enforced: browsers count http://localhost and
 * 127.0.0.1 as secure contexts.
 */
function browserPage(apiUrl: string) {
  const jar = new Map<string, string>();
  const requests: SentRequest[] = [];
  let holdNext: Promise<unknown> | undefined;
  let onNextSent: (() => void) | undefined;

  const fetchLikeABrowser: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    expect(url.origin).toBe(apiUrl);
    const include = init?.credentials === 'include';
    const headers = new Headers(init?.headers);
    headers.set('origin', PAGE_ORIGIN);
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    if (include && cookie) headers.set('cookie', cookie);
    const request: SentRequest = {
      paths: decodeURIComponent(url.pathname.split('/trpc/')[1] ?? '').split(','),
      credentials: init?.credentials,
      sentCookie: include && cookie !== '',
      body: typeof init?.body === 'string' ? init.body : '',
      answer: '',
    };
    requests.push(request);
    const held = holdNext;
    holdNext = undefined;
    onNextSent?.();
    const response = await fetch(input, { ...init, headers });
    if (include) {
      if (response.headers.get('access-control-allow-origin') !== PAGE_ORIGIN) throw new TypeError('Failed to fetch');
      if (response.headers.get('access-control-allow-credentials') !== 'true') throw new TypeError('Failed to fetch');
      for (const line of response.headers.getSetCookie()) keep(line);
    }
    request.answer = await response.clone().text();
    await held;
    return response;
  };

  function keep(line: string) {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const [name = '', value = ''] = pair.split(/=(.*)/s);
    expect(attributes.map((attribute) => attribute.toLowerCase())).toContain('httponly');
    const maxAge = attributes.find((attribute) => /^max-age=/i.test(attribute));
    const expires = attributes.find((attribute) => /^expires=/i.test(attribute));
    const gone =
      value === '' ||
      (maxAge !== undefined && Number(maxAge.split('=')[1]) <= 0) ||
      (expires !== undefined && Date.parse(expires.split('=')[1]!) <= Date.now());
    if (gone) jar.delete(name);
    else jar.set(name, value);
  }

  return {
    fetch: fetchLikeABrowser,
    requests,
    cookie: () => jar.get(COOKIE),
    count: (path: string) => requests.flatMap((request) => request.paths).filter((p) => p === path).length,
    /** The answer of the next request reaches the page only once `until` has settled. */
    holdNextAnswer: (until: Promise<unknown>) => void (holdNext = until),
    /** Settles when the next request has left. */
    nextRequestSent: () => new Promise<void>((resolve) => (onNextSent = resolve)),
  };
}

/**
 * Two calls that both leave before either is answered, the second answered only once the first is
 * done (its refresh and retry included): the second must live with the first one's refresh, not
 * start another.
 */
async function answeredInTurn<T>(page: ReturnType<typeof browserPage>, call: () => Promise<T>): Promise<[T, T]> {
  const bothSent = Promise.withResolvers<void>();
  page.holdNextAnswer(bothSent.promise);
  let sent = page.nextRequestSent();
  const first = call();
  await sent;
  page.holdNextAnswer(first.catch(() => {}));
  sent = page.nextRequestSent();
  const second = call();
  await sent;
  bothSent.resolve();
  return Promise.all([first, second]);
}

describe('@warble/client with refreshCookie: true', () => {
  // ACCESS_TOKEN_TTL 2 s, not 1: JWT times are whole seconds, so a 1 s token can expire a moment
  // after the refresh that issued it, before its retry arrives (see sdk-client.test.ts).
  const t = useTestApp({ env: testEnv({ ACCESS_TOKEN_TTL: '2', CORS_ORIGINS: PAGE_ORIGIN }) });

  async function loggedInPage() {
    const user = await signup(t.url);
    const page = browserPage(t.url);
    const store = memoryTokenStore();
    const client = createWarbleClient({ url: `${t.url}/trpc`, fetch: page.fetch, tokens: store, refreshCookie: true });
    const session = await client.auth.login.mutate({ username: user.username, password: PASSWORD });
    return { user, page, store, client, session };
  }

  /** The same page after a reload: the cookie jar survives, the memory store does not. */
  const reload = (page: ReturnType<typeof browserPage>) =>
    createWarbleClient({ url: `${t.url}/trpc`, fetch: page.fetch, refreshCookie: true });

  it('logs in with the refresh token in the httpOnly cookie only, and the access token in the store', async () => {
    const { user, page, store, client, session } = await loggedInPage();
    expect(session.refreshToken).toBeNull();
    expect(await store.get()).toEqual({ accessToken: session.accessToken, refreshToken: null });
    const [login] = page.requests;
    expect(JSON.parse(login!.body)).toEqual({
      0: { username: user.username, password: PASSWORD, refreshCookie: true },
    });
    const refreshToken = page.cookie();
    expect(refreshToken).toMatch(/^[\w-]{40,}$/);

    expect((await client.auth.me.query()).username).toBe(user.username);
    for (const request of page.requests) {
      expect(request.credentials).toBe('include');
      expect(request.body).not.toContain(refreshToken);
      expect(request.answer).not.toContain(refreshToken);
    }
  });

  it('recovers a reloaded page with one auth.refresh from the cookie, then every call works', async () => {
    const { user, page } = await loggedInPage();
    const before = page.cookie();
    const client = reload(page);
    expect((await client.auth.me.query()).username).toBe(user.username);
    expect(page.count('auth.refresh')).toBe(1);
    expect(page.count('auth.me')).toBe(2); // without a token, then the retry
    const refresh = page.requests.find((request) => request.paths.includes('auth.refresh'))!;
    expect(refresh.sentCookie).toBe(true);
    expect(JSON.parse(refresh.body)).toEqual({ refreshCookie: true }); // no token: the server reads the cookie
    expect(page.cookie()).not.toBe(before); // rotated

    await client.posts.create.mutate({ body: 'after a reload' });
    expect(page.count('auth.refresh')).toBe(1);
  });

  it('refreshes an expired access token by itself, once for parallel calls, and rotates the cookie', async () => {
    const { user, page, store, client } = await loggedInPage();
    const [cookieBefore, tokensBefore] = [page.cookie(), await store.get()];
    await sleep(2100); // ACCESS_TOKEN_TTL is 2 s: expired by now
    const calls: Promise<{ username: string }>[] = [client.auth.me.query(), client.auth.me.query()];
    await sleep(5); // past the batching tick: a request of its own
    calls.push(client.auth.me.query());
    const results = await Promise.all(calls);
    expect(results.map((me) => me.username)).toEqual(Array(3).fill(user.username));
    expect(page.count('auth.refresh')).toBe(1);
    expect(page.cookie()).not.toBe(cookieBefore);
    expect(await store.get()).toEqual({ accessToken: expect.any(String), refreshToken: null });
    expect((await store.get())?.accessToken).not.toBe(tokensBefore?.accessToken);
  });

  it('shares one refresh among the calls of a reloaded page, also one answered after the refresh', async () => {
    const { user, page } = await loggedInPage();
    const client = reload(page);
    const [first, second] = await answeredInTurn(page, () => client.auth.me.query());
    expect([first.username, second.username]).toEqual([user.username, user.username]);
    expect(page.count('auth.refresh')).toBe(1);
  });

  it('logs out without a token: the cookie is cleared, and a reload ends logged out without a loop', async () => {
    const { page, store, client } = await loggedInPage();
    expect(await client.auth.logout.mutate({})).toEqual({ ok: true });
    const logout = page.requests.find((request) => request.paths.includes('auth.logout'))!;
    expect(logout.sentCookie).toBe(true);
    expect(logout.body).not.toContain('refreshToken');
    expect(page.cookie()).toBeUndefined();
    expect(await store.get()).toBeNull();

    const reloaded = reload(page);
    const before = page.requests.length;
    const errors = await answeredInTurn(page, () => reloaded.auth.me.query().catch((caught: unknown) => caught));
    for (const error of errors) {
      expect(isWarbleError(error) && error.data?.code).toBe('UNAUTHORIZED');
      expect(isWarbleError(error) && error.data?.path).toBe('auth.me'); // the original error, not the refresh's
    }
    // Two calls, one refused refresh (the second call was answered by it too), no retries.
    expect(page.requests.slice(before).map((request) => request.paths.join(','))).toEqual([
      'auth.me',
      'auth.me',
      'auth.refresh',
    ]);
  });

  it('asks for the cookie on a refresh the caller makes, and forgets everything on auth.logoutAll', async () => {
    const { page, store, client } = await loggedInPage();
    const refreshed = await client.auth.refresh.mutate({});
    expect(refreshed.refreshToken).toBeNull();
    expect(await store.get()).toEqual({ accessToken: refreshed.accessToken, refreshToken: null });
    expect(await client.auth.logoutAll.mutate()).toEqual({ revoked: 1 });
    expect(await store.get()).toBeNull();
    expect(page.cookie()).toBeUndefined();
  });
});

describe('isWarbleError', () => {
  const t = useTestApp({ env: testEnv({ POSTS_PER_HOUR: '1' }) });

  it('narrows a real UNAUTHORIZED, with its code typed', async () => {
    const client = createWarbleClient({ url: `${t.url}/trpc` });
    const error = await client.auth.me.query().catch((caught: unknown) => caught);
    expect(isWarbleError(error)).toBe(true);
    if (!isWarbleError(error)) return;
    expectTypeOf(error.data?.code).toEqualTypeOf<WarbleErrorCode | undefined>();
    expectTypeOf(error.data?.retryAfter).toEqualTypeOf<number | undefined>();
    // @ts-expect-error: not one of tRPC's codes
    expect(error.data?.code === 'NOPE').toBe(false);
    expect(error.data?.code).toBe('UNAUTHORIZED');
    expect(error.data?.httpStatus).toBe(401);
    expect(warbleErrorCode(error)).toBe('UNAUTHORIZED');
  });

  it('narrows a real TOO_MANY_REQUESTS and carries its retryAfter in seconds', async () => {
    const user = await signup(t.url);
    const client = createWarbleClient({ url: `${t.url}/trpc` });
    await client.auth.login.mutate({ username: user.username, password: PASSWORD });
    await client.posts.create.mutate({ body: 'the only post this hour' });
    const error = await client.posts.create.mutate({ body: 'one too many' }).catch((caught: unknown) => caught);
    expect(isWarbleError(error)).toBe(true);
    if (!isWarbleError(error)) return;
    expect(error.data?.code).toBe('TOO_MANY_REQUESTS');
    expect(error.data?.httpStatus).toBe(429);
    expect(error.data?.retryAfter).toBeGreaterThan(0);
    expect(Number.isInteger(error.data?.retryAfter)).toBe(true);
  });

  it('is false for errors that are not a call’s, true for a call that never reached the API', async () => {
    expect(isWarbleError(new Error('boom'))).toBe(false);
    expect(isWarbleError(new TypeError('Failed to fetch'))).toBe(false);
    expect(isWarbleError({ name: 'TRPCClientError' })).toBe(false);
    expect(isWarbleError(undefined)).toBe(false);
    expect(isWarbleError('TRPCClientError')).toBe(false);
    expect(warbleErrorCode(new Error('boom'))).toBeUndefined();

    const offline = createWarbleClient({ url: 'http://127.0.0.1:1/trpc' });
    const error = await offline.users.profile.query({ username: 'nobody' }).catch((caught: unknown) => caught);
    expect(isWarbleError(error)).toBe(true);
    expect(isWarbleError(error) && error.data).toBeUndefined();
  });

  it('recognises the errors of another copy of @trpc/client by their shape', () => {
    // What a TRPCClientError of a second @trpc/client version looks like: another class, same fields.
    class TRPCClientError extends Error {
      override readonly name = 'TRPCClientError';
      readonly data = { code: 'NOT_FOUND', httpStatus: 404, path: 'posts.byId', zodError: null };
      readonly shape = undefined;
    }
    const foreign: unknown = new TRPCClientError('Post not found');
    expect(isWarbleError(foreign)).toBe(true);
    expect(warbleErrorCode(foreign)).toBe('NOT_FOUND');
  });
});
