// What a success must look like (strict: no field may come along that the contract lacks).
import { z } from 'zod';
import { fieldOf } from './input-text.ts';

export const isoDate = z.string().refine((value) => !Number.isNaN(Date.parse(value)) && value.endsWith('Z'));
export const id = z.string().min(1);
export const userRef = z.strictObject({ id, username: z.string() });
/** A name to show instead of the username, when its owner chose one (users.updateProfile). */
const displayName = z.string().min(1).nullable();
export const postDto = z.strictObject({
  id,
  body: z.string(),
  createdAt: isoDate,
  author: z.strictObject({ id, username: z.string(), displayName }),
});
export const page = <T extends z.ZodType>(item: T) =>
  z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });
export const profile = z.strictObject({
  id,
  username: z.string(),
  displayName,
  bio: z.string(),
  createdAt: isoDate,
  followersCount: z.number().int().min(0),
  followingCount: z.number().int().min(0),
  postsCount: z.number().int().min(0),
  followedByMe: z.boolean(),
});
export const tokenPair = z.strictObject({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().positive(),
  user: userRef,
});

/** A page holds at most the items its input asked for (20 when it did not say). */
const limitOf = (input: unknown) => {
  const limit = fieldOf(input, 'limit');
  return typeof limit === 'number' ? limit : 20;
};
export const pageWithin = (input: unknown, data: unknown) => {
  const items = (data as { items: unknown[] }).items;
  return items.length <= limitOf(input) ? undefined : `page of ${items.length} items for limit ${limitOf(input)}`;
};
