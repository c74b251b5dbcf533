import { TRPCError, tracked } from '@trpc/server';
import { z } from 'zod';
import { decodeCursor, pageInput, toPage } from '../pagination/cursor.ts';
import { userText } from '../text.ts';
import { fromReplica, protectedProcedure, publicProcedure, router } from '../trpc/init.ts';
import { findUserByUsername, usernameSchema } from '../users/profile.ts';
import { User } from '../users/user.entity.ts';
import { toPostDto } from './post.dto.ts';
import { deletedPostSchema, postPageSchema, postSchema } from './post.schema.ts';
import { Post } from './post.entity.ts';
import { postsByAuthor, restorePost } from './post-queries.ts';
import { timelinePage } from '../timelines/timeline.ts';
import { eventId, parseEventId } from '../realtime/event-log.ts';
import { rest } from '../rest/route-meta.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_BODY = 280;

// Ids are opaque to clients: one that cannot be ours is simply not found (never a 500 from a
// failed uuid cast).
const postIdInput = z.strictObject({ id: z.string().min(1).max(64) });
const isPostId = (id: string) => UUID.test(id);

const bodySchema = userText({ min: 1, max: MAX_BODY });

const notFound = () => new TRPCError({ code: 'NOT_FOUND', message: 'Post not found' });
// For the REST document (what the procedures below can refuse).
const NO_SUCH_POST = 'Unknown or deleted post';
const NO_SUCH_USER = 'Unknown or deleted user';

export const postsRouter = router({
  create: protectedProcedure
    .meta(
      rest('POST /posts', {
        summary: 'Publish a post',
        access: 'token',
        errors: { 429: 'POSTS_PER_HOUR used up for this hour' },
      }),
    )
    .input(z.strictObject({ body: bodySchema }))
    .output(postSchema)
    .mutation(async ({ ctx, input }) => {
      // POSTS_PER_HOUR, counted across processes; a valid body is needed to spend one.
      await ctx.limits.posts.take(ctx.user.id);
      // The author is always the caller: the input has no field that could say otherwise.
      const post = ctx.em.create(Post, { author: ctx.em.getReference(User, ctx.user.id), body: input.body });
      await ctx.em.flush();
      // After the commit: live streams and the fan-out into followers' home timelines read the log.
      ctx.timelines.announce();
      if (ctx.env.HOME_TIMELINE_CAP > 0) ctx.home.wake();
      return toPostDto({ id: post.id, body: post.body, createdAt: post.createdAt, author: ctx.user });
    }),

  delete: protectedProcedure
    .meta(
      rest('DELETE /posts/{id}', {
        summary: 'Delete one of the caller’s posts (restorable for a while)',
        access: 'token',
        errors: { 403: 'Not the author', 404: 'Unknown or already deleted post' },
      }),
    )
    .input(postIdInput)
    .output(deletedPostSchema)
    .mutation(async ({ ctx, input }) => {
      if (!isPostId(input.id)) throw notFound();
      const deletedAt = new Date();
      // One conditional UPDATE decides it: of two concurrent deletes, only one can match the row.
      const updated = await ctx.em.nativeUpdate(
        Post,
        { id: input.id, author: ctx.user.id, deletedAt: null },
        { deletedAt },
        { filters: false },
      );
      if (updated === 1) {
        ctx.timelines.announce();
        return { id: input.id, deletedAt: deletedAt.toISOString() };
      }
      // Nothing changed: say why, without revealing deleted posts of others.
      const post = await ctx.em.findOne(Post, input.id, { fields: ['author'] });
      if (!post) throw notFound();
      throw new TRPCError({ code: 'FORBIDDEN', message: 'Only the author can delete a post' });
    }),

  restore: protectedProcedure
    .meta(
      rest('POST /posts/{id}/restore', {
        summary: 'Undo the deletion of one of the caller’s posts',
        access: 'token',
        errors: { 403: 'Not the author', 404: 'Unknown post, not deleted, or deleted too long ago' },
      }),
    )
    .input(postIdInput)
    .output(postSchema)
    .mutation(async ({ ctx, input }) => {
      if (!isPostId(input.id)) throw notFound();
      const restored = await restorePost(ctx.em, input.id, ctx.user.id, ctx.env.POST_RESTORE_SECONDS);
      if (restored) {
        ctx.timelines.announce();
        if (ctx.env.HOME_TIMELINE_CAP > 0) ctx.home.wake();
        return toPostDto(restored);
      }
      // Nothing changed: say why. Deleted posts included, but not those of deleted accounts.
      const post = await ctx.em.findOne(Post, input.id, { fields: ['author', 'deletedAt'], filters: { live: false } });
      if (!post) throw notFound();
      if (post.author.id !== ctx.user.id)
        throw new TRPCError({ code: 'FORBIDDEN', message: 'Only the author can restore a post' });
      throw new TRPCError({
        code: 'NOT_FOUND',
        message: post.deletedAt ? 'Post can no longer be restored' : 'Post is not deleted',
      });
    }),

  byId: publicProcedure
    .use(fromReplica)
    .meta(rest('GET /posts/{id}', { summary: 'One post', access: 'public', errors: { 404: NO_SUCH_POST } }))
    .input(postIdInput)
    .output(postSchema)
    .query(async ({ ctx, input }) => {
      if (!isPostId(input.id)) throw notFound();
      const post = await ctx.reader.findOne(Post, input.id, { populate: ['author'] });
      if (!post) throw notFound();
      return toPostDto(post);
    }),

  timeline: protectedProcedure
    .use(fromReplica)
    .meta(rest('GET /timeline', { summary: 'The caller’s and followed users’ posts, newest first', access: 'token' }))
    .input(z.strictObject(pageInput).default({ limit: 20 }))
    .output(postPageSchema)
    .query(async ({ ctx, input }) => {
      const list = `timeline:${ctx.user.id}`;
      const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
      const home = ctx.env.HOME_TIMELINE_CAP > 0 ? ctx.home : undefined;
      const rows = await timelinePage(ctx.reader, ctx.em, home, ctx.user.id, after, input.limit + 1);
      return toPage(rows, input.limit, list, toPostDto);
    }),

  byUser: publicProcedure
    .use(fromReplica)
    .meta(
      rest('GET /users/{username}/posts', {
        summary: 'A user’s posts, newest first',
        access: 'public',
        errors: { 404: NO_SUCH_USER },
      }),
    )
    .input(z.strictObject({ username: usernameSchema, ...pageInput }))
    .output(postPageSchema)
    .query(async ({ ctx, input }) => {
      const author = await findUserByUsername(ctx.reader, input.username);
      if (!author) throw new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });
      const list = `posts:${author.id}`;
      const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
      const rows = await postsByAuthor(ctx.reader, author.id, after, input.limit + 1);
      return toPage(rows, input.limit, list, toPostDto);
    }),

  // Server-sent events (contract: Realtime; server/realtime/). `lastEventId` is also filled from
  // the Last-Event-ID header a browser's EventSource sends when it reconnects (tRPC does that).
  onTimeline: protectedProcedure
    .input(z.strictObject({ lastEventId: z.string().max(64).nullish() }).default({}))
    .subscription(async ({ ctx, input, signal }) => {
      const after = input.lastEventId ? parseEventId(input.lastEventId) : undefined;
      if (input.lastEventId && after === undefined) {
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'Unknown lastEventId: reload the timeline' });
      }
      const events = await ctx.timelines.open({
        userId: ctx.user.id,
        sessionId: ctx.user.sessionId,
        expiresAt: ctx.user.expiresAt,
        after,
        signal: signal ?? new AbortController().signal,
      });
      return (async function* () {
        for await (const event of events) yield tracked(eventId(event.id), event.data);
      })();
    }),
});
