import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { login, PASSWORD, signup, signupAndLogin, type TokenPair } from './helpers/auth.ts';
import { mutate, query, type CallOptions } from './helpers/trpc.ts';

interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  userAgent: string | null;
  current: boolean;
}

interface RefreshTokenRow {
  id: string;
  session_id: string;
  token_hash: string;
  created_at: Date;
  spent_at: Date | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  revoked_at: Date | null;
  expires_at: Date;
}

const refresh = (url: string, refreshToken: string) => mutate<TokenPair>(url, 'auth.refresh', { refreshToken });
const logout = (url: string, refreshToken: string) => mutate<{ ok: true }>(url, 'auth.logout', { refreshToken });
const logoutAll = (url: string, token?: string) =>
  mutate<{ revoked: number }>(url, 'auth.logoutAll', undefined, token ? { token } : {});
const me = (url: string, token: string) =>
  query<{ id: string; username: string }>(url, 'auth.me', undefined, { token });
const sessions = (url: string, token: string, options: CallOptions = {}) =>
  query<SessionInfo[]>(url, 'auth.sessions', undefined, { ...options, token });

/** One statement on the test database, on a connection of its own (not the app's). */
async function sql<R extends pg.QueryResultRow>(databaseUrl: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The `sid` claim of an access token (the session it belongs to). */
function sessionIdOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sid?: unknown;
  };
  expect(payload.sid).toEqual(expect.any(String));
  return payload.sid as string;
}

const refreshTokensOf = (databaseUrl: string, sessionId: string) =>
  sql<RefreshTokenRow>(databaseUrl, 'select * from refresh_tokens where session_id = $1 order by created_at, id', [
    sessionId,
  ]);

const sessionRow = async (databaseUrl: string, sessionId: string) =>
  (await sql<SessionRow>(databaseUrl, 'select * from sessions where id = $1', [sessionId]))[0];

/** Asserts a successful refresh and returns its pair. */
async function refreshed(url: string, refreshToken: string): Promise<TokenPair> {
  const result = await refresh(url, refreshToken);
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(200);
  return result.data!;
}

/** Asserts the call was refused as UNAUTHORIZED (401). */
function expectUnauthorized(result: { status: number; error?: { data: { code: string } } | undefined }) {
  expect(result.status).toBe(401);
  expect(result.error?.data.code).toBe('UNAUTHORIZED');
}

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
  const t = useTestApp({ env: testEnv({ REFRESH_REUSE_GRACE_SECONDS: '1' }) });

  it('treats the spent token as reuse once the grace has run out, and revokes the session', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const r1 = await refreshed(t.url, tokens.refreshToken);
    // Still within the grace: the same successor.
    expect((await refreshed(t.url, tokens.refreshToken)).refreshToken).toBe(r1.refreshToken);

    await sleep(1300);
    expectUnauthorized(await refresh(t.url, tokens.refreshToken));
    // The unused successor went down with the session.
    expectUnauthorized(await refresh(t.url, r1.refreshToken));
    expectUnauthorized(await me(t.url, r1.accessToken));
    expect((await sessionRow(t.db.url, sessionIdOf(tokens.accessToken)))?.revoked_at).toBeInstanceOf(Date);
  });
});

describe('auth.logout', () => {
  const t = useTestApp();

  it("ends that session: its refresh and access tokens stop working, the user's other session lives", async () => {
    const user = await signup(t.url);
    const ending = await login(t.url, user.username);
    const staying = await login(t.url, user.username);

    const result = await logout(t.url, ending.refreshToken);
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ ok: true });

    expectUnauthorized(await refresh(t.url, ending.refreshToken));
    expectUnauthorized(await me(t.url, ending.accessToken));
    expect((await sessionRow(t.db.url, sessionIdOf(ending.accessToken)))?.revoked_at).toBeInstanceOf(Date);

    expect((await me(t.url, staying.accessToken)).status).toBe(200);
    expect((await refresh(t.url, staying.refreshToken)).status).toBe(200);
  });

  it('ends the session also when given a rotated token, so every token of that login stops', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const r1 = await refreshed(t.url, tokens.refreshToken);
    expect((await logout(t.url, r1.refreshToken)).data).toEqual({ ok: true });
    expectUnauthorized(await refresh(t.url, r1.refreshToken));
    expectUnauthorized(await refresh(t.url, tokens.refreshToken));
    expectUnauthorized(await me(t.url, r1.accessToken));
  });

  it('answers { ok: true } for an unknown token, and for a token already logged out', async () => {
    const unknown = await logout(t.url, randomBytes(32).toString('base64url'));
    expect(unknown.status).toBe(200);
    expect(unknown.data).toEqual({ ok: true });

    const { tokens } = await signupAndLogin(t.url);
    expect((await logout(t.url, tokens.refreshToken)).data).toEqual({ ok: true });
    expect((await logout(t.url, tokens.refreshToken)).data).toEqual({ ok: true });
  });
});

describe('auth.logoutAll', () => {
  const t = useTestApp();

  it("revokes every session of the caller and says how many; another user's session is untouched", async () => {
    const user = await signup(t.url);
    const logins = [
      await login(t.url, user.username),
      await login(t.url, user.username),
      await login(t.url, user.username),
    ];
    const bystander = await signupAndLogin(t.url);

    const result = await logoutAll(t.url, logins[0]!.accessToken);
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ revoked: 3 });

    for (const pair of logins) {
      expectUnauthorized(await me(t.url, pair.accessToken));
      expectUnauthorized(await refresh(t.url, pair.refreshToken));
    }
    const rows = await sql<SessionRow>(t.db.url, 'select * from sessions where user_id = $1', [user.id]);
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.revoked_at instanceof Date)).toBe(true);

    expect((await me(t.url, bystander.tokens.accessToken)).status).toBe(200);
    expect((await refresh(t.url, bystander.tokens.refreshToken)).status).toBe(200);

    // The caller's own session went too: the same token cannot do it again.
    expectUnauthorized(await logoutAll(t.url, logins[0]!.accessToken));
  });

  it('counts only sessions that were still live', async () => {
    const user = await signup(t.url);
    const ended = await login(t.url, user.username);
    const caller = await login(t.url, user.username);
    await logout(t.url, ended.refreshToken);
    expect((await logoutAll(t.url, caller.accessToken)).data).toEqual({ revoked: 1 });
  });

  it('needs an access token', async () => {
    expectUnauthorized(await logoutAll(t.url));
    expectUnauthorized(await logoutAll(t.url, 'not.a.token'));
  });
});

describe('auth.sessions', () => {
  const t = useTestApp();

  it("lists the caller's live sessions with their user agent, and marks the caller's own as current", async () => {
    const user = await signup(t.url);
    const phone = await login(t.url, user.username, PASSWORD, { headers: { 'user-agent': 'WarblePhone/1.0' } });
    const laptop = await login(t.url, user.username, PASSWORD, { headers: { 'user-agent': 'WarbleLaptop/2.0' } });
    const stranger = await signupAndLogin(t.url, { headers: { 'user-agent': 'Stranger/9' } });

    const result = await sessions(t.url, laptop.accessToken);
    expect(result.status).toBe(200);
    const list = result.data!;
    expect(list).toHaveLength(2);
    expect(list.map((session) => session.id).sort()).toEqual(
      [sessionIdOf(phone.accessToken), sessionIdOf(laptop.accessToken)].sort(),
    );
    expect(list.filter((session) => session.current)).toEqual([
      expect.objectContaining({ id: sessionIdOf(laptop.accessToken), userAgent: 'WarbleLaptop/2.0', current: true }),
    ]);
    expect(list.find((session) => !session.current)).toEqual({
      id: sessionIdOf(phone.accessToken),
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      userAgent: 'WarblePhone/1.0',
      current: false,
    });
    for (const session of list) {
      expect(new Date(session.createdAt).toISOString()).toBe(session.createdAt);
      expect(new Date(session.lastUsedAt).toISOString()).toBe(session.lastUsedAt);
    }
    expect(result.text).not.toContain('Stranger/9');
    expect(result.text).not.toContain(sessionIdOf(stranger.tokens.accessToken));

    // From the other device, the other one is current.
    const fromPhone = (await sessions(t.url, phone.accessToken)).data!;
    expect(fromPhone.filter((session) => session.current).map((session) => session.id)).toEqual([
      sessionIdOf(phone.accessToken),
    ]);
  });

  it('leaves out revoked sessions', async () => {
    const user = await signup(t.url);
    const ended = await login(t.url, user.username);
    const kept = await login(t.url, user.username);
    const alsoKept = await login(t.url, user.username);
    await logout(t.url, ended.refreshToken);

    const list = (await sessions(t.url, kept.accessToken)).data!;
    expect(list.map((session) => session.id).sort()).toEqual(
      [sessionIdOf(kept.accessToken), sessionIdOf(alsoKept.accessToken)].sort(),
    );
  });

  it('leaves out expired sessions', async () => {
    const user = await signup(t.url);
    const expired = await login(t.url, user.username);
    const caller = await login(t.url, user.username);
    await sql(t.db.url, "update sessions set expires_at = now() - interval '1 second' where id = $1", [
      sessionIdOf(expired.accessToken),
    ]);
    const list = (await sessions(t.url, caller.accessToken)).data!;
    expect(list.map((session) => session.id)).toEqual([sessionIdOf(caller.accessToken)]);
  });

  it('moves lastUsedAt forward when the session refreshes, but not createdAt', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const [before] = (await sessions(t.url, tokens.accessToken)).data!;
    await sleep(50);
    const pair = await refreshed(t.url, tokens.refreshToken);
    const [after] = (await sessions(t.url, pair.accessToken)).data!;
    expect(after?.id).toBe(before?.id);
    expect(after?.createdAt).toBe(before?.createdAt);
    expect(Date.parse(after!.lastUsedAt)).toBeGreaterThan(Date.parse(before!.lastUsedAt));
    expect(after?.current).toBe(true);
  });

  it('needs an access token, and one of a live session', async () => {
    expectUnauthorized(await query(t.url, 'auth.sessions'));
    const { tokens } = await signupAndLogin(t.url);
    await logout(t.url, tokens.refreshToken);
    expectUnauthorized(await sessions(t.url, tokens.accessToken));
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
