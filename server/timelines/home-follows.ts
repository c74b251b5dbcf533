// What a follow or an unfollow changes in the follower's home timeline, inside the follow's own
// transaction (users/follow-queries.ts), so the follower's next read shows it. The locks are the
// ones home-writes.ts describes: this user's, then the author's, shared.
import type { EntityManager } from '@mikro-orm/postgresql';
import { AUTHOR_LOCK, USER_LOCK, type HomeSettings } from './home-writes.ts';

/** Takes the locks of a follow or unfollow of `authorId` by `userId` (inside its transaction). */
export async function lockForFollow(em: EntityManager, userId: string, authorId: string): Promise<void> {
  await em.execute(
    `select pg_advisory_xact_lock(${USER_LOCK}, hashtext(?::text)), pg_advisory_xact_lock_shared(${AUTHOR_LOCK}, hashtext(?::text))`,
    [userId, authorId],
  );
}

/**
 * After a follow: the author's newest `cap` posts at or above the follower's floor, into their home
 * timeline. If the author has more there, the floor rises to the oldest one copied: below it, this
 * author's posts are now missing.
 */
export async function backfill(em: EntityManager, settings: HomeSettings, userId: string, authorId: string) {
  await em.execute(
    `with x as (
       select p.created_at, p.id, row_number() over (order by p.created_at desc, p.id desc) as n
       from home_timelines h
       cross join lateral (
         select created_at, id from posts
         where author_id = ? and deleted_at is null
           and (h.floor_created_at is null or (created_at, id) >= (h.floor_created_at, h.floor_id))
         order by created_at desc, id desc limit ? + 1
       ) p
       where h.user_id = ? and not exists (select from home_merged_authors m where m.author_id = ?)
     ), copied as (
       insert into home_timeline_entries (user_id, created_at, post_id)
       select ?, created_at, id from x where n <= ?
       on conflict do nothing
     )
     update home_timelines s set floor_created_at = x.created_at, floor_id = x.id
     from x
     where s.user_id = ? and x.n = ? and exists (select from x where n > ?)
       and (s.floor_created_at is null or (x.created_at, x.id) > (s.floor_created_at, s.floor_id))`,
    [authorId, settings.cap, userId, authorId, userId, settings.cap, userId, settings.cap, settings.cap],
  );
}

/** After an unfollow: the author's posts out of the follower's home timeline. */
export async function removeAuthor(em: EntityManager, userId: string, authorId: string) {
  await em.execute(
    `delete from home_timeline_entries h using posts p
     where h.user_id = ? and p.id = h.post_id and p.author_id = ?`,
    [userId, authorId],
  );
}
