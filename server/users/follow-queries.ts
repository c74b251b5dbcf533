// Follower and following lists as keyset pages over follows(created_at, other user's id), served
// by the follows_followee_recent / follows_follower_recent indexes.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';

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
     join users u on u.id = f.${theirs}
     where f.${mine} = ? ${after ? `and (f.created_at, f.${theirs}) < (?::timestamptz, ?::uuid)` : ''}
     order by f.created_at desc, f.${theirs} desc
     limit ?`,
    [userId, ...(after ? [after.createdAt, after.id] : []), count],
  );
  return rows.map((row) => ({ id: row.id, username: row.username, createdAt: new Date(row.created_at) }));
}
