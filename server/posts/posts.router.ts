import { TRPCError, tracked } from '@trpc/server';
import { z } from 'zod';
import { decodeCursor, pageInput, toPage } from '../pagination/cursor.ts';
import { isStorableText, STORABLE_TEXT_ERROR } from '../text.ts';
import { protectedProcedure, publicProcedure, router } from '../trpc/init.ts';
import { findUserByUsername, usernameSchema } from '../users/profile.ts';
import { User } from '../users/user.entity.ts';
import { toPostDto } from './post.dto.ts';
import { Post } from './post.entity.ts';
import { postsByAuthor, timelinePosts } from './post-queries.ts';
import { eventId, parseEventId } from '../realtime/event-log.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_BODY = 280;

// Ids are opaque to clients: one that cannot be ours is simply not found (never a 500 from a
// failed uuid cast).
const postIdInput = z.strictObject({ id: z.string().min(1).max(64) });
const isPostId = (id: string) => UUID.test(id);

// Characters are Unicode code points, so an emoji counts as one, as a person would count it.
const bodySchema = z
  .string()
  .refine(isStorableText, { error: STORABLE_TEXT_ERROR })
  .transform((value) => value.trim())
  .refine((value) => value.length > 0, { error: 'must not be empty' })
  .refine((value) => [...value].length <= MAX_BODY, { error: `must be at most ${MAX_BODY} characters` });

const notFound = () => new TRPCError({ code: 'NOT_FOUND', message: 'Post not found' });

export const postsRouter = router({
  create: protectedProcedure.input(z.strictObject({ body: bodySchema })).mutation(async ({ ctx, input }) => {
    // POSTS_PER_HOUR, counted across processes; a valid body is needed to spend one.
    await ctx.limits.posts.take(ctx.user.id);
    // The author is always the caller: the input has no field that could say otherwise.
    const post = ctx.em.create(Post, { author: ctx.em.getReference(User, ctx.user.id), body: input.body });
    await ctx.em.flush();
    ctx.timelines.announce();
    return toPostDto({ id: post.id, body: post.body, createdAt: post.createdAt, author: ctx.user });
  }),

  delete: protectedProcedure.input(postIdInput).mutation(async ({ ctx, input }) => {
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

  byId: publicProcedure.input(postIdInput).query(async ({ ctx, input }) => {
    if (!isPostId(input.id)) throw notFound();
    const post = await ctx.em.findOne(Post, input.id, { populate: ['author'] });
    if (!post) throw notFound();
    return toPostDto(post);
  }),

  timeline: protectedProcedure.input(z.strictObject(pageInput).default({ limit: 20 })).query(async ({ ctx, input }) => {
    const list = `timeline:${ctx.user.id}`;
    const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
    const rows = await timelinePosts(ctx.em, ctx.user.id, after, input.limit + 1);
    return toPage(rows, input.limit, list, toPostDto);
  }),

  byUser: publicProcedure
    .input(z.strictObject({ username: usernameSchema, ...pageInput }))
    .query(async ({ ctx, input }) => {
      const author = await findUserByUsername(ctx.em, input.username);
      if (!author) throw new TRPCError({ code: 'NOT_FOUND', message: 'User not found' });
      const list = `posts:${author.id}`;
      const after = input.cursor ? decodeCursor(input.cursor, list) : undefined;
      const rows = await postsByAuthor(ctx.em, author.id, after, input.limit + 1);
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
