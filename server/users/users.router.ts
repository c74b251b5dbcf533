import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { decodeCursor, pageInput, toPage } from '../pagination/cursor.ts';
import {
  fromReplica,
  optionalAuthProcedure,
  protectedProcedure,
  publicProcedure,
  router,
  unauthorized,
} from '../trpc/init.ts';
import type { Context } from '../trpc/context.ts';
import { follow, followList, unfollow } from './follow-queries.ts';
import { findUserByUsername, loadProfile, profileInput, updateProfile, usernameSchema } from './profile.ts';
import { followedSchema, profileSchema, unfollowedSchema, userPageSchema } from './profile.schema.ts';
import { rest } from '../rest/route-meta.ts';

const usernameInput = z.strictObject({ username: usernameSchema });

const userNotFound = () => new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });
// For the REST document (what the procedures below can refuse).
const NO_SUCH_USER = 'Unknown or deleted user';

async function userNamed(em: Context['em'], username: string) {
  const user = await findUserByUsername(em, username);
  if (!user) throw userNotFound();
  return user;
}

const followListProcedure = (direction: 'followers' | 'following') =>
  publicProcedure
    .use(fromReplica)
    .meta(
      rest(`GET /users/{username}/${direction}`, {
        summary: direction === 'followers' ? 'Who follows a user' : 'Whom a user follows',
        access: 'public',
        errors: { 404: NO_SUCH_USER },
      }),
    )
    .input(z.strictObject({ username: usernameSchema, ...pageInput }))
    .output(userPageSchema)
    .query(async ({ ctx, input }) => {
      const user = await userNamed(ctx.reader, input.username);
      const list = `${direction}:${user.id}`;
      const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
      const rows = await followList(ctx.reader, direction, user.id, after, input.limit + 1);
      return toPage(rows, input.limit, list, (row) => ({ id: row.id, username: row.username }));
    });

export const usersRouter = router({
  follow: protectedProcedure
    .meta(
      rest('PUT /users/{username}/follow', {
        summary: 'Follow a user (idempotent)',
        access: 'token',
        errors: { 400: 'Invalid username, or the caller’s own', 404: NO_SUCH_USER },
      }),
    )
    .input(usernameInput)
    .output(followedSchema)
    .mutation(async ({ ctx, input }) => {
      const followee = await userNamed(ctx.em, input.username);
      if (followee.id === ctx.user.id)
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'You cannot follow yourself' });
      // Idempotent and race-free: a second (or concurrent) follow finds the pair and does nothing.
      const outcome = await follow(ctx.em, ctx.user.id, followee.id, ctx.home.settings);
      // The caller's account went a moment ago (their token was still cached): the token is void.
      if (outcome === 'no follower') {
        ctx.viewers.forget({ userId: ctx.user.id });
        throw unauthorized();
      }
      if (outcome === 'no followee') throw userNotFound();
      return { following: true as const };
    }),

  unfollow: protectedProcedure
    .meta(
      rest('DELETE /users/{username}/follow', {
        summary: 'Stop following a user (idempotent)',
        access: 'token',
        errors: { 404: NO_SUCH_USER },
      }),
    )
    .input(usernameInput)
    .output(unfollowedSchema)
    .mutation(async ({ ctx, input }) => {
      const followee = await userNamed(ctx.em, input.username);
      await unfollow(ctx.em, ctx.user.id, followee.id);
      return { following: false as const };
    }),

  profile: optionalAuthProcedure
    .use(fromReplica)
    .meta(
      rest('GET /users/{username}', {
        summary: 'A user’s profile (`followedByMe` needs a token)',
        access: 'optional token',
        errors: { 401: 'A token was sent, and it is not valid (none is needed)', 404: NO_SUCH_USER },
      }),
    )
    .input(usernameInput)
    .output(profileSchema)
    .query(async ({ ctx, input }) => {
      const profile = await loadProfile(ctx.reader, { username: input.username }, ctx.user?.id);
      if (!profile) throw userNotFound();
      return profile;
    }),

  updateProfile: protectedProcedure
    .meta(rest('PATCH /me', { summary: 'Change the caller’s display name or bio', access: 'token' }))
    .input(profileInput)
    .output(profileSchema)
    .mutation(async ({ ctx, input }) => {
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
