import { describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signup, signupAndLogin, uniqueUsername } from './helpers/auth.ts';
import { mutate, query, type TrpcResult } from './helpers/trpc.ts';

/** Calls that claim to come from `address` through the (trusted) proxy in front of the app. */
const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });

/** A GET batch of `size` calls of one query, as httpBatchLink sends it. */
function batch(url: string, path: string, input: unknown, size: number, headers: Record<string, string> = {}) {
  const paths = Array.from({ length: size }, () => path).join(',');
  const inputs = Object.fromEntries(Array.from({ length: size }, (_, i) => [i, input]));
  return fetch(`${url}/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(inputs))}`, { headers });
}

function expectRetryLater(result: TrpcResult<unknown>, status: number, code: string) {
  expect(result.status).toBe(status);
  expect(result.error?.data.code).toBe(code);
  const retryAfter = Number(result.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect((result.error?.data as { retryAfter?: number }).retryAfter).toBe(retryAfter);
}

describe('calls per minute (RATE_LIMIT_CALLS_PER_MINUTE)', () => {
  const t = useTestApp({ env: testEnv({ RATE_LIMIT_CALLS_PER_MINUTE: '20', TRUST_PROXY: '127.0.0.1' }) });

  it('counts every call of a batch, then answers TOO_MANY_REQUESTS with Retry-After, in tRPC’s shape', async () => {
    const client = from('203.0.113.10').headers;
    expect((await batch(t.url, 'users.profile', { username: 'nobody_here' }, 15, client)).status).toBe(404);
    const over = await batch(t.url, 'users.profile', { username: 'nobody_here' }, 6, client);
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await over.json()).toMatchObject({
      error: { data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, retryAfter } },
    });
    // What was left (5 calls) is still there: the refused batch was not served in part.
    expect((await batch(t.url, 'users.profile', { username: 'nobody_here' }, 5, client)).status).toBe(429);
  });

  it('refuses a streamed (jsonl) batch with a real 429 and Retry-After, not an error inside a 200', async () => {
    const client = { ...from('203.0.113.11').headers, 'trpc-accept': 'application/jsonl' };
    await batch(t.url, 'users.profile', { username: 'nobody_here' }, 20, client);
    const over = await batch(t.url, 'users.profile', { username: 'nobody_here' }, 1, client);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('keeps one budget per address: another address is still served', async () => {
    for (let i = 0; i < 20; i++) await query(t.url, 'users.profile', { username: 'nobody_here' }, from('203.0.113.12'));
    expectRetryLater(
      await query(t.url, 'users.profile', { username: 'nobody_here' }, from('203.0.113.12')),
      429,
      'TOO_MANY_REQUESTS',
    );
    expect((await query(t.url, 'users.profile', { username: 'nobody_here' }, from('203.0.113.13'))).status).toBe(404);
  });

  it('counts a signed-in user apart from its address, and users apart from each other', async () => {
    const address = from('203.0.113.14');
    const { tokens: ada } = await signupAndLogin(t.url, address);
    const { tokens: bob } = await signupAndLogin(t.url, address);
    // The address spends the rest of its budget (2 logins + 18) anonymously...
    for (let i = 0; i < 18; i++) await query(t.url, 'users.profile', { username: 'nobody_here' }, address);
    expect((await query(t.url, 'users.profile', { username: 'nobody_here' }, address)).status).toBe(429);
    // ...its users keep theirs,
    const asAda = { ...address, token: ada.accessToken };
    for (let i = 0; i < 20; i++) expect((await query(t.url, 'auth.me', undefined, asAda)).status).toBe(200);
    // until they spend it, each their own.
    expectRetryLater(await query(t.url, 'auth.me', undefined, asAda), 429, 'TOO_MANY_REQUESTS');
    expect((await query(t.url, 'auth.me', undefined, { ...address, token: bob.accessToken })).status).toBe(200);
  });

  it('counts a forged or expired token against the address, not against the user it names', async () => {
    const address = from('203.0.113.15');
    const { tokens: victim } = await signupAndLogin(t.url, from('203.0.113.16'));
    const forged = `${victim.accessToken.slice(0, -4)}AAAA`;
    for (let i = 0; i < 20; i++) await query(t.url, 'auth.me', undefined, { ...address, token: forged });
    expect((await query(t.url, 'auth.me', undefined, { ...address, token: forged })).status).toBe(429);
    expect((await query(t.url, 'auth.me', undefined, { token: victim.accessToken })).status).toBe(200);
  });
});

describe('signups per address (SIGNUP_MAX_PER_ADDRESS, SIGNUP_WINDOW_SECONDS)', () => {
  const limits = { SIGNUP_MAX_PER_ADDRESS: '3', SIGNUP_WINDOW_SECONDS: '600', TRUST_PROXY: '127.0.0.1' };
  const t = useTestApp({ env: testEnv(limits) });

  const signupFrom = (url: string, address: string) =>
    mutate(url, 'auth.signup', { username: uniqueUsername(), password: PASSWORD }, from(address));

  it('refuses the signup after the limit with TOO_MANY_REQUESTS and Retry-After; other addresses may sign up', async () => {
    for (let i = 0; i < 3; i++) expect((await signupFrom(t.url, '198.51.100.20')).status).toBe(200);
    const refused = await signupFrom(t.url, '198.51.100.20');
    expectRetryLater(refused, 429, 'TOO_MANY_REQUESTS');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(500);
    expect((await signupFrom(t.url, '198.51.100.21')).status).toBe(200);
  });

  it('counts an IPv6 client by its /64', async () => {
    for (let i = 1; i <= 3; i++) expect((await signupFrom(t.url, `2001:db8:1:2::${i}`)).status).toBe(200);
    expect((await signupFrom(t.url, '2001:db8:1:2:ffff::9')).status).toBe(429);
    expect((await signupFrom(t.url, '2001:db8:1:3::1')).status).toBe(200);
  });

  it('holds across server processes sharing the database', async () => {
    const other = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ ...limits, JWT_SECRET: t.env.JWT_SECRET! }),
    });
    try {
      expect((await signupFrom(t.url, '198.51.100.22')).status).toBe(200);
      expect((await signupFrom(other.url, '198.51.100.22')).status).toBe(200);
      expect((await signupFrom(t.url, '198.51.100.22')).status).toBe(200);
      expect((await signupFrom(other.url, '198.51.100.22')).status).toBe(429);
    } finally {
      await other.close();
    }
  });
});

describe('posts per user (POSTS_PER_HOUR)', () => {
  const t = useTestApp({ env: testEnv({ POSTS_PER_HOUR: '3' }) });
  const post = (url: string, token: string, headers: Record<string, string> = {}) =>
    mutate(url, 'posts.create', { body: 'hello' }, { token, headers });

  it('refuses the post after the limit with TOO_MANY_REQUESTS and Retry-After; other users may post', async () => {
    const { tokens: ada } = await signupAndLogin(t.url);
    for (let i = 0; i < 3; i++) expect((await post(t.url, ada.accessToken)).status).toBe(200);
    const refused = await post(t.url, ada.accessToken);
    expectRetryLater(refused, 429, 'TOO_MANY_REQUESTS');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);
    const { tokens: bob } = await signupAndLogin(t.url);
    expect((await post(t.url, bob.accessToken)).status).toBe(200);
  });

  it('carries retryAfter inside a streamed (jsonl) answer, whose status and headers were already sent', async () => {
    const { tokens: ada } = await signupAndLogin(t.url);
    for (let i = 0; i < 3; i++) await post(t.url, ada.accessToken);
    const response = await fetch(`${t.url}/trpc/posts.create?batch=1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'trpc-accept': 'application/jsonl',
        authorization: `Bearer ${ada.accessToken}`,
      },
      body: JSON.stringify({ 0: { body: 'one too many' } }),
    });
    const text = await response.text();
    expect(text).toContain('TOO_MANY_REQUESTS');
    expect(text).toMatch(/"retryAfter":\d+/);
  });

  it('holds across server processes sharing the database', async () => {
    const other = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ POSTS_PER_HOUR: '3', JWT_SECRET: t.env.JWT_SECRET! }),
    });
    try {
      const { tokens: ada } = await signupAndLogin(t.url);
      expect((await post(t.url, ada.accessToken)).status).toBe(200);
      expect((await post(other.url, ada.accessToken)).status).toBe(200);
      expect((await post(t.url, ada.accessToken)).status).toBe(200);
      expect((await post(other.url, ada.accessToken)).status).toBe(429);
    } finally {
      await other.close();
    }
  });
});

describe('login limits under concurrency (LOGIN_MAX_FAILURES)', () => {
  const t = useTestApp({ env: testEnv({ LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' }) });

  it('lets at most LOGIN_MAX_FAILURES of 30 parallel wrong guesses reach the password check', async () => {
    const user = await signup(t.url);
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        mutate(t.url, 'auth.login', { username: user.username, password: 'wrong guess' }),
      ),
    );
    const statuses = results.map((result) => result.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(25);
  });

  it('still lets 12 devices of one user log in together with the right password', async () => {
    const user = await signup(t.url);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => mutate(t.url, 'auth.login', { username: user.username, password: PASSWORD })),
    );
    expect(results.map((result) => result.status)).toEqual(Array(12).fill(200));
  });
});
