import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
import { login, PASSWORD, signup, signupAndLogin } from './helpers/auth.ts';
import {
  expectUnauthorized,
  me,
  refresh,
  refreshed,
  sessionIdOf,
  sessionRow,
  sql,
  type SessionRow,
} from './helpers/sessions.ts';
import { mutate, query, type CallOptions } from './helpers/trpc.ts';

interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  userAgent: string | null;
  current: boolean;
}

const logout = (url: string, refreshToken: string) => mutate<{ ok: true }>(url, 'auth.logout', { refreshToken });
const logoutAll = (url: string, token?: string) =>
  mutate<{ revoked: number }>(url, 'auth.logoutAll', undefined, token ? { token } : {});
const sessions = (url: string, token: string, options: CallOptions = {}) =>
  query<SessionInfo[]>(url, 'auth.sessions', undefined, { ...options, token });

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
