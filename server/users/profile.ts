import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '@mikro-orm/core';
import { z } from 'zod';
import { Post } from '../posts/post.entity.ts';
import { Follow } from './follow.entity.ts';
import { User } from './user.entity.ts';

export const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_]{3,32}$/, { error: 'must be 3–32 characters of A–Z, a–z, 0–9 and _' });

/** Usernames are unique case-insensitively, and found the same way. */
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
  createdAt: string;
  followersCount: number;
  followingCount: number;
  postsCount: number;
  followedByMe: boolean;
}

/** The public view of a user, with counts of live posts and of follows. */
export async function loadProfile(em: EntityManager, user: User, viewerId: string | undefined): Promise<Profile> {
  // Counting through the ORM applies the soft-delete filter: deleted posts never count.
  const [followersCount, followingCount, postsCount, followedByMe] = await Promise.all([
    em.count(Follow, { followee: user.id }),
    em.count(Follow, { follower: user.id }),
    em.count(Post, { author: user.id }),
    viewerId && viewerId !== user.id ? em.count(Follow, { follower: viewerId, followee: user.id }) : 0,
  ]);
  return {
    id: user.id,
    username: user.username,
    createdAt: user.createdAt.toISOString(),
    followersCount,
    followingCount,
    postsCount,
    followedByMe: followedByMe > 0,
  };
}
