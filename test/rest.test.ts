// REST under /api (contract: "Open to every client"): the same procedures as /trpc, so the same
// answers for the same calls (compared here call by call), plain JSON in and out, errors as
// `{ message, code, issues? }` with tRPC's HTTP statuses, and the same door (JSON only, the call
// budget, CORS, headers).
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { restErrorSchema } from '../server/rest/rest-errors.ts';
import { rest } from '../server/rest/route-meta.ts';
import { mergeRouters, publicProcedure, router } from '../server/trpc/init.ts';
import { appRouter } from '../server/trpc/router.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signupAndLogin, uniqueUsername, type TokenPair } from './helpers/auth.ts';
import { call, normalized } from './helpers/rest-calls.ts';
import { mutate, query } from './helpers/trpc.ts';

/** An error answer: exactly the REST error shape (no tRPC `data`, no stack), with its code. */
function expectRestError(result: { status: number; body: unknown; headers: Headers }, status: number, code: string) {
  expect(result.status).toBe(status);
  const body = restErrorSchema.strict().parse(result.body);
  expect(body.code).toBe(code);
  expect(result.headers.get('content-type')).toMatch(/^application\/json/);
  return body;
}

describe('REST answers as /trpc does', () => {
  const t = useTestApp();

  it('auth.signup and auth.login: the same answers (but for ids, times and tokens)', async () => {
    const [a, b] = [uniqueUsername(), uniqueUsername()];
    const overRest = await call(t.url, 'POST', '/auth/signup', { body: { username: a, password: PASSWORD } });
    const overTrpc = await mutate(t.url, 'auth.signup', { username: b, password: PASSWORD });
    expect(overRest.status).toBe(200);
    expect(normalized(overRest.body, [a])).toEqual(normalized(overTrpc.data, [b]));
    expect(normalized(overRest.body, [a])).toEqual({ id: '<id>', username: '<name>', createdAt: '<time>' });

    const restLogin = await call(t.url, 'POST', '/auth/login', { body: { username: b, password: PASSWORD } });
    const trpcLogin = await mutate(t.url, 'auth.login', { username: a, password: PASSWORD });
    expect(restLogin.status).toBe(200);
    expect(normalized(restLogin.body, [b])).toEqual(normalized(trpcLogin.data, [a]));
    // Tokens from either transport work on the other.
    const restToken = (restLogin.body as TokenPair).accessToken;
    expect((await query(t.url, 'auth.me', undefined, { token: restToken })).data).toMatchObject({ username: b });
    const trpcToken = (trpcLogin.data as TokenPair).accessToken;
    expect((await call(t.url, 'GET', '/me', { token: trpcToken })).body).toMatchObject({ username: a });
  });

  it('posts.create, posts.timeline, posts.byUser, posts.byId: the same posts, pages and cursors', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const token = tokens.accessToken;
    const created = await call(t.url, 'POST', '/posts', { token, body: { body: '  over REST  ' } });
    const viaTrpc = await mutate(t.url, 'posts.create', { body: '  over REST  ' }, { token });
    expect(created.status).toBe(200);
    expect(normalized(created.body)).toEqual(normalized(viaTrpc.data));
    expect(created.body).toMatchObject({ body: 'over REST', author: { username: user.username, displayName: null } });
    for (let i = 0; i < 3; i++) await call(t.url, 'POST', '/posts', { token, body: { body: `post ${i}` } });

    // Five posts, two a page: every page the same over both, cursors included.
    const pages = async (restPath: string, procedure: string, input: object, token?: string) => {
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const overRest: { status: number; body: { nextCursor: string | null } } = await call(t.url, 'GET', restPath, {
          token,
          query: { limit: 2, ...(cursor ? { cursor } : {}) },
        });
        expect(overRest.status).toBe(200);
        expect(overRest.body).toEqual((await query(t.url, procedure, { ...input, limit: 2, cursor }, { token })).data);
        cursor = overRest.body.nextCursor;
      }
      expect(cursor).toBeNull();
    };
    await pages('/timeline', 'posts.timeline', {}, token);
    await pages(`/users/${user.username}/posts`, 'posts.byUser', { username: user.username });

    const id = (created.body as { id: string }).id;
    const byId = await call(t.url, 'GET', `/posts/${id}`);
    expect(byId.body).toEqual((await query(t.url, 'posts.byId', { id })).data);
  });

  it('users.follow, unfollow, profile, followers, following; auth.me and users.updateProfile', async () => {
    const alice = await signupAndLogin(t.url);
    const bob = await signupAndLogin(t.url);
    const name = alice.user.username;
    const follow = await call(t.url, 'PUT', `/users/${name}/follow`, { token: bob.tokens.accessToken });
    expect(follow.status).toBe(200);
    expect(follow.body).toEqual({ following: true });

    for (const token of [undefined, bob.tokens.accessToken]) {
      const profile = await call(t.url, 'GET', `/users/${name}`, { token });
      expect(profile.body).toEqual((await query(t.url, 'users.profile', { username: name }, { token })).data);
    }
    expect((await call(t.url, 'GET', `/users/${name}`, { token: bob.tokens.accessToken })).body).toMatchObject({
      followersCount: 1,
      followedByMe: true,
    });
    for (const list of ['followers', 'following'] as const) {
      for (const username of [name, bob.user.username]) {
        const page = await call(t.url, 'GET', `/users/${username}/${list}`, { query: { limit: 10 } });
        expect(page.body).toEqual((await query(t.url, `users.${list}`, { username, limit: 10 })).data);
      }
    }

    const unfollow = await call(t.url, 'DELETE', `/users/${name}/follow`, { token: bob.tokens.accessToken });
    expect(unfollow.body).toEqual({ following: false });
    expect(unfollow.body).toEqual(
      (await mutate(t.url, 'users.unfollow', { username: name }, { token: bob.tokens.accessToken })).data,
    );

    const token = alice.tokens.accessToken;
    const updated = await call(t.url, 'PATCH', '/me', { token, body: { displayName: 'Alice', bio: ' hi ' } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ displayName: 'Alice', bio: 'hi' });
    expect(updated.body).toEqual((await query(t.url, 'auth.me', undefined, { token })).data);
    expect((await call(t.url, 'GET', '/me', { token })).body).toEqual(updated.body);
    const sessions = await call(t.url, 'GET', '/me/sessions', { token });
    expect(sessions.body).toEqual((await query(t.url, 'auth.sessions', undefined, { token })).data);
  });

  it('posts.delete and posts.restore', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const token = tokens.accessToken;
    const post = (await call<{ id: string }>(t.url, 'POST', '/posts', { token, body: { body: 'brief' } })).body;
    const deleted = await call(t.url, 'DELETE', `/posts/${post.id}`, { token });
    expect(normalized(deleted.body)).toEqual({ id: '<id>', deletedAt: '<time>' });
    expect((await query(t.url, 'posts.byId', { id: post.id })).error?.data.code).toBe('NOT_FOUND');
    expectRestError(await call(t.url, 'GET', `/posts/${post.id}`), 404, 'NOT_FOUND');
    const restored = await call(t.url, 'POST', `/posts/${post.id}/restore`, { token });
    expect(restored.status).toBe(200);
    expect(restored.body).toEqual(post);
  });

  it('the account routes: refresh, logout, logout-all, change-password, delete-account', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const refreshed = await call<TokenPair>(t.url, 'POST', '/auth/refresh', {
      body: { refreshToken: tokens.refreshToken },
    });
    expect(normalized(refreshed.body, [user.username])).toEqual(normalized(tokens, [user.username]));
    expect(
      await call(t.url, 'POST', '/auth/logout', { body: { refreshToken: refreshed.body.refreshToken } }),
    ).toMatchObject({
      status: 200,
      body: { ok: true },
    });
    const reused = await call(t.url, 'POST', '/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } });
    expectRestError(reused, 401, 'UNAUTHORIZED');

    const second = (
      await call<TokenPair>(t.url, 'POST', '/auth/login', { body: { username: user.username, password: PASSWORD } })
    ).body;
    const third = (
      await call<TokenPair>(t.url, 'POST', '/auth/login', { body: { username: user.username, password: PASSWORD } })
    ).body;
    const wrong = await call(t.url, 'POST', '/auth/change-password', {
      token: second.accessToken,
      body: { currentPassword: 'not the password', newPassword: 'a new password' },
    });
    expect(expectRestError(wrong, 401, 'UNAUTHORIZED').reason).toBe('WRONG_PASSWORD');
    const changed = await call(t.url, 'POST', '/auth/change-password', {
      token: second.accessToken,
      body: { currentPassword: PASSWORD, newPassword: 'a new password' },
    });
    expect(changed.body).toEqual({ revokedSessions: 1 });
    expectRestError(await call(t.url, 'GET', '/me', { token: third.accessToken }), 401, 'UNAUTHORIZED');
    // No body at all: the route takes no input.
    expect((await call(t.url, 'POST', '/auth/logout-all', { token: second.accessToken })).body).toEqual({ revoked: 1 });

    const last = (
      await call<TokenPair>(t.url, 'POST', '/auth/login', {
        body: { username: user.username, password: 'a new password' },
      })
    ).body;
    const gone = await call(t.url, 'POST', '/auth/delete-account', {
      token: last.accessToken,
      body: { password: 'a new password' },
    });
    expect(gone.body).toEqual({ deleted: true });
    expectRestError(await call(t.url, 'GET', `/users/${user.username}`), 404, 'NOT_FOUND');
  });

  it('the refresh cookie: login and refresh set it, refresh and logout read it', async () => {
    const { user } = await signupAndLogin(t.url);
    const login = await call<TokenPair>(t.url, 'POST', '/auth/login', {
      body: { username: user.username, password: PASSWORD, refreshCookie: true },
    });
    expect(login.body.refreshToken).toBeNull();
    const cookieOf = (headers: Headers) =>
      headers
        .getSetCookie()
        .find((line) => line.startsWith('warble_refresh='))
        ?.split(';')[0];
    const cookie = cookieOf(login.headers);
    expect(cookie).toMatch(/^warble_refresh=[\w-]{43}$/);
    expect(login.headers.getSetCookie()[0]).toMatch(/HttpOnly/i);
    // No body: the token comes from the cookie, and its successor goes back into it.
    const refreshed = await call<TokenPair>(t.url, 'POST', '/auth/refresh', { headers: { cookie: cookie! } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refreshToken).toBeNull();
    const next = cookieOf(refreshed.headers);
    expect(next).toMatch(/^warble_refresh=/);
    expect(next).not.toBe(cookie);
    const logout = await call(t.url, 'POST', '/auth/logout', { headers: { cookie: next! } });
    expect(logout.body).toEqual({ ok: true });
    expect(cookieOf(logout.headers)).toBe('warble_refresh=');
    expectRestError(await call(t.url, 'POST', '/auth/refresh', { headers: { cookie: next! } }), 401, 'UNAUTHORIZED');
  });
});

describe('REST errors', () => {
  const t = useTestApp();

  it('400 with the field problems as `issues`, as tRPC’s zodError names them', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const token = tokens.accessToken;
    const overRest = await call(t.url, 'POST', '/posts', { token, body: { body: '   ' } });
    const overTrpc = await mutate(t.url, 'posts.create', { body: '   ' }, { token });
    const body = expectRestError(overRest, 400, 'BAD_REQUEST');
    expect(body.message).toBe(overTrpc.error!.message);
    expect(body.issues).toEqual([{ path: ['body'], message: 'must not be empty' }]);
    expect(overTrpc.error!.data.zodError!.fieldErrors).toEqual({ body: ['must not be empty'] });

    const signup = await call(t.url, 'POST', '/auth/signup', { body: { username: 'x', password: 'short', extra: 1 } });
    expect(expectRestError(signup, 400, 'BAD_REQUEST').issues!.map((issue) => issue.path)).toEqual(
      expect.arrayContaining([['username'], ['password'], []]),
    );
  });

  it('query parameters: `limit` as a number; anything else in it is a 400, never a 500', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const token = tokens.accessToken;
    for (let i = 0; i < 3; i++) await call(t.url, 'POST', '/posts', { token, body: { body: `n${i}` } });
    const two = await call<{ items: unknown[] }>(t.url, 'GET', '/timeline', { token, query: { limit: '2' } });
    expect(two.body.items).toHaveLength(2);
    // An empty cursor is no cursor: the first page.
    const first = await call(t.url, 'GET', '/timeline', { token, query: { limit: '2', cursor: '' } });
    expect(first.body).toEqual(two.body);
    for (const limit of ['abc', '0', '101', '1.5', '1e1', ' 2']) {
      const refused = await call(t.url, 'GET', '/timeline', { token, query: { limit } });
      expect(expectRestError(refused, 400, 'BAD_REQUEST').issues?.[0]?.path, `limit=${limit}`).toEqual(['limit']);
    }
    expectRestError(await call(t.url, 'GET', '/timeline', { token, query: { cursor: 'garbage' } }), 400, 'BAD_REQUEST');
    expectRestError(await call(t.url, 'GET', `${'/timeline'}?limit=1&limit=2`, { token }), 400, 'BAD_REQUEST');
  });

  it('what REST converts never changes what /trpc accepts', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    // Over REST first: a query's `limit` and a login's `refreshCookie` (a boolean) are used.
    await call(t.url, 'GET', '/timeline', { token: tokens.accessToken, query: { limit: '2' } });
    await call(t.url, 'POST', '/auth/login', {
      body: { username: user.username, password: PASSWORD, refreshCookie: false },
    });
    // Strings are still not numbers or booleans over /trpc ("false" would otherwise be true).
    const limit = await query(t.url, 'posts.timeline', { limit: '2' }, { token: tokens.accessToken });
    expect(limit.error?.data.code).toBe('BAD_REQUEST');
    const login = await mutate(t.url, 'auth.login', {
      username: user.username,
      password: PASSWORD,
      refreshCookie: 'false',
    });
    expect(login.error?.data.code).toBe('BAD_REQUEST');
  });

  it('401, 403, 404 and 409 with tRPC’s codes and messages', async () => {
    const alice = await signupAndLogin(t.url);
    const bob = await signupAndLogin(t.url);
    for (const token of [undefined, 'not-a-token']) {
      const overRest = expectRestError(await call(t.url, 'GET', '/timeline', { token }), 401, 'UNAUTHORIZED');
      expect(overRest.message).toBe((await query(t.url, 'posts.timeline', {}, { token })).error!.message);
    }
    const post = (
      await call<{ id: string }>(t.url, 'POST', '/posts', { token: alice.tokens.accessToken, body: { body: 'mine' } })
    ).body;
    const forbidden = expectRestError(
      await call(t.url, 'DELETE', `/posts/${post.id}`, { token: bob.tokens.accessToken }),
      403,
      'FORBIDDEN',
    );
    expect(forbidden.message).toBe(
      (await mutate(t.url, 'posts.delete', { id: post.id }, { token: bob.tokens.accessToken })).error!.message,
    );
    expectRestError(await call(t.url, 'GET', '/users/nobody_here'), 404, 'NOT_FOUND');
    expectRestError(await call(t.url, 'GET', '/posts/not-an-id'), 404, 'NOT_FOUND');
    const taken = await call(t.url, 'POST', '/auth/signup', {
      body: { username: alice.user.username, password: PASSWORD },
    });
    expect(expectRestError(taken, 409, 'CONFLICT').message).toBe('Username is already taken');
  });

  it('an unknown route is a 404, another method a 405 with Allow, in the same shape', async () => {
    expectRestError(await call(t.url, 'GET', '/nothing/here'), 404, 'NOT_FOUND');
    expectRestError(await call(t.url, 'GET', '/ME'), 404, 'NOT_FOUND');
    const wrongMethod = await call(t.url, 'PATCH', '/posts/x', { body: {} });
    expectRestError(wrongMethod, 405, 'METHOD_NOT_SUPPORTED');
    expect(wrongMethod.headers.get('allow')).toBe('GET, DELETE, HEAD');
    expectRestError(await call(t.url, 'GET', '/auth/login'), 405, 'METHOD_NOT_SUPPORTED');
    // A URL Fastify cannot decode, under /api: the REST shape too.
    expectRestError(await call(t.url, 'GET', '/users/%E0%A4%A'), 400, 'BAD_REQUEST');
  });

  it('JSON only: another content type is a 415; no body needs none; a bad body is a 400 or 413', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const token = tokens.accessToken;
    const send = (body: string, headers: Record<string, string>) =>
      fetch(`${t.url}/api/posts`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, ...headers } });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await send('{"body":"hi"}', { 'content-type': type });
      expectRestError(
        { status: response.status, body: await response.json(), headers: response.headers },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    }
    // A body without a content type is not taken for JSON either (fetch would call it text/plain).
    const untyped = await fetch(`${t.url}/api/posts`, {
      method: 'POST',
      body: new Blob(['{"body":"hi"}']),
      headers: { authorization: `Bearer ${token}` },
    });
    expect(untyped.status).toBe(415);
    const bad = await send('{"body":', { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ message: 'Malformed JSON input', code: 'BAD_REQUEST' });
    const array = await call(t.url, 'POST', '/posts', { token, body: [{ body: 'hi' }] });
    expectRestError(array, 400, 'BAD_REQUEST');
    const huge = await call(t.url, 'POST', '/posts', { token, body: { body: 'x'.repeat(1024 * 1024) } });
    expectRestError(huge, 413, 'PAYLOAD_TOO_LARGE');

    // A route whose input is all in its path: no body, with or without a JSON content type.
    const other = await signupAndLogin(t.url);
    const url = `${t.url}/api/users/${other.user.username}/follow`;
    for (const headers of [{}, { 'content-type': 'application/json' }]) {
      const response = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${token}`, ...headers } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ following: true });
    }
    expect(user.username).not.toBe(other.user.username);
  });

  it('Cache-Control: no-store and nosniff on every answer, success or error', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const answers = [
      await call(t.url, 'GET', '/me', { token: tokens.accessToken }),
      await call(t.url, 'POST', '/posts', { token: tokens.accessToken, body: { body: 'cached?' } }),
      await call(t.url, 'GET', '/me'),
      await call(t.url, 'GET', '/nothing'),
      await call(t.url, 'PUT', '/me', { body: {} }),
      await call(t.url, 'POST', '/posts', { body: 'x', headers: { 'content-type': 'text/plain' } }),
    ];
    for (const answer of answers) {
      expect(answer.headers.get('cache-control'), String(answer.status)).toBe('no-store');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    }
  });
});

describe('REST errors that are ours: nothing internal reaches the client', () => {
  const failing = mergeRouters(
    appRouter,
    router({
      broken: router({
        crash: publicProcedure
          .meta(rest('GET /broken/crash', { summary: 'Fails', access: 'public' }))
          .output(z.object({ ok: z.boolean() }))
          .query(() => {
            throw new Error('relation "secret_table" does not exist at /srv/warble/server/secret.ts:12');
          }),
        badOutput: publicProcedure
          .meta(rest('GET /broken/output', { summary: 'Answers the wrong shape', access: 'public' }))
          .output(z.object({ ok: z.boolean() }))
          .query(() => ({ ok: 'secret_value' }) as unknown as { ok: boolean }),
      }),
    }),
  );
  const t = useTestApp({ router: failing });

  it.each(['/broken/crash', '/broken/output'])('%s: 500 "Internal server error", and nothing else', async (path) => {
    const answer = await call(t.url, 'GET', path);
    expect(answer.body).toEqual({ message: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' });
    expect(answer.status).toBe(500);
    expect(answer.text).not.toMatch(/secret|srv|stack/i);
  });
});

describe('REST behind the same door as /trpc', () => {
  const PAGE = 'http://localhost:5173';
  const t = useTestApp({
    env: testEnv({ CORS_ORIGINS: PAGE, RATE_LIMIT_CALLS_PER_MINUTE: '3', TRUST_PROXY: '127.0.0.1' }),
  });
  const from = (address: string) => ({ 'x-forwarded-for': address });

  it('one budget for /api and /trpc together: the call over it is a 429 with Retry-After', async () => {
    const headers = from('203.0.113.7');
    expect((await call(t.url, 'GET', '/users/nobody_here', { headers })).status).toBe(404);
    expect((await query(t.url, 'users.profile', { username: 'nobody_here' }, { headers })).status).toBe(404);
    expect((await call(t.url, 'GET', '/users/nobody_here/posts', { headers })).status).toBe(404);
    const refused = await call(t.url, 'GET', '/users/nobody_here', { headers });
    const body = expectRestError(refused, 429, 'TOO_MANY_REQUESTS');
    expect(body.message).toBe('Too many requests; slow down');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('cache-control')).toBe('no-store');
    // Over /trpc too, in its own shape.
    const overTrpc = await query(t.url, 'users.profile', { username: 'nobody_here' }, { headers });
    expect(overTrpc.status).toBe(429);
    expect(overTrpc.error?.data.code).toBe('TOO_MANY_REQUESTS');
  });

  it('a listed origin’s preflight for PATCH /api/me: 204, with the methods and headers a page sends', async () => {
    const preflight = await fetch(`${t.url}/api/me`, {
      method: 'OPTIONS',
      headers: {
        origin: PAGE,
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization, content-type',
        ...from('203.0.113.8'),
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-methods')!.split(/,\s*/)).toEqual(
      expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    );
    expect(preflight.headers.get('access-control-allow-headers')!.split(/,\s*/)).toEqual(
      expect.arrayContaining(['authorization', 'content-type']),
    );
    expect(Number(preflight.headers.get('access-control-max-age'))).toBeGreaterThanOrEqual(600);

    const stranger = await fetch(`${t.url}/api/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PATCH', ...from('203.0.113.8') },
    });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();

    // The real call's answer (an error here) carries the header too, or the page could not read it.
    const answer = await call(t.url, 'PATCH', '/me', { body: {}, headers: { origin: PAGE, ...from('203.0.113.9') } });
    expectRestError(answer, 401, 'UNAUTHORIZED');
    expect(answer.headers.get('access-control-allow-origin')).toBe(PAGE);
  });
});
