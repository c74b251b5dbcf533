// The list queries of posts, in SQL because their shape is the point: each is a keyset page that
// PostgreSQL answers from the partial index posts_author_live_recent (see post.entity.ts) without
// reading posts that are not on the page (timelines of heavy followers use posts_live_recent
// instead, see timelinePosts). Raw SQL bypasses the ORM's soft-delete filters, so each
// query says itself that it wants live posts (`p.deleted_at is null`) of live accounts
// (`u.deleted_at is null`, in AUTHOR_JOIN).
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';
import type { PostLike } from './post.dto.ts';

export interface PostRow {
  id: string;
  body: string;
  created_at: Date | string;
  author_id: string;
  author_username: string;
  author_display_name: string | null;
}

export const toPostLike = (row: PostRow): PostLike => ({
  id: row.id,
  body: row.body,
  createdAt: new Date(row.created_at),
  author: { id: row.author_id, username: row.author_username, displayName: row.author_display_name },
});

const before = (alias: string, after: Position | undefined) =>
  after ? `and (${alias}.created_at, ${alias}.id) < (?::timestamptz, ?::uuid)` : '';
const beforeParams = (after: Position | undefined) => (after ? [after.createdAt, after.id] : []);

// A viewer who follows this many authors or more is served newest-first from all live posts
// (posts_live_recent), keeping those by followed authors: with thousands of followed authors,
// one index probe per author (the per-author query) costs more than reading past the posts of
// the unfollowed. Measured at 1M posts (docs/benchmarks.md), following 3,589 authors: 31 ms with the
// per-author query, 1.8 ms newest-first.
const HEAVY_FOLLOWER = 1000;
// How many of the newest posts the newest-first query may read before giving up, which bounds its
// cost (about 3.5 ms at 1M posts) when the followed authors are quiet and their posts sparse.
const NEWEST_SCAN_LIMIT = 10_000;

export const PAGE_COLUMNS = `p.id, p.body, p.created_at, u.id as author_id, u.username as author_username,
  u.display_name as author_display_name`;
// The author, if their account is live. Timelines never meet a deleted account's posts anyway (its
// follows went with it), but no list of posts relies on that.
const AUTHOR_JOIN = 'join users u on u.id = p.author_id and u.deleted_at is null';

/**
 * The viewer's and followed users' live posts, newest first, `count` of them after `after`.
 * Most viewers: the per-author query. Viewers following HEAVY_FOLLOWER authors or more: the
 * newest-first query, and the per-author one only when that gives up before filling the page
 * (which it also does on a timeline's last page). Both return exactly the same page.
 */
export async function timelinePosts(em: EntityManager, viewerId: string, after: Position | undefined, count: number) {
  if (await followsAtLeast(em, viewerId, HEAVY_FOLLOWER)) {
    const newest = await timelineNewestFirst(em, viewerId, after, count);
    if (newest.length === count) return newest.map(toPostLike);
  }
  return (await timelinePerAuthor(em, viewerId, after, count)).map(toPostLike);
}

async function followsAtLeast(em: EntityManager, viewerId: string, count: number): Promise<boolean> {
  const [row] = await em
    .getConnection()
    .execute<{ n: number }[]>(
      'select count(*)::int as n from (select 1 from follows where follower_id = ? limit ?) f',
      [viewerId, count],
    );
  return (row?.n ?? 0) >= count;
}

/**
 * Two phases: first the (created_at, id) of the winners, taking at most `count` from each author
 * by an index-only scan and keeping the best `count`; then the bodies and authors of those only.
 * The cost follows the number of followed authors, not the number of their posts.
 */
function timelinePerAuthor(em: EntityManager, viewerId: string, after: Position | undefined, count: number) {
  return em.getConnection().execute<PostRow[]>(
    `with authors as (
       select followee_id as author_id from follows where follower_id = ?
       union all select ?::uuid
     ), page as (
       select p.id, p.created_at
       from authors a
       cross join lateral (
         select id, created_at from posts
         where author_id = a.author_id and deleted_at is null ${before('posts', after)}
         order by created_at desc, id desc
         limit ?
       ) p
       order by p.created_at desc, p.id desc
       limit ?
     )
     select ${PAGE_COLUMNS}
     from page
     join posts p on p.id = page.id
     ${AUTHOR_JOIN}
     order by page.created_at desc, page.id desc`,
    [viewerId, viewerId, ...beforeParams(after), count, count],
  );
}

/**
 * Reads the newest live posts (at most NEWEST_SCAN_LIMIT, index-only) and keeps the viewer's and
 * followed authors' ones, which PostgreSQL checks against a hash of the followed ids. Returns fewer
 * than `count` when the limit or the end of all posts comes first.
 */
function timelineNewestFirst(em: EntityManager, viewerId: string, after: Position | undefined, count: number) {
  return em.getConnection().execute<PostRow[]>(
    `select ${PAGE_COLUMNS}
     from (
       select id, created_at, author_id from posts
       where deleted_at is null ${before('posts', after)}
       order by created_at desc, id desc
       limit ?
     ) newest
     join posts p on p.id = newest.id
     ${AUTHOR_JOIN}
     where newest.author_id = ? or newest.author_id in (select followee_id from follows where follower_id = ?)
     order by newest.created_at desc, newest.id desc
     limit ?`,
    [...beforeParams(after), NEWEST_SCAN_LIMIT, viewerId, viewerId, count],
  );
}

/** One author's live posts, newest first, `count` of them after `after`. */
export async function postsByAuthor(em: EntityManager, authorId: string, after: Position | undefined, count: number) {
  const rows = await em.getConnection().execute<PostRow[]>(
    `select ${PAGE_COLUMNS}
     from posts p
     ${AUTHOR_JOIN}
     where p.author_id = ? and p.deleted_at is null ${before('p', after)}
     order by p.created_at desc, p.id desc
     limit ?`,
    [authorId, ...beforeParams(after), count],
  );
  return rows.map(toPostLike);
}

/**
 * Undoes the author's own delete of `postId` if it happened within `windowSeconds` (by the
 * database's clock); the post keeps its id and created_at, so it returns to its old place in every
 * list. Null when nothing was restored.
 */
export async function restorePost(em: EntityManager, postId: string, authorId: string, windowSeconds: number) {
  const [row] = await em.getConnection().execute<PostRow[]>(
    `update posts p set deleted_at = null
     from users u
     where p.id = ? and p.author_id = ? and p.deleted_at > now() - make_interval(secs => ?)
       and u.id = p.author_id and u.deleted_at is null
     returning ${PAGE_COLUMNS}`,
    [postId, authorId, windowSeconds],
  );
  return row ? toPostLike(row) : null;
}
