import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { decodeCursor, pageInput, toPage } from '../pagination/cursor.ts';
import { optionalAuthProcedure, protectedProcedure, publicProcedure, router, unauthorized } from '../trpc/init.ts';
import type { Context } from '../trpc/context.ts';
import { Follow } from './follow.entity.ts';
import { follow, followList } from './follow-queries.ts';
import { findUserByUsername, loadProfile, profileInput, updateProfile, usernameSchema } from './profile.ts';

const usernameInput = z.strictObject({ username: usernameSchema });

const userNotFound = () => new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });

async function userNamed(ctx: Context, username: string) {
  const user = await findUserByUsername(ctx.em, username);
  if (!user) throw userNotFound();
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
    const outcome = await follow(ctx.em, ctx.user.id, followee.id);
    // The caller's account went a moment ago (their token was still cached): the token is void.
    if (outcome === 'no follower') {
      ctx.viewers.forget({ userId: ctx.user.id });
      throw unauthorized();
    }
    if (outcome === 'no followee') throw userNotFound();
    return { following: true as const };
  }),

  unfollow: protectedProcedure.input(usernameInput).mutation(async ({ ctx, input }) => {
    const followee = await userNamed(ctx, input.username);
    await ctx.em.nativeDelete(Follow, { follower: ctx.user.id, followee: followee.id });
    return { following: false as const };
  }),

  profile: optionalAuthProcedure.input(usernameInput).query(async ({ ctx, input }) => {
    const profile = await loadProfile(ctx.em, { username: input.username }, ctx.user?.id);
    if (!profile) throw userNotFound();
    return profile;
  }),

  updateProfile: protectedProcedure.input(profileInput).mutation(async ({ ctx, input }) => {
    if (!(await updateProfile(ctx.em, ctx.user.id, input))) throw unauthorized();
    // Cached callers carry their display name (posts.create answers with it): every process
    // forgets this user's, through the revocation channel. Their sessions stay valid; the next
    // call just reads them again.
    await ctx.viewers.revoked(ctx.em, { userId: ctx.user.id });
    const profile = await loadProfile(ctx.em, { id: ctx.user.id }, ctx.user.id);
    if (!profile) throw unauthorized();
    return profile;
  }),

  followers: followListProcedure('followers'),
  following: followListProcedure('following'),
});
