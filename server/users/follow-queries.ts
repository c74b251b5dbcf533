// Follower and following lists as keyset pages over follows(created_at, other user's id), served
// by the follows_followee_recent / follows_follower_recent indexes; and the one way follows are made.
// Raw SQL skips the ORM's filter of deleted accounts: each statement says it itself.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';
import { backfill, lockForFollow, removeAuthor } from '../timelines/home-follows.ts';
import type { HomeSettings } from '../timelines/home-writes.ts';

export interface FollowRow extends Position {
  username: string;
}

interface Row {
  id: string;
  username: string;
  created_at: Date | string;
}

/** `direction` "followers": who follows `userId`; "following": whom `userId` follows. */
export async function followList(
  em: EntityManager,
  direction: 'followers' | 'following',
  userId: string,
  after: Position | undefined,
  count: number,
): Promise<FollowRow[]> {
  const [mine, theirs] = direction === 'followers' ? ['followee_id', 'follower_id'] : ['follower_id', 'followee_id'];
  const rows = await em.getConnection().execute<Row[]>(
    `select u.id, u.username, f.created_at
     from follows f
     join users u on u.id = f.${theirs} and u.deleted_at is null
     where f.${mine} = ? ${after ? `and (f.created_at, f.${theirs}) < (?::timestamptz, ?::uuid)` : ''}
     order by f.created_at desc, f.${theirs} desc
     limit ?`,
    [userId, ...(after ? [after.createdAt, after.id] : []), count],
  );
  return rows.map((row) => ({ id: row.id, username: row.username, createdAt: new Date(row.created_at) }));
}

/**
 * `followerId` follows `followeeId`, if both accounts are live (idempotent); says which one is
 * missing otherwise. FOR SHARE makes it race-free against auth.deleteAccount: a follow that
 * arrives while an account is being deleted waits for that to commit and then finds the account
 * gone, and one that locked first makes the deletion wait and then delete the new row with the
 * others (auth/accounts.ts). In the same transaction, the followee's recent posts go into the
 * follower's home timeline, if they have one (timelines/home-writes.ts: why the locks first).
 */
export async function follow(
  em: EntityManager,
  followerId: string,
  followeeId: string,
  home: HomeSettings,
): Promise<'following' | 'no follower' | 'no followee'> {
  return em.transactional(async (tx) => {
    await lockForFollow(tx, followerId, followeeId);
    const [row] = await tx.execute<{ live: string[] }[]>(
      `with pair as (
         select id from users where id in (?, ?) and deleted_at is null for share
       ), made as (
         insert into follows (follower_id, followee_id, created_at)
         select ?, ?, now() where (select count(*) from pair) = 2
         on conflict do nothing
       )
       select coalesce(array_agg(id::text), '{}') as live from pair`,
      [followerId, followeeId, followerId, followeeId],
    );
    const live = row?.live ?? [];
    if (!live.includes(followerId)) return 'no follower';
    if (!live.includes(followeeId)) return 'no followee';
    await backfill(tx, home, followerId, followeeId);
    return 'following';
  });
}

/** `followerId` stops following `followeeId` (idempotent), and their posts leave the home timeline. */
export async function unfollow(em: EntityManager, followerId: string, followeeId: string): Promise<void> {
  await em.transactional(async (tx) => {
    await lockForFollow(tx, followerId, followeeId);
    await tx.execute('delete from follows where follower_id = ? and followee_id = ?', [followerId, followeeId]);
    await removeAuthor(tx, followerId, followeeId);
  });
}
