import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp, type AppDeps } from '../server/app.ts';
import { purgeEndedSessions, SESSION_PURGE_LOCK_KEY, sessionPurger } from '../server/auth/session-purge.ts';
import { ormOptions } from '../server/db.ts';
import { createLogger } from '../server/logger.ts';
import { testEnv } from './helpers/app.ts';
import { login, PASSWORD, signup } from './helpers/auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { expectUnauthorized, refresh, refreshed, sessionIdOf, sessionRow, sql } from './helpers/sessions.ts';
import { mutate, query } from './helpers/trpc.ts';

/** A logger whose JSON lines land in `lines`. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  return { lines, logger: createLogger({ NODE_ENV: 'production', LOG_LEVEL: 'debug' }, stream) };
}
type Listed = { id: string; userAgent: string | null; current: boolean };
const silent = createLogger({ NODE_ENV: 'production', LOG_LEVEL: 'silent' });

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/** One user's sessions that ended long ago, each with `tokens` refresh tokens, made in SQL. */
async function oldEndedSessions(databaseUrl: string, userId: string, count: number, tokens = 1) {
  await sql(
    databaseUrl,
    `with s as (
       insert into sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
       select gen_random_uuid(), $1, now() - interval '20 days', now() - interval '20 days',
              now() + interval '10 days', now() - interval '8 days'
       from generate_series(1, $2) returning id)
     insert into refresh_tokens (id, session_id, token_hash, created_at)
     select gen_random_uuid(), s.id, md5(random()::text) || md5(random()::text), now() - interval '20 days'
     from s, generate_series(1, $3)`,
    [userId, count, tokens],
  );
}

async function logout(url: string, refreshToken: string) {
  expect((await mutate(url, 'auth.logout', { refreshToken })).status).toBe(200);
}

const idOf = (pair: { accessToken: string }) => sessionIdOf(pair.accessToken);

/** Moves a session's end into the past: `column` = now() - `interval`. */
const age = (databaseUrl: string, pair: { accessToken: string }, column: string, interval: string) =>
  sql(databaseUrl, `update sessions set ${column} = now() - interval '${interval}' where id = $1`, [idOf(pair)]);

const sessionIds = async (databaseUrl: string) =>
  (await sql<{ id: string }>(databaseUrl, 'select id from sessions order by id')).map((row) => row.id);

const countOf = async (databaseUrl: string, table: 'sessions' | 'refresh_tokens') =>
  Number((await sql<{ n: string }>(databaseUrl, `select count(*) as n from ${table}`))[0]?.n);

interface Started {
  db: TestDatabase;
  orm: MikroORM;
  app: FastifyInstance;
  url: string;
}

/** A listening app on a database of its own; `sessionPurge` as buildApp takes it. */
async function startApp(sessionPurge: AppDeps['sessionPurge'], logger = silent): Promise<Started> {
  const db = await createTestDatabase();
  const env = testEnv();
  const orm = await MikroORM.init(ormOptions(env, db.url));
  const app = await buildApp({ orm, env, logger, sessionPurge });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { db, orm, app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

/** For a describe block. The schedule is off: a scheduled round could take the lock before a test's own. */
function useApp(): Started {
  const t = {} as Started;
  beforeAll(async () => void Object.assign(t, await startApp(false)));
  afterAll(() => stopApp(t));
  return t;
}

async function stopApp(started: Partial<Started> | undefined) {
  await started?.app?.close();
  await started?.orm?.close();
  await started?.db?.drop();
}

describe('the session purge', () => {
  const t = useApp();
  // Exact counts: every test starts without sessions.
  beforeEach(() => sql(t.db.url, 'delete from sessions'));
  const purge = (retentionDays = 7, batchSize?: number) =>
    purgeEndedSessions(t.orm, { retentionDays, logger: silent, batchSize });

  it('deletes sessions revoked or expired longer ago than the retention with their tokens, and keeps the rest', async () => {
    const user = await signup(t.url);
    const oldRevoked = await login(t.url, user.username);
    await refreshed(t.url, (await refreshed(t.url, oldRevoked.refreshToken)).refreshToken);
    await logout(t.url, oldRevoked.refreshToken);
    const oldExpired = await login(t.url, user.username);
    const recentRevoked = await login(t.url, user.username);
    await logout(t.url, recentRevoked.refreshToken);
    const recentExpired = await login(t.url, user.username);
    const live = await login(t.url, user.username);
    const latest = await refreshed(t.url, (await refreshed(t.url, live.refreshToken)).refreshToken);
    await age(t.db.url, oldRevoked, 'revoked_at', '7 days 1 minute');
    await age(t.db.url, oldExpired, 'expires_at', '8 days');
    await age(t.db.url, recentRevoked, 'revoked_at', '6 days 23 hours');
    await age(t.db.url, recentExpired, 'expires_at', '6 days');
    // A live session's tokens stay whatever their age: reuse detection needs the spent ones.
    await sql(t.db.url, "update refresh_tokens set spent_at = now() - interval '20 days' where spent_at is not null");

    // Tokens: 3 of the old revoked session (login and two refreshes), 1 of the old expired one.
    expect(await purge()).toEqual({ sessions: 2, refreshTokens: 4, posts: 0, accounts: 0, ms: expect.any(Number) });
    expect(await sessionIds(t.db.url)).toEqual([recentRevoked, recentExpired, live].map(idOf).sort());
    // The live session's 3 (2 of them spent), and 1 of each recently ended one.
    expect(await countOf(t.db.url, 'refresh_tokens')).toBe(5);

    expect((await refresh(t.url, latest.refreshToken)).status).toBe(200);
    expect(await purge()).toEqual({ sessions: 0, refreshTokens: 0, posts: 0, accounts: 0, ms: expect.any(Number) });
  });

  it('with a retention of 0 days, deletes a session as soon as it has ended', async () => {
    const user = await signup(t.url);
    const loggedOut = await login(t.url, user.username);
    await logout(t.url, loggedOut.refreshToken);
    await age(t.db.url, await login(t.url, user.username), 'expires_at', '1 second');
    const live = await login(t.url, user.username);

    expect(await purge(0)).toMatchObject({ sessions: 2, refreshTokens: 2 });
    expect(await sessionIds(t.db.url)).toEqual([idOf(live)]);
    expect((await refresh(t.url, live.refreshToken)).status).toBe(200);
  });

  it('works through a backlog larger than one batch', async () => {
    const user = await signup(t.url);
    await oldEndedSessions(t.db.url, user.id, 7, 4);
    expect(await purge(7, 3)).toMatchObject({ sessions: 7, refreshTokens: 28 });
    expect(await countOf(t.db.url, 'sessions')).toBe(0);
    expect(await countOf(t.db.url, 'refresh_tokens')).toBe(0);
  });

  it('skips a round while another process holds the purge lock, and never deletes twice', async () => {
    const user = await signup(t.url);
    await oldEndedSessions(t.db.url, user.id, 3);
    const other = new pg.Client({ connectionString: t.db.url });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SESSION_PURGE_LOCK_KEY]);
      expect(await Promise.all([purge(), purge()])).toEqual([null, null]);
      expect(await countOf(t.db.url, 'sessions')).toBe(3);
    } finally {
      await other.end(); // and with its session, the lock
    }
    const results = await Promise.all([purge(), purge(), purge()]);
    expect(results.reduce((sum, result) => sum + (result?.sessions ?? 0), 0)).toBe(3);
    expect(results.reduce((sum, result) => sum + (result?.refreshTokens ?? 0), 0)).toBe(3);
    expect(await countOf(t.db.url, 'sessions')).toBe(0);
  });

  it('leaves rotation and reuse detection working: a live session rotates, a replayed old token revokes it', async () => {
    const user = await signup(t.url);
    const first = await login(t.url, user.username);
    const second = await refreshed(t.url, first.refreshToken);
    const third = await refreshed(t.url, second.refreshToken);
    await sql(t.db.url, "update refresh_tokens set spent_at = now() - interval '20 days' where spent_at is not null");
    await oldEndedSessions(t.db.url, user.id, 2);

    expect(await purge()).toMatchObject({ sessions: 2, refreshTokens: 2 });
    const fourth = await refreshed(t.url, third.refreshToken);
    expect(idOf(fourth)).toBe(idOf(first));

    // The first token, spent 20 days ago, is still known: its replay revokes the whole session.
    expectUnauthorized(await refresh(t.url, first.refreshToken));
    expect((await sessionRow(t.db.url, idOf(first)))?.revoked_at).toBeInstanceOf(Date);
    expectUnauthorized(await refresh(t.url, fourth.refreshToken));
  });
});

describe('the session purge schedule', () => {
  let started: Started | undefined;
  afterEach(() => stopApp(started));

  it('runs once the app is ready, logs its counts in one line, and stops when the app closes', async () => {
    const { lines, logger } = capturedLogger();
    const { db, app, url } = (started = await startApp({ firstDelayMs: 0, intervalMs: 100 }, logger));
    // Listening made the app ready: rounds run every 100 ms from now on.
    const user = await signup(url);
    await oldEndedSessions(db.url, user.id, 2, 3);
    const purged = () => lines.filter((line) => line.msg === 'purged ended sessions and deleted accounts');
    // The line is written after the round's commit, so a moment after the rows are gone.
    await until(async () => (await countOf(db.url, 'sessions')) === 0 && purged().length > 0);
    expect(purged()).toEqual([
      expect.objectContaining({ level: 30, sessions: 2, refreshTokens: 3 * 2, ms: expect.any(Number) }),
    ]);

    await app.close();
    await oldEndedSessions(db.url, user.id, 1);
    await sleep(400);
    expect(await countOf(db.url, 'sessions')).toBe(1);
  });

  it('survives a database outage: the round fails with a warning, a later round purges', async () => {
    const { lines, logger } = capturedLogger();
    const { db, orm, url } = (started = await startApp(false));
    await oldEndedSessions(db.url, (await signup(url)).id, 1);
    await db.admin(`alter database "${db.name}" allow_connections false`);
    await db.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db.name}'`);
    const purger = sessionPurger(orm, { retentionDays: 7, logger, firstDelayMs: 0, intervalMs: 100 });
    try {
      purger.start();
      await until(() => lines.some((line) => line.msg === 'session purge failed; trying again next round'));
      await db.admin(`alter database "${db.name}" allow_connections true`);
      await until(async () => (await countOf(db.url, 'sessions')) === 0);
      expect(lines.find((line) => line.level === 40)).toMatchObject({ err: { message: expect.any(String) } });
    } finally {
      await purger.stop();
    }
  });
});

describe('auth.sessions', () => {
  const t = useApp();

  it('lists at most the newest 50 live sessions, most recently used first, the current one among them', async () => {
    const user = await signup(t.url);
    // 54 older live sessions, used n minutes ago; ended ones used more recently must not take places.
    await sql(
      t.db.url,
      `insert into sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, user_agent)
       select gen_random_uuid(), $1::uuid, now() - interval '1 day', now() - n * interval '1 minute',
              now() + interval '1 day', null, 'older ' || n
       from generate_series(1, 54) n
       union all
       select gen_random_uuid(), $1, now() - interval '1 day', now() - interval '10 seconds',
              now() + case when n = 1 then interval '-1 second' else interval '1 day' end,
              case when n = 1 then null else now() end, 'ended ' || n
       from generate_series(1, 2) n`,
      [user.id],
    );
    const current = await login(t.url, user.username, PASSWORD, { headers: { 'user-agent': 'current' } });

    const result = await query<Listed[]>(t.url, 'auth.sessions', undefined, { token: current.accessToken });
    expect(result.status).toBe(200);
    const list = result.data!;
    expect(list).toHaveLength(50);
    expect(list[0]).toMatchObject({ id: idOf(current), userAgent: 'current', current: true });
    expect(list.slice(1).map((session) => session.userAgent)).toEqual(
      Array.from({ length: 49 }, (_, index) => `older ${index + 1}`),
    );
    expect(list.filter((session) => session.current)).toHaveLength(1);
  });
});
