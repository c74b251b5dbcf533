import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { login, PASSWORD, signup, signupAndLogin } from './helpers/auth.ts';
import {
  expectUnauthorized,
  me,
  refresh,
  refreshed,
  refreshTokensOf,
  sessionIdOf,
  sessionRow,
  sql,
} from './helpers/sessions.ts';

describe('auth.refresh', () => {
  const t = useTestApp();

  it('spends the token and returns a new pair; the old access token keeps working and the new refresh token rotates in turn', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const first = await refresh(t.url, tokens.refreshToken);
    expect(first.status).toBe(200);
    expect(first.data).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: t.env.ACCESS_TOKEN_TTL,
      user: { id: user.id, username: user.username },
    });
    const pair = first.data!;
    expect(pair.refreshToken).not.toBe(tokens.refreshToken);
    expect(Buffer.from(pair.refreshToken, 'base64url').length).toBeGreaterThanOrEqual(32);
    expect(pair.accessToken).not.toBe(tokens.accessToken);
    // Both access tokens belong to the one session of this login.
    expect(sessionIdOf(pair.accessToken)).toBe(sessionIdOf(tokens.accessToken));
    expect((await me(t.url, pair.accessToken)).data?.id).toBe(user.id);
    expect((await me(t.url, tokens.accessToken)).data?.id).toBe(user.id);

    const second = await refreshed(t.url, pair.refreshToken);
    expect(second.refreshToken).not.toBe(pair.refreshToken);
    expect(second.refreshToken).not.toBe(tokens.refreshToken);
    expect((await me(t.url, second.accessToken)).data?.id).toBe(user.id);

    const rows = await refreshTokensOf(t.db.url, sessionIdOf(tokens.accessToken));
    expect(rows).toHaveLength(3);
    expect(rows.filter((row) => row.spent_at === null)).toHaveLength(1);
  });

  it('gives every one of 20 concurrent refreshes the same successor, and stores just one', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(t.url, tokens.refreshToken)));
    expect(results.map((result) => result.status)).toEqual(Array<number>(20).fill(200));
    const successors = new Set(results.map((result) => result.data?.refreshToken));
    expect(successors.size).toBe(1);
    const [successor] = successors;
    expect(successor).toEqual(expect.any(String));
    expect(successor).not.toBe(tokens.refreshToken);
    // Every access token handed out works.
    for (const result of results.slice(0, 3)) expect((await me(t.url, result.data!.accessToken)).status).toBe(200);

    const rows = await refreshTokensOf(t.db.url, sessionIdOf(tokens.accessToken));
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.spent_at === null)).toHaveLength(1);
    // The successor they all got is the one live token.
    expect((await refresh(t.url, successor!)).status).toBe(200);
  });

  it('returns the same successor when the spent token comes back within the grace period', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const first = await refreshed(t.url, tokens.refreshToken);
    const retry = await refreshed(t.url, tokens.refreshToken);
    expect(retry.refreshToken).toBe(first.refreshToken);
    expect((await me(t.url, retry.accessToken)).status).toBe(200);
    const again = await refreshed(t.url, tokens.refreshToken);
    expect(again.refreshToken).toBe(first.refreshToken);

    const rows = await refreshTokensOf(t.db.url, sessionIdOf(tokens.accessToken));
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.spent_at === null)).toHaveLength(1);
    // Not treated as reuse: the session lives on and the successor rotates.
    expect((await sessionRow(t.db.url, sessionIdOf(tokens.accessToken)))?.revoked_at).toBeNull();
    expect((await refresh(t.url, first.refreshToken)).status).toBe(200);
  });

  it('treats an ancestor whose successor was already used as reuse: 401, and the whole session is revoked durably', async () => {
    const user = await signup(t.url);
    const victim = await login(t.url, user.username);
    const other = await login(t.url, user.username);
    const r1 = await refreshed(t.url, victim.refreshToken);
    const r2 = await refreshed(t.url, r1.refreshToken);

    const replay = await refresh(t.url, victim.refreshToken);
    expectUnauthorized(replay);
    expect(replay.data).toBeUndefined();

    // Every token of that login is dead, the newest included.
    expectUnauthorized(await refresh(t.url, r2.refreshToken));
    expectUnauthorized(await me(t.url, victim.accessToken));
    expectUnauthorized(await me(t.url, r2.accessToken));
    const session = await sessionRow(t.db.url, sessionIdOf(victim.accessToken));
    expect(session?.revoked_at).toBeInstanceOf(Date);

    // The user's other login is not touched.
    expect((await me(t.url, other.accessToken)).status).toBe(200);
    expect((await refresh(t.url, other.refreshToken)).status).toBe(200);
    expect((await sessionRow(t.db.url, sessionIdOf(other.accessToken)))?.revoked_at).toBeNull();
  });

  it('refuses an unknown or garbage refresh token with UNAUTHORIZED and a plain message', async () => {
    const candidates = [
      randomBytes(32).toString('base64url'),
      'garbage',
      "'; drop table refresh_tokens; --",
      '\u0000\u{1F600}',
      'x'.repeat(256),
    ];
    const messages = new Set<string>();
    for (const candidate of candidates) {
      const result = await refresh(t.url, candidate);
      expectUnauthorized(result);
      messages.add(result.error!.message);
      expect(result.text).not.toMatch(/select|insert|token_hash|refresh_tokens|constraint|stack|\.ts:|node_modules/i);
    }
    // One answer for every kind of bad token: nothing to tell them apart by.
    expect(messages.size).toBe(1);
  });

  it('refuses the refresh token of an expired session, and its access token too', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const sessionId = sessionIdOf(tokens.accessToken);
    await sql(t.db.url, "update sessions set expires_at = now() - interval '1 second' where id = $1", [sessionId]);

    expectUnauthorized(await refresh(t.url, tokens.refreshToken));
    expectUnauthorized(await me(t.url, tokens.accessToken));
    // Nothing was rotated for it.
    const rows = await refreshTokensOf(t.db.url, sessionId);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.spent_at).toBeNull();
  });

  it('keeps the lifetime absolute: a rotation does not extend expires_at', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const sessionId = sessionIdOf(tokens.accessToken);
    const before = (await sessionRow(t.db.url, sessionId))!.expires_at;
    await sleep(20);
    await refreshed(t.url, tokens.refreshToken);
    expect((await sessionRow(t.db.url, sessionId))!.expires_at.getTime()).toBe(before.getTime());
  });
});

describe('auth.refresh after the grace period', () => {
  const t = useTestApp({ env: testEnv({ REFRESH_REUSE_GRACE_SECONDS: '3' }) });

  it('treats the spent token as reuse once the grace has run out, and revokes the session', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const r1 = await refreshed(t.url, tokens.refreshToken);
    // Still within the grace: the same successor.
    expect((await refreshed(t.url, tokens.refreshToken)).refreshToken).toBe(r1.refreshToken);

    await sleep(3300); // a generous grace, so the replay above stays inside it even on a loaded machine
    expectUnauthorized(await refresh(t.url, tokens.refreshToken));
    // The unused successor went down with the session.
    expectUnauthorized(await refresh(t.url, r1.refreshToken));
    expectUnauthorized(await me(t.url, r1.accessToken));
    expect((await sessionRow(t.db.url, sessionIdOf(tokens.accessToken)))?.revoked_at).toBeInstanceOf(Date);
  });
});

describe('what is stored', () => {
  const t = useTestApp();

  it('keeps no plaintext password or refresh token in any column, and the password as a bcrypt hash', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const next = await refreshed(t.url, tokens.refreshToken);
    const last = await refreshed(t.url, next.refreshToken);
    const plaintexts = [PASSWORD, tokens.refreshToken, next.refreshToken, last.refreshToken];

    const dump = async (table: 'users' | 'sessions' | 'refresh_tokens') =>
      (await sql<{ rows: string | null }>(t.db.url, `select json_agg(t)::text as rows from ${table} t`))[0]?.rows ?? '';
    const tables = {
      users: await dump('users'),
      sessions: await dump('sessions'),
      tokens: await dump('refresh_tokens'),
    };
    // The dump is real: it holds this user's rows.
    expect(tables.users).toContain(user.id);
    expect(tables.sessions).toContain(sessionIdOf(tokens.accessToken));
    expect(JSON.parse(tables.tokens)).toHaveLength(3);
    for (const [table, text] of Object.entries(tables)) {
      for (const secret of plaintexts) expect(text, `${table} holds a plaintext secret`).not.toContain(secret);
    }

    const [row] = await sql<{ password_hash: string }>(t.db.url, 'select password_hash from users where id = $1', [
      user.id,
    ]);
    expect(row?.password_hash).toMatch(/^\$2b\$/);
  });
});

describe('several server processes on one database', () => {
  const t = useTestApp();

  it('refreshes on one instance a pair issued by another, and reuse seen on one revokes the session on all', async () => {
    const b = await startTestApp({ databaseUrl: t.db.url, env: testEnv({ JWT_SECRET: t.env.JWT_SECRET! }) });
    try {
      const user = await signup(t.url);
      const r0 = await login(t.url, user.username);

      // Issued by A, rotated on B; B's tokens work on A.
      const r1 = await refreshed(b.url, r0.refreshToken);
      expect((await me(t.url, r1.accessToken)).data?.id).toBe(user.id);
      expect((await me(b.url, r0.accessToken)).data?.id).toBe(user.id);
      // A retry within the grace on A gets the successor B handed out.
      expect((await refreshed(t.url, r0.refreshToken)).refreshToken).toBe(r1.refreshToken);

      // The successor is used on A; the ancestor then comes back on B: reuse.
      const r2 = await refreshed(t.url, r1.refreshToken);
      expectUnauthorized(await refresh(b.url, r0.refreshToken));

      // A sees the session revoked too.
      expectUnauthorized(await refresh(t.url, r2.refreshToken));
      expectUnauthorized(await me(t.url, r2.accessToken));
      expectUnauthorized(await me(t.url, r0.accessToken));
      expectUnauthorized(await me(b.url, r1.accessToken));
    } finally {
      await b.close();
    }
  });
});
