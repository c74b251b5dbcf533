// The list queries of posts, in SQL because their shape is the point: each is a keyset page that
// PostgreSQL answers from the partial index posts_author_live_recent (see post.entity.ts) without
// reading posts that are not on the page. Raw SQL bypasses the ORM's soft-delete filter, so each
// query says `deleted_at is null` itself.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';
import type { PostLike } from './post.dto.ts';

interface PostRow {
  id: string;
  body: string;
  created_at: Date | string;
  author_id: string;
  author_username: string;
}

const toPostLike = (row: PostRow): PostLike => ({
  id: row.id,
  body: row.body,
  createdAt: new Date(row.created_at),
  author: { id: row.author_id, username: row.author_username },
});

const before = (alias: string, after: Position | undefined) =>
  after ? `and (${alias}.created_at, ${alias}.id) < (?::timestamptz, ?::uuid)` : '';
const beforeParams = (after: Position | undefined) => (after ? [after.createdAt, after.id] : []);

/**
 * The viewer's and followed users' live posts, newest first, `count` of them after `after`.
 * Two phases: first the (created_at, id) of the winners, taking at most `count` from each author
 * by an index-only scan and keeping the best `count`; then the bodies and authors of those only.
 * The cost follows the number of followed authors, not the number of their posts.
 */
export async function timelinePosts(em: EntityManager, viewerId: string, after: Position | undefined, count: number) {
  const rows = await em.getConnection().execute<PostRow[]>(
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
     select p.id, p.body, p.created_at, u.id as author_id, u.username as author_username
     from page
     join posts p on p.id = page.id
     join users u on u.id = p.author_id
     order by page.created_at desc, page.id desc`,
    [viewerId, viewerId, ...beforeParams(after), count, count],
  );
  return rows.map(toPostLike);
}

/** One author's live posts, newest first, `count` of them after `after`. */
export async function postsByAuthor(em: EntityManager, authorId: string, after: Position | undefined, count: number) {
  const rows = await em.getConnection().execute<PostRow[]>(
    `select p.id, p.body, p.created_at, u.id as author_id, u.username as author_username
     from posts p
     join users u on u.id = p.author_id
     where p.author_id = ? and p.deleted_at is null ${before('p', after)}
     order by p.created_at desc, p.id desc
     limit ?`,
    [authorId, ...beforeParams(after), count],
  );
  return rows.map(toPostLike);
}
