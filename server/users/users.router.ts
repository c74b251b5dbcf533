import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { decodeCursor, pageInput, toPage } from '../pagination/cursor.ts';
import { optionalAuthProcedure, protectedProcedure, publicProcedure, router } from '../trpc/init.ts';
import type { Context } from '../trpc/context.ts';
import { Follow } from './follow.entity.ts';
import { followList } from './follow-queries.ts';
import { findUserByUsername, loadProfile, usernameSchema } from './profile.ts';

const usernameInput = z.strictObject({ username: usernameSchema });

async function userNamed(ctx: Context, username: string) {
  const user = await findUserByUsername(ctx.em, username);
  if (!user) throw new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });
  return user;
}

const followListProcedure = (direction: 'followers' | 'following') =>
  publicProcedure.input(z.strictObject({ username: usernameSchema, ...pageInput })).query(async ({ ctx, input }) => {
    const user = await userNamed(ctx, input.username);
    const list = `${direction}:${user.id}`;
    const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
    const rows = await followList(ctx.em, direction, user.id, after, input.limit + 1);
    return toPage(rows, input.limit, list, (row) => ({ id: row.id, username: row.username }));
  });

export const usersRouter = router({
  follow: protectedProcedure.input(usernameInput).mutation(async ({ ctx, input }) => {
    const followee = await userNamed(ctx, input.username);
    if (followee.id === ctx.user.id)
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'You cannot follow yourself' });
    // Idempotent and race-free: a second (or concurrent) follow finds the pair and does nothing.
    await ctx.em
      .createQueryBuilder(Follow)
      .insert({ follower: ctx.user.id, followee: followee.id, createdAt: new Date() })
      .onConflict(['follower', 'followee'])
      .ignore()
      .execute();
    return { following: true as const };
  }),

  unfollow: protectedProcedure.input(usernameInput).mutation(async ({ ctx, input }) => {
    const followee = await userNamed(ctx, input.username);
    await ctx.em.nativeDelete(Follow, { follower: ctx.user.id, followee: followee.id });
    return { following: false as const };
  }),

  profile: optionalAuthProcedure.input(usernameInput).query(async ({ ctx, input }) => {
    const profile = await loadProfile(ctx.em, { username: input.username }, ctx.user?.id);
    if (!profile) throw new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });
    return profile;
  }),

  followers: followListProcedure('followers'),
  following: followListProcedure('following'),
});
