// Shared helpers for the social tests (follows, profiles, posts, timelines). Each section says
// which tests use it; add new helpers in a section of their own.
import pg from 'pg';
import { expect } from 'vitest';
import { signupAndLogin } from './auth.ts';
import { mutate, query, type CallOptions, type TrpcResult } from './trpc.ts';

// ---------------------------------------------------------------------------------------------
// users.* callers and follow-table inspection (used by test/users.test.ts)
// ---------------------------------------------------------------------------------------------

/** The contract's `Profile`, as users.profile (and auth.me) answer it. */
export interface UserProfile {
  id: string;
  username: string;
  displayName: string | null;
  bio: string;
  createdAt: string;
  followersCount: number;
  followingCount: number;
  postsCount: number;
  followedByMe: boolean;
}

export interface UserRef {
  id: string;
  username: string;
}

export interface UserPage {
  items: UserRef[];
  nextCursor: string | null;
}

export interface FollowListInput {
  username: string;
  cursor?: string | null;
  limit?: number;
}

export const followUser = (url: string, username: string, token?: string) =>
  mutate<{ following: boolean }>(url, 'users.follow', { username }, token ? { token } : {});

export const unfollowUser = (url: string, username: string, token?: string) =>
  mutate<{ following: boolean }>(url, 'users.unfollow', { username }, token ? { token } : {});

export const userProfile = (url: string, username: string, options: CallOptions = {}) =>
  query<UserProfile>(url, 'users.profile', { username }, options);

/** users.followers or users.following; `input` is sent as given (extra keys included). */
export const followList = (url: string, which: 'followers' | 'following', input: FollowListInput) =>
  query<UserPage>(url, `users.${which}`, input);

export interface FollowRow {
  follower_id: string;
  followee_id: string;
  created_at: Date;
}

/** Rows of `follows` matching the given ends, read on a connection of its own. */
export async function followRows(databaseUrl: string, where: { follower?: string; followee?: string }) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<FollowRow>(
      `select * from follows
       where ($1::uuid is null or follower_id = $1) and ($2::uuid is null or followee_id = $2)
       order by created_at desc`,
      [where.follower ?? null, where.followee ?? null],
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** Moves follows of `followee` to the given times (follower id → time), e.g. to make ties. */
export async function setFollowTimes(databaseUrl: string, followee: string, times: Map<string, Date>) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `update follows f set created_at = t.at
       from unnest($2::uuid[], $3::timestamptz[]) as t(follower, at)
       where f.followee_id = $1 and f.follower_id = t.follower`,
      [followee, [...times.keys()], [...times.values()]],
    );
  } finally {
    await client.end();
  }
}

/** A new user, logged in, with its access token alongside. */
export async function signedInUser(url: string) {
  const { user, tokens } = await signupAndLogin(url);
  return { ...user, token: tokens.accessToken };
}

/** Asserts a tRPC failure with this HTTP status and `error.data.code`, and no data. */
export function expectTrpcError(result: TrpcResult<unknown>, status: number, code: string) {
  expect(result.data).toBeUndefined();
  expect(result.status).toBe(status);
  expect(result.error?.data.code).toBe(code);
}

// ---------------------------------------------------------------------------------------------
// posts.* callers, paging and post-table inspection (used by test/posts.test.ts and
// test/timeline.test.ts)
// ---------------------------------------------------------------------------------------------

/** Who wrote a post, as every `Post` shows it. */
export interface PostAuthor extends UserRef {
  displayName: string | null;
}

/** The contract's `Post`. */
export interface PostDto {
  id: string;
  body: string;
  createdAt: string;
  author: PostAuthor;
}

/** The contract's `Page<Post>`. */
export interface PostPage {
  items: PostDto[];
  nextCursor: string | null;
}

export interface PageInput {
  cursor?: string | null;
  limit?: number;
  direction?: 'forward';
}

const asCaller = (token?: string): CallOptions => (token ? { token } : {});

/** The data of a call that must have succeeded; otherwise the test fails with what the server said. */
export function succeeded<T>(result: TrpcResult<T>): T {
  expect(result.error, `expected success, got ${result.status} ${result.text}`).toBeUndefined();
  expect(result.status).toBe(200);
  return result.data!;
}

/** posts.create with any input (extra keys included), as given. */
export const createPostCall = (url: string, input: unknown, token?: string) =>
  mutate<PostDto>(url, 'posts.create', input, asCaller(token));

/** A post that must be created. */
export const createPost = async (url: string, token: string, body: string) =>
  succeeded(await createPostCall(url, { body }, token));

export const deletePost = (url: string, id: string, token?: string) =>
  mutate<{ id: string; deletedAt: string }>(url, 'posts.delete', { id }, asCaller(token));

export const postById = (url: string, id: string, token?: string) =>
  query<PostDto>(url, 'posts.byId', { id }, asCaller(token));

export const timeline = (url: string, token: string | undefined, input?: PageInput) =>
  query<PostPage>(url, 'posts.timeline', input, asCaller(token));

export const postsByUser = (url: string, username: string, input: PageInput = {}, token?: string) =>
  query<PostPage>(url, 'posts.byUser', { username, ...input }, asCaller(token));

/** `token`'s user follows `username`; must succeed. */
export async function follow(url: string, token: string, username: string) {
  expect(succeeded(await followUser(url, username, token))).toEqual({ following: true });
}

/**
 * Follows nextCursor from the first page to the last (nextCursor null) and returns every page.
 * Fails on a refused page, and on a list that never ends.
 */
export async function readAllPages(
  readPage: (cursor: string | undefined) => Promise<TrpcResult<PostPage>>,
  maxPages = 100,
): Promise<PostPage[]> {
  const pages: PostPage[] = [];
  let cursor: string | undefined;
  do {
    const page = succeeded(await readPage(cursor));
    pages.push(page);
    cursor = page.nextCursor ?? undefined;
    if (pages.length > maxPages) throw new Error(`readAllPages: still more after ${maxPages} pages`);
  } while (cursor);
  return pages;
}

/**
 * The order of every list of posts: newest first, ties broken by id, descending. PostgreSQL orders
 * uuids by their bytes, which is the order of their lowercase hex text.
 */
export const newestFirst = (a: PostDto, b: PostDto) =>
  Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export const idsOf = (posts: PostDto[]) => posts.map((post) => post.id);

export interface PostRow {
  id: string;
  author_id: string;
  body: string;
  created_at: Date;
  deleted_at: Date | null;
}

/** The `posts` row of a post, deleted or not, read on a connection of its own. */
export async function postRow(databaseUrl: string, id: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<PostRow>('select * from posts where id = $1', [id])).rows[0];
  } finally {
    await client.end();
  }
}

/** Posts by one author, one after the other, so each is newer than the one before. */
export async function postsInOrder(url: string, token: string, bodies: string[]) {
  const posts: PostDto[] = [];
  for (const body of bodies) posts.push(await createPost(url, token, body));
  return posts;
}

/** `count` posts by `authors` in turn, all sent at once (so several may share a millisecond). */
export const burstOfPosts = (url: string, authors: { token: string }[], count: number) =>
  Promise.all(
    Array.from({ length: count }, (_, i) => createPost(url, authors[i % authors.length]!.token, `burst ${i}`)),
  );

/** `cursor` with the character at `index` replaced by another one of the base64url alphabet. */
const flipped = (cursor: string, index: number) =>
  `${cursor.slice(0, index)}${cursor[index] === 'A' ? 'B' : 'A'}${cursor.slice(index + 1)}`;

/** Hand-damaged versions of a good `<payload>.<checksum>` cursor: each must be refused. */
export function damagedCursors(cursor: string): string[] {
  const dot = cursor.indexOf('.');
  expect(dot).toBeGreaterThan(0);
  return [
    flipped(cursor, 0),
    flipped(cursor, Math.floor(dot / 2)),
    flipped(cursor, dot - 1),
    flipped(cursor, dot + 1),
    flipped(cursor, cursor.length - 1),
    cursor.slice(0, -1),
    `${cursor}A`,
    cursor.replace('.', ''),
    `${cursor}.${cursor.slice(dot + 1)}`,
    'garbage',
  ];
}

// ---------------------------------------------------------------------------------------------
// Accounts (#15): users.updateProfile, posts.restore, auth.deleteAccount (used by
// test/profiles.test.ts, test/post-restore.test.ts and test/deleted-account-reads.test.ts)
// ---------------------------------------------------------------------------------------------

/** users.updateProfile with any input (extra keys included), as given. */
export const updateProfileCall = (url: string, input: unknown, token?: string) =>
  mutate<UserProfile>(url, 'users.updateProfile', input, asCaller(token));

/** auth.me: the caller's `Profile`. */
export const myProfile = (url: string, token: string) => query<UserProfile>(url, 'auth.me', undefined, { token });

export const restorePostCall = (url: string, id: string, token?: string) =>
  mutate<PostDto>(url, 'posts.restore', { id }, asCaller(token));

export const deleteAccountCall = (url: string, token: string, password: string) =>
  mutate<{ deleted: true }>(url, 'auth.deleteAccount', { password }, { token });

/** Every page of a list of posts, as ids page by page (`limit` each). */
export const pagedIds = async (readPage: (cursor: string | undefined) => Promise<TrpcResult<PostPage>>) =>
  (await readAllPages(readPage)).map((page) => idsOf(page.items));

/** Polls `probe` until it is true; fails after `ms`. For what reaches other processes by NOTIFY. */
export async function eventually(probe: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
