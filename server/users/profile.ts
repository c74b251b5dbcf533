import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '@mikro-orm/core';
import { z } from 'zod';
import { userText } from '../text.ts';
import { User } from './user.entity.ts';

export const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_]{3,32}$/, { error: 'must be 3–32 characters of A–Z, a–z, 0–9 and _' });

// users.updateProfile: the same text rules as post bodies. A display name is removed with null
// (an empty one would look like a missing name); a bio may be empty.
export const profileInput = z.strictObject({
  displayName: userText({ min: 1, max: 50 }).nullable().optional(),
  bio: userText({ min: 0, max: 160 }).optional(),
});

/** Usernames are unique case-insensitively, and found the same way. Deleted accounts are not found. */
export function findUserByUsername(em: EntityManager, username: string, options: { withPassword?: boolean } = {}) {
  return em.findOne(
    User,
    { [sql.lower('username')]: username.toLowerCase() },
    options.withPassword ? { populate: ['passwordHash'] } : {},
  );
}

export interface Profile {
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

interface ProfileRow {
  id: string;
  username: string;
  display_name: string | null;
  bio: string;
  created_at: Date | string;
  followers_count: number;
  following_count: number;
  posts_count: number;
  followed_by_me: boolean;
}

/**
 * The public view of a user, with counts of live posts and of follows; null if there is no such
 * user (or it was deleted). One statement (one round trip, one connection): a profile is read on
 * every visit to a page, and each count is an index-only scan.
 */
export async function loadProfile(
  em: EntityManager,
  who: { username: string } | { id: string },
  viewerId: string | undefined,
): Promise<Profile | null> {
  const [row] = await em.getConnection().execute<ProfileRow[]>(
    `select u.id, u.username, u.display_name, u.bio, u.created_at,
       -- The follows of a deleted account are deleted with it (auth/accounts.ts), in both
       -- directions, so counting follows needs no join to users.
       (select count(*)::int from follows where followee_id = u.id) as followers_count,
       (select count(*)::int from follows where follower_id = u.id) as following_count,
       -- Raw SQL skips the ORM's soft-delete filters: deleted posts and accounts are left out here.
       (select count(*)::int from posts where author_id = u.id and deleted_at is null) as posts_count,
       exists (select 1 from follows where follower_id = ? and followee_id = u.id) as followed_by_me
     from users u
     where ${'id' in who ? 'u.id = ?' : 'lower(u.username) = ?'} and u.deleted_at is null`,
    // A viewer never follows themself (follows_not_self), so followedByMe is false on one's own profile.
    [viewerId ?? null, 'id' in who ? who.id : who.username.toLowerCase()],
  );
  if (!row) return null;
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    bio: row.bio,
    createdAt: new Date(row.created_at).toISOString(),
    followersCount: row.followers_count,
    followingCount: row.following_count,
    postsCount: row.posts_count,
    followedByMe: row.followed_by_me,
  };
}

/** Sets the given fields of a live account; false when there is none (deleted meanwhile). */
export async function updateProfile(em: EntityManager, userId: string, fields: z.output<typeof profileInput>) {
  const changes = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  if (Object.keys(changes).length === 0) return (await em.count(User, { id: userId })) === 1;
  return (await em.nativeUpdate(User, { id: userId }, changes)) === 1;
}
