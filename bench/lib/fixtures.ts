// What the targets need from the data: real users with real access tokens (from auth.login on
// the server under test), a deep cursor per user, and fresh accounts whose hashes have the
// server's bcrypt cost, for measuring logins. Everything a run writes is removed again by cleanUp.
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';

export const BENCH_PASSWORD = 'bench-password';
export const PAGE_SIZE = 20;

export interface BenchUser {
  id: string;
  username: string;
  follows: number;
  accessToken: string;
  /** The cursor of the page after `pages` pages, or null when the timeline is shorter. */
  deepCursor: string | null;
}

export interface LoginUser {
  username: string;
  password: string;
}

interface TrpcResponse<T> {
  result?: { data: T };
  error?: { message: string; data?: { code?: string } };
}

export const trpcPath = (procedure: string, input?: unknown) =>
  `/trpc/${procedure}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

async function call<T>(origin: string, procedure: string, input: unknown, options: { token?: string; post?: boolean }) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.post) headers['content-type'] = 'application/json';
  const response = await fetch(`${origin}${options.post ? `/trpc/${procedure}` : trpcPath(procedure, input)}`, {
    method: options.post ? 'POST' : 'GET',
    headers,
    ...(options.post ? { body: JSON.stringify(input) } : {}),
  });
  const payload = (await response.json()) as TrpcResponse<T>;
  if (!response.ok || !payload.result) {
    throw new Error(`${procedure} answered ${response.status}: ${payload.error?.message ?? 'no result'}`);
  }
  return payload.result.data;
}

export const query = <T>(origin: string, procedure: string, input: unknown, token?: string) =>
  call<T>(origin, procedure, input, { token });
export const mutation = <T>(origin: string, procedure: string, input: unknown, token?: string) =>
  call<T>(origin, procedure, input, { token, post: true });

/** How many bench_ users there are: 0 means the seeder has to run. */
export async function countBenchUsers(em: EntityManager): Promise<number> {
  const [row] = await em
    .getConnection()
    .execute<{ count: string }[]>(`select count(*) as count from users where username like 'bench\\_%'`);
  return Number(row?.count ?? 0);
}

/**
 * The `count` bench users whose number of follows is closest to the median: the typical user of
 * bench/timeline-plan.ts, many times over, so requests do not all hit one user's cached pages.
 */
export async function typicalUsers(em: EntityManager, count: number) {
  const rows = await em.getConnection().execute<{ id: string; username: string; follows: string }[]>(
    `with counts as (
       select u.id, u.username, count(f.followee_id) as follows
       from users u left join follows f on f.follower_id = u.id
       where u.username like 'bench\\_%'
       group by u.id, u.username
     ), middle as (
       select percentile_disc(0.5) within group (order by follows) as follows from counts
     )
     select c.id, c.username, c.follows from counts c, middle m
     order by abs(c.follows - m.follows), c.username
     limit ?`,
    [count],
  );
  return rows.map((row) => ({ id: row.id, username: row.username, follows: Number(row.follows) }));
}

/**
 * The bench user with the most live posts written before `before` (not counting what this run's
 * posts.create added): whose pages of posts.byUser are the largest answers.
 */
export async function busiestAuthor(em: EntityManager, before: Date): Promise<{ username: string; posts: number }> {
  const [row] = await em.getConnection().execute<{ username: string; posts: string }[]>(
    `select u.username, count(*) as posts
     from posts p join users u on u.id = p.author_id
     where p.deleted_at is null and p.created_at < ? and u.username like 'bench\\_%'
     group by u.username
     order by count(*) desc, u.username
     limit 1`,
    [before],
  );
  if (!row) throw new Error('no bench_ user has posts');
  return { username: row.username, posts: Number(row.posts) };
}

/** Logs each user in (a few at a time) and walks `pages` timeline pages to its deep cursor. */
export async function prepareUsers(
  origin: string,
  users: { id: string; username: string; follows: number }[],
  pages: number,
  onProgress: (done: number) => void,
): Promise<BenchUser[]> {
  const prepared: BenchUser[] = [];
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const user = users[next++]!;
      const { accessToken } = await mutation<{ accessToken: string }>(origin, 'auth.login', {
        username: user.username,
        password: BENCH_PASSWORD,
      });
      let cursor: string | null = null;
      for (let page = 0; page < pages; page++) {
        const result: { nextCursor: string | null } = await query(
          origin,
          'posts.timeline',
          { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
          accessToken,
        );
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      prepared.push({ ...user, accessToken, deepCursor: cursor });
      onProgress(prepared.length);
    }
  };
  // bcrypt dominates (a cost-4 hash is redone at the server's cost on first login): the server's
  // cores are the limit, so a few at a time are enough.
  await Promise.all(Array.from({ length: 4 }, worker));
  return prepared.sort((a, b) => a.username.localeCompare(b.username));
}

/** Signs up `count` accounts for this run: their hashes have the server's bcrypt cost. */
export async function signUpLoginUsers(origin: string, count: number): Promise<LoginUser[]> {
  const users: LoginUser[] = [];
  const tag = randomBytes(4).toString('hex');
  for (let i = 0; i < count; i++) {
    const user = { username: `benchlogin_${tag}_${i}`, password: randomBytes(12).toString('base64url') };
    await mutation(origin, 'auth.signup', user);
    users.push(user);
  }
  return users;
}

/**
 * Takes out what the run wrote, so the next run measures the same data: the posts of
 * posts.create, the sessions of the fixture logins, and the login accounts (with their sessions).
 */
export async function cleanUp(em: EntityManager, since: Date, userIds: string[]) {
  const connection = em.getConnection();
  const removed = { posts: 0, sessions: 0, users: 0 };
  if (userIds.length) {
    const posts = await connection.execute(
      'delete from posts where author_id in (?) and created_at >= ?',
      [userIds, since],
      'run',
    );
    const sessions = await connection.execute(
      'delete from sessions where user_id in (?) and created_at >= ?',
      [userIds, since],
      'run',
    );
    removed.posts = (posts as { affectedRows?: number }).affectedRows ?? 0;
    removed.sessions = (sessions as { affectedRows?: number }).affectedRows ?? 0;
  }
  // Every login account, also those of an earlier run that was killed before it could clean up.
  const users = await connection.execute(`delete from users where username like 'benchlogin\\_%'`, [], 'run');
  removed.users = (users as { affectedRows?: number }).affectedRows ?? 0;
  // Deleted rows would otherwise leave dead index entries and pages that are not all-visible in
  // the timeline's index-only scans until autovacuum comes by.
  if (removed.posts) await connection.execute('vacuum (analyze) posts', [], 'run');
  return removed;
}
