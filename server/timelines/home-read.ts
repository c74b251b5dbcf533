// A page of a home timeline, in one statement: the entries (what the fan-out wrote), the caller's
// own posts and the posts of followed authors that are merged at read time, newest first. It
// answers only when that page is known to be exactly the pull query's page (timeline.ts falls
// back otherwise); see docs/architecture.md, "Home timelines".
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';
import { PAGE_COLUMNS, toPostLike, type PostRow } from '../posts/post-queries.ts';
import type { PostLike } from '../posts/post.dto.ts';

export type HomePage =
  /** No built home timeline: the caller takes the pull query, and a build may be asked for. */
  | { kind: 'unbuilt' }
  /** Built, but the page reaches below the floor, where entries may be missing. */
  | { kind: 'below floor' }
  | { kind: 'page'; posts: PostLike[]; readAt: Date };

interface Row extends Partial<PostRow> {
  floor_created_at: Date | string | null;
  floor_id: string | null;
  read_at: Date | string;
}

const before = (alias: string, after: Position | undefined) =>
  after ? `and (${alias}.created_at, ${alias}.${alias === 'h' ? 'post_id' : 'id'}) < ($3::timestamptz, $4::uuid)` : '';

// Three parts, each an index scan that stops after `count` rows: the entries (the primary key
// backwards, skipping deleted posts and accounts, and merged authors' posts, which the third part
// reads), the caller's own posts and the merged authors' (posts_author_live_recent). The parts are
// disjoint, so one top-N merge of them is the page. When the entries alone fill a page, the other
// two need nothing older than its oldest entry (`edge`): most merged authors then read no row.
const sql = (after: Position | undefined) => `
  with state as (
    select floor_created_at, floor_id, read_at from home_timelines where user_id = $1 and built_at is not null
  ), entries as materialized (
    select h.created_at, h.post_id as id
    from home_timeline_entries h
    join posts p on p.id = h.post_id and p.deleted_at is null
    join users u on u.id = p.author_id and u.deleted_at is null
    where h.user_id = $1 ${before('h', after)} and exists (select from state)
      and not exists (select from home_merged_authors m where m.author_id = p.author_id)
    order by h.created_at desc, h.post_id desc
    limit $2
  ), edge as (
    select coalesce((select min(created_at) from entries having count(*) = $2), '-infinity') as created_at
  ), picked as (
    select created_at, id from entries
    union all
    (select created_at, id from posts
     where author_id = $1 and deleted_at is null ${before('posts', after)}
       and created_at >= (select created_at from edge) and exists (select from state)
     order by created_at desc, id desc
     limit $2)
    union all
    (select x.created_at, x.id
     from home_merged_authors m
     join follows f on f.follower_id = $1 and f.followee_id = m.author_id
     cross join lateral (
       select created_at, id from posts
       where author_id = m.author_id and deleted_at is null ${before('posts', after)}
         and created_at >= (select created_at from edge)
       order by created_at desc, id desc
       limit $2
     ) x
     where exists (select from state))
  ), page as (
    select created_at, id from picked order by created_at desc, id desc limit $2
  )
  select s.floor_created_at, s.floor_id, s.read_at, ${PAGE_COLUMNS}
  from state s
  left join (page join posts p on p.id = page.id join users u on u.id = p.author_id and u.deleted_at is null) on true
  order by page.created_at desc, page.id desc`;

const sqlFirst = sql(undefined);
const sqlAfter = sql({ createdAt: new Date(0), id: '' });

/** `count` posts of `viewerId`'s home timeline after `after`, if the home timeline can answer. */
export async function readHomePage(
  em: EntityManager,
  viewerId: string,
  after: Position | undefined,
  count: number,
): Promise<HomePage> {
  const params = after ? [viewerId, count, after.createdAt, after.id] : [viewerId, count];
  const pool = await em.getConnection().getNativeClient();
  // Named, so each connection parses and plans it once: planning this statement costs more than
  // running it (~1.4 ms against ~0.3 ms at the bench scale).
  const rows = (
    await pool.query<Row>({
      name: after ? 'home-page-after' : 'home-page-first',
      text: after ? sqlAfter : sqlFirst,
      values: params,
    })
  ).rows;
  const state = rows[0];
  if (!state) return { kind: 'unbuilt' };
  const posts = rows.filter((row): row is Row & PostRow => row.id != null).map(toPostLike);
  const readAt = new Date(state.read_at);
  if (state.floor_created_at === null || state.floor_id === null) return { kind: 'page', posts, readAt };
  // Entries are complete at and above the floor only: the page stands if its last post is there.
  const last = posts.at(-1);
  if (posts.length < count || !last) return { kind: 'below floor' };
  const floorAt = new Date(state.floor_created_at).getTime();
  const lastAt = last.createdAt.getTime();
  const above = lastAt > floorAt || (lastAt === floorAt && last.id >= state.floor_id);
  return above ? { kind: 'page', posts, readAt } : { kind: 'below floor' };
}
