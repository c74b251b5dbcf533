// The answers of the posts procedures as zod schemas (the types are in post.dto.ts). tRPC checks
// every answer against them (`.output()`), and the OpenAPI document describes the REST routes with
// them. Plain objects, strings and formats only, no transforms or refinements: posts.timeline and
// posts.byUser check up to 100 posts a call, and that check must stay small next to the query
// (docs/benchmarks.md).
import { z } from 'zod';
import { pageOf } from '../pagination/page.schema.ts';

// ISO-8601 in UTC (toISOString). Documented as a date-time, not checked as one: the check would
// cost three times the rest of a timeline page's, for strings our own code writes.
const timestamp = z.string().meta({ format: 'date-time' });

export const postAuthorSchema = z
  .object({ id: z.string(), username: z.string(), displayName: z.string().nullable() })
  .meta({ id: 'PostAuthor' });

/** The contract's `Post`. */
export const postSchema = z
  .object({ id: z.string(), body: z.string(), createdAt: timestamp, author: postAuthorSchema })
  .meta({ id: 'Post' });

export const postPageSchema = pageOf(postSchema, 'PostPage');

/** posts.delete: which post, and when (it can be restored for POST_RESTORE_SECONDS). */
export const deletedPostSchema = z.object({ id: z.string(), deletedAt: timestamp }).meta({ id: 'DeletedPost' });
