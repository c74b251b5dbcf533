import { defineEntity, p } from '@mikro-orm/core';

/**
 * The resume log of live timelines: one row per post that appeared (created or restored) or
 * disappeared (deleted), written by a trigger on `posts` in the writing transaction, so no write
 * path can skip it. Its place in the log, (tx, id), is the stream's event id (event-log.ts).
 * Rows older than the log's retention are purged.
 */
export const TimelineEventSchema = defineEntity({
  name: 'TimelineEvent',
  tableName: 'timeline_events',
  properties: {
    id: p.bigint().primary().autoincrement(),
    // The writing transaction's id (pg_current_xact_id()). Sequence ids are taken before commit, so
    // they can become visible out of order; transactions older than every running one cannot
    // commit any more, so the log is read in (tx, id) order up to that horizon (event-log.ts).
    tx: p.bigint(),
    // 'post' (created or restored) or 'delete'.
    kind: p.string().length(8),
    // No foreign keys: the log outlives nothing and must never block a delete of a user.
    postId: p.uuid(),
    authorId: p.uuid(),
    createdAt: p.datetime(3).defaultRaw('now()'),
  },
  checks: [{ name: 'timeline_events_kind', expression: "kind in ('post', 'delete')" }],
  indexes: [{ name: 'timeline_events_order', properties: ['tx', 'id'] }],
});

export class TimelineEvent extends TimelineEventSchema.class {}
TimelineEventSchema.setClass(TimelineEvent);
