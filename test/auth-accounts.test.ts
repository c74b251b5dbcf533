import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadKeys } from '../server/auth/keys.ts';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signup, uniqueUsername, type TokenPair } from './helpers/auth.ts';
import { mutate, query } from './helpers/trpc.ts';

describe('auth.signup', () => {
  const t = useTestApp();

  it('creates a user and returns its public fields only', async () => {
    const username = uniqueUsername('Ada');
    const result = await mutate<Record<string, unknown>>(t.url, 'auth.signup', { username, password: PASSWORD });
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ id: expect.any(String), username, createdAt: expect.any(String) });
    expect(new Date(result.data!.createdAt as string).toISOString()).toBe(result.data!.createdAt);
  });

  it.each([
    ['too short', 'ab'],
    ['too long', 'a'.repeat(33)],
    ['a space', 'ada lovelace'],
    ['a hyphen', 'ada-l'],
    ['non-ASCII letters', 'adà_1'],
  ])('refuses a username with %s as BAD_REQUEST with a field issue', async (_case, username) => {
    const result = await mutate(t.url, 'auth.signup', { username, password: PASSWORD });
    expect(result.status).toBe(400);
    expect(result.error?.data.zodError?.fieldErrors.username).toHaveLength(1);
  });

  it('counts the password in UTF-8 bytes: 8 to 72, never truncated', async () => {
    const attempt = (password: string) => mutate(t.url, 'auth.signup', { username: uniqueUsername(), password });
    expect((await attempt('a'.repeat(7))).status).toBe(400);
    expect((await attempt('a'.repeat(8))).status).toBe(200);
    expect((await attempt('a'.repeat(72))).status).toBe(200);
    const tooLong = await attempt('a'.repeat(73));
    expect(tooLong.status).toBe(400);
    expect(tooLong.error?.data.zodError?.fieldErrors.password?.[0]).toMatch(/72 bytes/);
    // 36 × "é" is 72 bytes, 37 × "é" is 74 bytes though only 37 characters.
    expect((await attempt('é'.repeat(36))).status).toBe(200);
    expect((await attempt('é'.repeat(37))).status).toBe(400);
  });

  it('lets a password of 72 bytes log in only when all 72 match', async () => {
    const user = await signup(t.url, uniqueUsername(), 'x'.repeat(71) + 'a');
    expect(
      (await mutate(t.url, 'auth.login', { username: user.username, password: 'x'.repeat(71) + 'b' })).status,
    ).toBe(401);
    expect(
      (await mutate(t.url, 'auth.login', { username: user.username, password: 'x'.repeat(71) + 'a' })).status,
    ).toBe(200);
    // Not cut at 72: a longer password is refused instead of matching on its first 72 bytes.
    expect(
      (await mutate(t.url, 'auth.login', { username: user.username, password: 'x'.repeat(71) + 'a!' })).status,
    ).toBe(400);
  });

  it('refuses a NUL character in a password (bcrypt would stop reading there)', async () => {
    const result = await mutate(t.url, 'auth.signup', { username: uniqueUsername(), password: 'secret\u0000anything' });
    expect(result.status).toBe(400);
    expect(result.error?.data.zodError?.fieldErrors.password).toHaveLength(1);
  });

  it('treats the composed and decomposed forms of a character as the same password', async () => {
    const composed = 'caf\u00e9 au lait';
    const decomposed = 'cafe\u0301 au lait';
    const user = await signup(t.url, uniqueUsername(), decomposed);
    expect((await mutate(t.url, 'auth.login', { username: user.username, password: composed })).status).toBe(200);
  });

  it('keeps usernames unique case-insensitively: CONFLICT without internals', async () => {
    const username = uniqueUsername('Grace');
    await signup(t.url, username);
    const again = await mutate(t.url, 'auth.signup', { username: username.toUpperCase(), password: PASSWORD });
    expect(again.status).toBe(409);
    expect(again.error?.data.code).toBe('CONFLICT');
    expect(again.text).not.toMatch(/users_username|duplicate key|constraint/i);
  });

  it('gives concurrent signups of one name one success and CONFLICT for the rest, never a 500', async () => {
    const username = uniqueUsername('race');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        mutate(t.url, 'auth.signup', { username: i % 2 ? username : username.toUpperCase(), password: PASSWORD }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, ...Array<number>(9).fill(409)]);
  });

  it('stores a bcrypt hash, never the password', async () => {
    const user = await signup(t.url);
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    const { rows } = await client.query<{ password_hash: string }>('select * from users where id = $1', [user.id]);
    await client.end();
    expect(rows[0]?.password_hash).toMatch(/^\$2b\$04\$/);
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
  });
});

describe('auth.login', () => {
  const t = useTestApp();

  it('returns a token pair and the user, whatever the case of the username', async () => {
    const user = await signup(t.url, uniqueUsername('Case'));
    const result = await mutate<TokenPair>(t.url, 'auth.login', {
      username: user.username.toLowerCase(),
      password: PASSWORD,
    });
    expect(result.data).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
      user: { id: user.id, username: user.username },
    });
    // The refresh token is opaque and carries at least 256 bits.
    expect(Buffer.from(result.data!.refreshToken, 'base64url').length).toBeGreaterThanOrEqual(32);
    const me = await query(t.url, 'auth.me', undefined, { token: result.data!.accessToken });
    expect(me.data).toEqual({
      id: user.id,
      username: user.username,
      // A new account says nothing about itself yet.
      displayName: null,
      bio: '',
      createdAt: user.createdAt,
      followersCount: 0,
      followingCount: 0,
      postsCount: 0,
      followedByMe: false,
    });
  });

  it('answers an unknown user and a wrong password with the same UNAUTHORIZED', async () => {
    const user = await signup(t.url);
    const wrong = await mutate(t.url, 'auth.login', { username: user.username, password: 'not the password' });
    const unknown = await mutate(t.url, 'auth.login', { username: uniqueUsername(), password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.error).toEqual({ ...wrong.error, data: { ...wrong.error!.data } });
  });

  it('refuses protected procedures without a token', async () => {
    const me = await query(t.url, 'auth.me');
    expect(me.status).toBe(401);
    expect(me.error?.data.code).toBe('UNAUTHORIZED');
  });
});

describe('login limits', () => {
  const limits = { LOGIN_MAX_FAILURES: '3', LOGIN_WINDOW_SECONDS: '2', LOGIN_MAX_FAILURES_PER_ADDRESS: '100' };
  const t = useTestApp({ env: testEnv(limits) });

  const attempt = (username: string, password: string, headers?: Record<string, string>) =>
    mutate(t.url, 'auth.login', { username, password }, { headers });

  it('refuses even the right password after too many failures, with Retry-After, until the window passes', async () => {
    const user = await signup(t.url);
    for (let i = 0; i < 3; i++) expect((await attempt(user.username, 'wrong password')).status).toBe(401);
    const locked = await attempt(user.username.toUpperCase(), PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.error?.data.code).toBe('TOO_MANY_REQUESTS');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await sleep(2100);
    expect((await attempt(user.username, PASSWORD)).status).toBe(200);
  });

  it('starts the count over after a successful login', async () => {
    const user = await signup(t.url);
    for (let i = 0; i < 2; i++) await attempt(user.username, 'wrong password');
    expect((await attempt(user.username, PASSWORD)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await attempt(user.username, 'wrong password')).status).toBe(401);
    expect((await attempt(user.username, PASSWORD)).status).toBe(200);
  });

  it('lets many devices of one user log in at the same moment', async () => {
    const user = await signup(t.url);
    const results = await Promise.all(Array.from({ length: 12 }, () => attempt(user.username, PASSWORD)));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
  });

  it('locks the username after a parallel burst of wrong guesses', async () => {
    const user = await signup(t.url);
    const results = await Promise.all(Array.from({ length: 12 }, () => attempt(user.username, 'wrong password')));
    expect(results.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    expect((await attempt(user.username, PASSWORD)).status).toBe(429);
  });

  it('holds across server processes sharing the database', async () => {
    const other = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ ...limits, JWT_SECRET: t.env.JWT_SECRET! }),
    });
    try {
      const user = await signup(t.url);
      await attempt(user.username, 'wrong password');
      await mutate(other.url, 'auth.login', { username: user.username, password: 'wrong password' });
      await attempt(user.username, 'wrong password');
      const locked = await mutate(other.url, 'auth.login', { username: user.username, password: PASSWORD });
      expect(locked.status).toBe(429);
    } finally {
      await other.close();
    }
  });
});

/** A login attempt that claims to come from `address` through a proxy. */
const loginFrom = (url: string, address: string, username: string, password: string) =>
  mutate(url, 'auth.login', { username, password }, { headers: { 'x-forwarded-for': address } });

describe('login limits per client address', () => {
  const t = useTestApp({
    env: testEnv({ LOGIN_MAX_FAILURES: '50', LOGIN_MAX_FAILURES_PER_ADDRESS: '4', TRUST_PROXY: '127.0.0.1' }),
  });

  it('counts failures across usernames per address; X-Forwarded-For is believed only from a trusted proxy', async () => {
    const user = await signup(t.url);
    for (let i = 0; i < 4; i++) {
      expect((await loginFrom(t.url, '203.0.113.7', uniqueUsername(), 'wrong password')).status).toBe(401);
    }
    expect((await loginFrom(t.url, '203.0.113.7', user.username, PASSWORD)).status).toBe(429);
    expect((await loginFrom(t.url, '198.51.100.9', user.username, PASSWORD)).status).toBe(200);
  });

  it('sheds a parallel flood from one address at the limit, before any password is checked', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, () => loginFrom(t.url, '192.0.2.44', uniqueUsername(), 'wrong password')),
    );
    expect(results.filter((r) => r.status === 401)).toHaveLength(4);
    expect(results.filter((r) => r.status === 429)).toHaveLength(8);
  });
});

describe('login limits per client address, without a trusted proxy', () => {
  const t = useTestApp({ env: testEnv({ LOGIN_MAX_FAILURES: '50', LOGIN_MAX_FAILURES_PER_ADDRESS: '3' }) });

  it('ignores X-Forwarded-For: a client cannot escape its count by claiming other addresses', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await loginFrom(t.url, `203.0.113.${i}`, uniqueUsername(), 'wrong password')).status).toBe(401);
    }
    expect((await loginFrom(t.url, '198.51.100.9', uniqueUsername(), 'wrong password')).status).toBe(429);
  });
});

describe('password hashes', () => {
  const t = useTestApp();

  it('are redone at the configured cost at the next successful login', async () => {
    const user = await signup(t.url);
    const stronger = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ BCRYPT_COST: '5', JWT_SECRET: t.env.JWT_SECRET! }),
    });
    try {
      expect((await mutate(stronger.url, 'auth.login', { username: user.username, password: PASSWORD })).status).toBe(
        200,
      );
    } finally {
      await stronger.close();
    }
    const client = new pg.Client({ connectionString: t.db.url });
    await client.connect();
    const { rows } = await client.query<{ password_hash: string }>('select password_hash from users where id = $1', [
      user.id,
    ]);
    await client.end();
    expect(rows[0]?.password_hash).toMatch(/^\$2b\$05\$/);
    expect((await mutate(t.url, 'auth.login', { username: user.username, password: PASSWORD })).status).toBe(200);
  });
});

describe('signing keys in development', () => {
  it('generates a secret once, keeps it under DATA_DIR (mode 0600), and reuses it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'warble-keys-'));
    try {
      const env = testEnv({ NODE_ENV: 'development', JWT_SECRET: '', DATA_DIR: dataDir });
      const first = await loadKeys(env);
      const second = await loadKeys(env);
      expect(first.signing?.key.export()).toEqual(second.signing?.key.export());
      expect((await stat(path.join(dataDir, 'jwt-secret'))).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
