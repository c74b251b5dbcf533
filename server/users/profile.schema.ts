// The answers of the users procedures (and auth.me) as zod schemas; the types are in profile.ts.
// tRPC checks every answer against them, the OpenAPI document describes the REST routes with them.
// No transforms or refinements: users.profile is read on every visit to a page.
import { z } from 'zod';
import { pageOf } from '../pagination/page.schema.ts';

const count = z.int().nonnegative();
// ISO-8601 in UTC (toISOString): documented as a date-time, not checked as one (cheaper).
const timestamp = z.string().meta({ format: 'date-time' });

/** The contract's `Profile`. */
export const profileSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    displayName: z.string().nullable(),
    bio: z.string(),
    createdAt: timestamp,
    followersCount: count,
    followingCount: count,
    postsCount: count,
    followedByMe: z.boolean().meta({ description: 'false without a token, and on one’s own profile' }),
  })
  .meta({ id: 'Profile' });

export const userSummarySchema = z.object({ id: z.string(), username: z.string() }).meta({ id: 'UserSummary' });

/** users.followers / users.following: most recent follow first. */
export const userPageSchema = pageOf(userSummarySchema, 'UserPage');

export const followedSchema = z.object({ following: z.literal(true) });
export const unfollowedSchema = z.object({ following: z.literal(false) });
