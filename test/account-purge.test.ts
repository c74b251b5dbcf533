// The erasure of deleted accounts (server/users/account-purge.ts, run by the session purge): after
// ACCOUNT_RETENTION_DAYS their posts go and the personal data on the user row is erased, while the
// row itself (id, username, dates) stays for good so that nobody can take the name over. Before
// that, a deleted account keeps everything (support can still undo a deletion).
import type { AddressInfo } from 'node:net';
import { MikroORM } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type AppDeps } from '../server/app.ts';
import { purgeEndedSessions } from '../server/auth/session-purge.ts';
import { ormOptions } from '../server/db.ts';
import type { Env } from '../server/env.ts';
import { createLogger } from '../server/logger.ts';
import { testEnv } from './helpers/app.ts';
import { PASSWORD, signupAndLogin } from './helpers/auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, deletePost, expectTrpcError, succeeded } from './helpers/social.ts';
import { mutate } from './helpers/trpc.ts';

const silent = createLogger({ NODE_ENV: 'production', LOG_LEVEL: 'silent' });

interface Started {
  db: TestDatabase;
  orm: MikroORM;
  app: FastifyInstance;
  url: string;
}

/**
 * A listening app on a database of its own. The scheduled purge is off unless asked for: a
 * scheduled round could erase accounts (or hold the purge lock) before a test's own round.
 */
async function startApp(env: Env = testEnv(), sessionPurge: AppDeps['sessionPurge'] = false): Promise<Started> {
  const db = await createTestDatabase();
  const orm = await MikroORM.init(ormOptions(env, db.url));
  const app = await buildApp({ orm, env, logger: silent, sessionPurge });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { db, orm, app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

async function stopApp(started: Partial<Started> | undefined) {
  await started?.app?.close();
  await started?.orm?.close();
  await started?.db?.drop();
}

interface UserRow {
  id: string;
  username: string;
  created_at: Date;
  deleted_at: Date | null;
  purged_at: Date | null;
  password_hash: string | null;
  display_name: string | null;
  bio: string;
}

const userRow = async (databaseUrl: string, id: string) =>
  (await sql<UserRow>(databaseUrl, 'select * from users where id = $1', [id]))[0]!;

const postCount = async (databaseUrl: string, authorId: string) =>
  Number(
    (await sql<{ n: string }>(databaseUrl, 'select count(*) as n from posts where author_id = $1', [authorId]))[0]!.n,
  );

/** Moves the deletion of these accounts (id → days ago) into the past, in one statement. */
const backdate = (databaseUrl: string, daysAgo: Record<string, number>) =>
  sql(
    databaseUrl,
    `update users u set deleted_at = now() - make_interval(days => d.days)
     from unnest($1::uuid[], $2::int[]) as d(id, days) where u.id = d.id`,
    [Object.keys(daysAgo), Object.values(daysAgo)],
  );

/**
 * A user with a display name, a bio and `posts` posts (the last one soft-deleted: the purge takes
 * deleted posts too), who then deleted their account through the API unless `live`.
 */
async function account(s: Started, posts: number, { live = false } = {}) {
  const { user, tokens } = await signupAndLogin(s.url);
  const token = tokens.accessToken;
  const profile = { displayName: 'Ada L.', bio: 'Counting engines' };
  succeeded(await mutate(s.url, 'users.updateProfile', profile, { token }));
  const made = [];
  for (let i = 0; i < posts; i++) made.push(await createPost(s.url, token, `post ${i}`));
  if (made.length) succeeded(await deletePost(s.url, made.at(-1)!.id, token));
  if (!live) succeeded(await mutate(s.url, 'auth.deleteAccount', { password: PASSWORD }, { token }));
  return user;
}

const signupAs = (s: Started, username: string) => mutate(s.url, 'auth.signup', { username, password: PASSWORD });

describe('the purge of deleted accounts', () => {
  let s: Started;
  beforeAll(async () => void (s = await startApp()));
  afterAll(() => stopApp(s));
  const purge = (batchSize?: number) =>
    purgeEndedSessions(s.orm, { retentionDays: 7, accountRetentionDays: 30, logger: silent, batchSize });

  it('erases an account deleted 31 days ago: posts and personal data go, the row and its name stay', async () => {
    const gone = await account(s, 3);
    const recent = await account(s, 2);
    const live = await account(s, 2, { live: true });
    await backdate(s.db.url, { [gone.id]: 31, [recent.id]: 29 });
    const before = { gone: await userRow(s.db.url, gone.id), recent: await userRow(s.db.url, recent.id) };
    const liveBefore = await userRow(s.db.url, live.id);

    // Three posts, the soft-deleted one included; one account.
    expect(await purge()).toMatchObject({ posts: 3, accounts: 1 });

    const after = await userRow(s.db.url, gone.id);
    expect(await postCount(s.db.url, gone.id)).toBe(0);
    expect(after).toEqual({
      ...before.gone,
      password_hash: null,
      display_name: null,
      bio: '',
      purged_at: expect.any(Date),
    });
    expect(before.gone.password_hash).toMatch(/^\$2/);
    expect(before.gone.display_name).toBe('Ada L.');
    // The name stays taken, in any case, and the account cannot come back through a login.
    for (const name of [gone.username, gone.username.toUpperCase()]) {
      expectTrpcError(await signupAs(s, name), 409, 'CONFLICT');
    }
    expectTrpcError(
      await mutate(s.url, 'auth.login', { username: gone.username, password: PASSWORD }),
      401,
      'UNAUTHORIZED',
    );

    // 29 days: support may still undo it, so nothing is touched. A live account neither.
    expect(await userRow(s.db.url, recent.id)).toEqual(before.recent);
    expect(await postCount(s.db.url, recent.id)).toBe(2);
    expect(await userRow(s.db.url, live.id)).toEqual(liveBefore);
    expect(await postCount(s.db.url, live.id)).toBe(2);

    // A second round finds nothing left to do.
    expect(await purge()).toMatchObject({ posts: 0, accounts: 0 });
  });

  it('gets through more posts and accounts than one batch holds', async () => {
    const accounts = [await account(s, 3), await account(s, 2), await account(s, 0)];
    await backdate(s.db.url, Object.fromEntries(accounts.map((user) => [user.id, 40])));

    expect(await purge(2)).toMatchObject({ posts: 5, accounts: 3 });
    for (const user of accounts) {
      expect(await postCount(s.db.url, user.id)).toBe(0);
      const row = await userRow(s.db.url, user.id);
      expect(row).toMatchObject({ password_hash: null, display_name: null, bio: '', purged_at: expect.any(Date) });
    }
  });
});

describe('the scheduled purge', () => {
  let s: Started | undefined;
  afterEach(() => stopApp(s));

  it('erases accounts deleted longer ago than ACCOUNT_RETENTION_DAYS, and only those', async () => {
    s = await startApp(testEnv({ ACCOUNT_RETENTION_DAYS: '2' }), { firstDelayMs: 0, intervalMs: 100 });
    const old = await account(s, 1);
    const recent = await account(s, 1);
    // One statement: every round sees both accounts or neither.
    await backdate(s.db.url, { [old.id]: 3, [recent.id]: 1 });

    const deadline = Date.now() + 5000;
    while (!(await userRow(s.db.url, old.id)).purged_at) {
      if (Date.now() > deadline) throw new Error('the scheduled purge did not erase the account in 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await postCount(s.db.url, old.id)).toBe(0);
    expect(await userRow(s.db.url, recent.id)).toMatchObject({ purged_at: null, display_name: 'Ada L.' });
    expect(await postCount(s.db.url, recent.id)).toBe(1);
  });
});
