import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from '@mikro-orm/core';
import { z } from 'zod';
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

/**
 * The public view of a user. Posts and follows arrive with the social features (issue #4); until
 * then nobody has any, so the counts are 0.
 */
export function toProfile(user: User): Profile {
  return {
    id: user.id,
    username: user.username,
    createdAt: user.createdAt.toISOString(),
    followersCount: 0,
    followingCount: 0,
    postsCount: 0,
    followedByMe: false,
  };
}
