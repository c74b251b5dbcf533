// CORS as a browser meets it (contract: Browsers): preflights from listed origins answered before
// the /trpc method check, nothing at all for other origins, and the headers on real answers —
// errors included, or the page would see "Failed to fetch" instead of a 401 or a 429.
import { describe, expect, it } from 'vitest';
import { PREFLIGHT_MAX_AGE_SECONDS } from '../server/http/cors.ts';
import { parseEnv } from '../server/env.ts';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { mutate, query } from './helpers/trpc.ts';

const PAGE = 'http://localhost:5173';
const OTHER_PAGE = 'https://app.example.com';
const STRANGER = 'https://evil.example';

function preflight(url: string, origin: string, method = 'POST', headers = 'content-type, authorization') {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

const corsHeaders = (response: Response) =>
  [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));

describe('CORS', () => {
  // A budget of 3 calls a minute per address; each test part calls from an address of its own.
  const t = useTestApp({
    env: testEnv({
      CORS_ORIGINS: `${PAGE}, ${OTHER_PAGE}`,
      RATE_LIMIT_CALLS_PER_MINUTE: '3',
      TRUST_PROXY: '127.0.0.1',
    }),
  });
  const from = (address: string, origin = PAGE) => ({ headers: { origin, 'x-forwarded-for': address } });

  it('answers a listed origin’s preflight for a mutation with 204 and everything a page sends', async () => {
    const response = await preflight(`${t.url}/trpc/auth.login`, PAGE);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
    const allowed = response.headers.get('access-control-allow-headers')!.split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'trpc-accept', 'last-event-id']));
    expect(Number(response.headers.get('access-control-max-age'))).toBeGreaterThanOrEqual(600);
    expect(Number(response.headers.get('access-control-max-age'))).toBe(PREFLIGHT_MAX_AGE_SECONDS);
    // Caches must not hand one origin's answer to another.
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  it('answers every listed origin with its own name, for batches and queries too', async () => {
    const batch = await preflight(`${t.url}/trpc/posts.byId,users.profile?batch=1`, OTHER_PAGE, 'GET');
    expect(batch.status).toBe(204);
    expect(batch.headers.get('access-control-allow-origin')).toBe(OTHER_PAGE);
  });

  it('allows PUT, PATCH and DELETE on /api', async () => {
    const response = await preflight(`${t.url}/api/users/ada/follow`, PAGE, 'PUT');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, PATCH, DELETE');
  });

  it('gives an unlisted origin no CORS header at all, and its preflight is refused', async () => {
    const response = await preflight(`${t.url}/trpc/auth.login`, STRANGER);
    expect(corsHeaders(response)).toEqual([]);
    expect(response.status).toBe(405);
    const answer = await mutate(t.url, 'auth.signup', { username: 'x', password: 'y' }, from('10.0.0.9', STRANGER));
    expect(corsHeaders(new Response(null, { headers: answer.headers }))).toEqual([]);
  });

  it('treats an origin that differs only in scheme, port or case of path as unlisted', async () => {
    for (const origin of ['https://localhost:5173', 'http://localhost:5174', 'http://localhost:5173/']) {
      const response = await preflight(`${t.url}/trpc/auth.login`, origin);
      expect(response.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  it('puts the headers on answers and on errors, and lets the page read Retry-After', async () => {
    const { tokens } = await signupAndLogin(t.url, from('10.0.0.1'));
    const ok = await query(t.url, 'auth.me', undefined, { token: tokens.accessToken, ...from('10.0.0.1') });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/retry-after/);

    const unauthorized = await query(t.url, 'auth.me', undefined, from('10.0.0.2'));
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(PAGE);

    // The budget is 3 calls a minute: the fourth call from one address is refused.
    let limited;
    for (let call = 0; call < 5 && limited?.status !== 429; call++) {
      limited = await query(t.url, 'posts.byId', { id: 'x' }, from('10.0.0.3'));
    }
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited?.headers.get('access-control-allow-origin')).toBe(PAGE);
  });

  it('has no CORS at all when CORS_ORIGINS is unset', async () => {
    const plain = await startTestApp({ databaseUrl: t.db.url });
    try {
      const response = await preflight(`${plain.url}/trpc/auth.login`, PAGE);
      expect(response.status).toBe(405);
      expect(corsHeaders(response)).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});

describe('CORS_ORIGINS', () => {
  it.each([
    ['*', /not an origin/],
    ['http://localhost:5173/', /not an origin/],
    ['localhost:5173', /not an origin/],
    ['https://app.example.com/path', /not an origin/],
  ])('refuses %s with a clear message', (value, message) => {
    const result = parseEnv({ CORS_ORIGINS: value });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.join('\n')).toMatch(message);
  });

  it('takes a comma-separated list, spaces allowed', () => {
    const result = parseEnv({ CORS_ORIGINS: 'http://localhost:5173 , https://app.example.com' });
    expect(result.ok && result.env.CORS_ORIGINS).toEqual(['http://localhost:5173', 'https://app.example.com']);
  });
});
