// The refresh token in an httpOnly cookie (contract: Browsers): what a browser is told to keep, how
// refresh and logout use it, and the walls against cross-site forgery.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signup } from './helpers/auth.ts';
import { sessionIdOf, sessionRow, sql } from './helpers/sessions.ts';
import { mutate, query, type CallOptions } from './helpers/trpc.ts';

const PAGE = 'http://localhost:5173';
const GRACE_SECONDS = 1;

interface CookiePair {
  accessToken: string;
  refreshToken: string | null;
}

/** The `warble_refresh` cookie a response sets: its value and attributes, or undefined. */
function refreshCookieIn(headers: Headers) {
  const line = headers.getSetCookie().find((cookie) => cookie.startsWith('warble_refresh='));
  if (!line) return undefined;
  const [pair = '', ...parts] = line.split(';').map((part) => part.trim());
  const attributes = new Map(
    parts.map((part) => {
      const [name = '', value = ''] = part.split('=');
      return [name.toLowerCase(), value] as const;
    }),
  );
  return { value: pair.slice('warble_refresh='.length), attributes, line };
}

const withCookie = (value: string, options: CallOptions = {}): CallOptions => ({
  ...options,
  headers: { ...options.headers, cookie: `warble_refresh=${value}` },
});

describe('the refresh cookie', () => {
  const t = useTestApp({
    env: testEnv({ CORS_ORIGINS: PAGE, REFRESH_REUSE_GRACE_SECONDS: String(GRACE_SECONDS) }),
  });

  async function cookieLogin(options: CallOptions = {}) {
    const user = await signup(t.url);
    const answer = await mutate<CookiePair>(
      t.url,
      'auth.login',
      { username: user.username, password: PASSWORD, refreshCookie: true },
      options,
    );
    expect(answer.status).toBe(200);
    const cookie = refreshCookieIn(answer.headers);
    expect(cookie).toBeDefined();
    return { user, pair: answer.data!, cookie: cookie!, text: answer.text };
  }

  const refreshWith = (cookie: string, options: CallOptions = {}) =>
    mutate<CookiePair>(t.url, 'auth.refresh', {}, withCookie(cookie, options));

  it('login with refreshCookie: the answer holds no refresh token; the cookie is HttpOnly, SameSite=Strict, Path=/, Secure, for the session’s lifetime', async () => {
    const { pair, cookie, text } = await cookieLogin();
    expect(pair.refreshToken).toBeNull();
    expect(pair.accessToken).toEqual(expect.any(String));
    expect(text).not.toContain(cookie.value);
    expect(cookie.value.length).toBeGreaterThanOrEqual(43);
    expect(cookie.attributes.has('httponly')).toBe(true);
    expect(cookie.attributes.get('samesite')?.toLowerCase()).toBe('strict');
    expect(cookie.attributes.get('path')).toBe('/');
    // This server runs as production: Secure even on plain HTTP.
    expect(cookie.attributes.has('secure')).toBe(true);
    expect(cookie.attributes.has('domain')).toBe(false);
    const maxAge = Number(cookie.attributes.get('max-age'));
    expect(maxAge).toBeGreaterThan(t.env.REFRESH_TOKEN_TTL - 60);
    expect(maxAge).toBeLessThanOrEqual(t.env.REFRESH_TOKEN_TTL);
    // Only its hash is stored.
    const hash = createHash('sha256').update(cookie.value).digest('hex');
    expect(await sql(t.db.url, 'select 1 from refresh_tokens where token_hash = $1', [hash])).toHaveLength(1);
  });

  it('refresh without a token uses the cookie and rotates it; the lifetime stays absolute', async () => {
    const { user, pair, cookie } = await cookieLogin();
    await sleep(1100);
    const answer = await refreshWith(cookie.value);
    expect(answer.status).toBe(200);
    expect(answer.data).toMatchObject({ refreshToken: null, user: { id: user.id } });
    expect(sessionIdOf(answer.data!.accessToken)).toBe(sessionIdOf(pair.accessToken));
    const next = refreshCookieIn(answer.headers)!;
    expect(next.value).not.toBe(cookie.value);
    expect(Number(next.attributes.get('max-age'))).toBeLessThan(Number(cookie.attributes.get('max-age')));
    // The new one works; the access token it came with too.
    expect((await refreshWith(next.value)).status).toBe(200);
    expect((await query(t.url, 'auth.me', undefined, { token: answer.data!.accessToken })).status).toBe(200);
  });

  it('a retry within the grace period gets the same successor; a reuse after it revokes the session and clears the cookie', async () => {
    const { pair, cookie } = await cookieLogin();
    const [first, second] = await Promise.all([refreshWith(cookie.value), refreshWith(cookie.value)]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(refreshCookieIn(second.headers)!.value).toBe(refreshCookieIn(first.headers)!.value);

    await sleep(GRACE_SECONDS * 1000 + 200);
    const reuse = await refreshWith(cookie.value);
    expect(reuse.status).toBe(401);
    const cleared = refreshCookieIn(reuse.headers)!;
    expect(cleared.value).toBe('');
    expect(cleared.attributes.get('max-age') ?? '0').toBe('0');
    expect((await sessionRow(t.db.url, sessionIdOf(pair.accessToken)))?.revoked_at).toEqual(expect.any(Date));
    expect((await refreshWith(refreshCookieIn(first.headers)!.value)).status).toBe(401);
  });

  it('refresh with neither a token nor a cookie is UNAUTHORIZED', async () => {
    const answer = await mutate(t.url, 'auth.refresh', {});
    expect(answer.status).toBe(401);
    expect(answer.error?.data.code).toBe('UNAUTHORIZED');
  });

  it('a token in the body can move into the cookie (refreshCookie: true on refresh)', async () => {
    const user = await signup(t.url);
    const login = await mutate<CookiePair>(t.url, 'auth.login', { username: user.username, password: PASSWORD });
    expect(login.data!.refreshToken).toEqual(expect.any(String));
    const moved = await mutate<CookiePair>(t.url, 'auth.refresh', {
      refreshToken: login.data!.refreshToken,
      refreshCookie: true,
    });
    expect(moved.data!.refreshToken).toBeNull();
    expect((await refreshWith(refreshCookieIn(moved.headers)!.value)).status).toBe(200);
  });

  it('logout without a token revokes the cookie’s session and clears the cookie', async () => {
    const { pair, cookie } = await cookieLogin();
    const answer = await mutate(t.url, 'auth.logout', {}, withCookie(cookie.value));
    expect(answer.status).toBe(200);
    expect(answer.data).toEqual({ ok: true });
    expect(refreshCookieIn(answer.headers)!.value).toBe('');
    expect((await refreshWith(cookie.value)).status).toBe(401);
    expect((await query(t.url, 'auth.me', undefined, { token: pair.accessToken })).status).toBe(401);
    // Nothing to log out is still fine.
    expect((await mutate(t.url, 'auth.logout', {})).data).toEqual({ ok: true });
  });

  it('logoutAll clears the cookie too', async () => {
    const { pair, cookie } = await cookieLogin();
    const answer = await mutate(
      t.url,
      'auth.logoutAll',
      undefined,
      withCookie(cookie.value, { token: pair.accessToken }),
    );
    expect(answer.status).toBe(200);
    expect(refreshCookieIn(answer.headers)!.value).toBe('');
  });

  it('authorises nothing but refresh and logout', async () => {
    const { cookie } = await cookieLogin();
    const me = await query(t.url, 'auth.me', undefined, withCookie(cookie.value));
    expect(me.status).toBe(401);
    const post = await mutate(t.url, 'posts.create', { body: 'forged?' }, withCookie(cookie.value));
    expect(post.status).toBe(401);
  });

  describe('cross-site forgery', () => {
    it('refuses a cookie call from a foreign Origin with FORBIDDEN, and the cookie keeps working', async () => {
      const { cookie } = await cookieLogin();
      for (const origin of ['https://evil.example', 'http://localhost:5174', 'null']) {
        const refresh = await refreshWith(cookie.value, { headers: { origin } });
        expect(refresh.status, origin).toBe(403);
        expect(refresh.error?.data.code).toBe('FORBIDDEN');
        expect(refreshCookieIn(refresh.headers)).toBeUndefined();
        const logout = await mutate(t.url, 'auth.logout', {}, withCookie(cookie.value, { headers: { origin } }));
        expect(logout.status, origin).toBe(403);
      }
      const login = await mutate(
        t.url,
        'auth.login',
        { username: 'whoever', password: PASSWORD, refreshCookie: true },
        { headers: { origin: 'https://evil.example' } },
      );
      expect(login.status).toBe(403);
      expect((await refreshWith(cookie.value)).status).toBe(200);
    });

    it('accepts a listed origin, the API’s own origin and no Origin at all (curl)', async () => {
      let { cookie } = await cookieLogin();
      for (const origin of [PAGE, t.url, undefined]) {
        const answer = await refreshWith(cookie.value, { headers: origin ? { origin } : {} });
        expect(answer.status, origin).toBe(200);
        cookie = refreshCookieIn(answer.headers)!;
      }
    });

    it('cannot be reached by a form post or a GET, which need no preflight', async () => {
      const { cookie } = await cookieLogin();
      for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
        const response = await fetch(`${t.url}/trpc/auth.refresh`, {
          method: 'POST',
          headers: { 'content-type': type, cookie: `warble_refresh=${cookie.value}`, origin: 'https://evil.example' },
          body: '{}',
        });
        expect(response.status, type).toBe(415);
        expect(refreshCookieIn(response.headers)).toBeUndefined();
      }
      const get = await query(t.url, 'auth.refresh', {}, withCookie(cookie.value));
      expect(get.status).toBe(405);
      expect((await refreshWith(cookie.value)).status).toBe(200);
    });
  });

  it('refuses cookie mode in a streamed batch, before creating a session', async () => {
    const user = await signup(t.url);
    const response = await fetch(`${t.url}/trpc/auth.login?batch=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'trpc-accept': 'application/jsonl' },
      body: JSON.stringify({ 0: { username: user.username, password: PASSWORD, refreshCookie: true } }),
    });
    const text = await response.text();
    expect(text).toContain('BAD_REQUEST');
    expect(text).toContain('non-streamed');
    expect(refreshCookieIn(response.headers)).toBeUndefined();
    expect(await sql(t.db.url, 'select 1 from sessions where user_id = $1', [user.id])).toHaveLength(0);
  });
});

describe('the refresh cookie outside production', () => {
  // NODE_ENV unset: development conveniences.
  const t = useTestApp({ env: testEnv({ NODE_ENV: '' }) });

  async function cookieFor(host: string) {
    const user = await signup(t.url);
    const response = await t.app.inject({
      method: 'POST',
      url: '/trpc/auth.login',
      headers: {
        host,
        'content-type': 'application/json',
      },
      payload: { username: user.username, password: PASSWORD, refreshCookie: true },
    });
    expect(response.statusCode).toBe(200);
    const line = [response.headers['set-cookie']].flat().find((cookie) => cookie?.startsWith('warble_refresh='));
    expect(line).toBeDefined();
    return line!;
  }

  it('leaves out Secure on plain HTTP to localhost, and only there', async () => {
    for (const host of ['localhost:3000', '127.0.0.1:3000']) expect(await cookieFor(host)).not.toMatch(/;\s*Secure/i);
    expect(await cookieFor('api.example.com')).toMatch(/;\s*Secure/i);
  });
});
