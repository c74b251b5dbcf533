import { defineEntity, p } from '@mikro-orm/core';

/**
 * The resume log of live timelines: one row per post that appeared (created or restored) or
 * disappeared (deleted), written by a trigger on `posts` in the writing transaction, so no write
 * path can skip it. Its id is the stream's event id. Rows older than the log's retention are
 * purged (realtime/event-log.ts).
 */
export const TimelineEventSchema = defineEntity({
  name: 'TimelineEvent',
  tableName: 'timeline_events',
  properties: {
    id: p.bigint().primary().autoincrement(),
    // 'post' (created or restored) or 'delete'.
    kind: p.string().length(8),
    // No foreign keys: the log outlives nothing and must never block a delete of a user.
    postId: p.uuid(),
    authorId: p.uuid(),
    createdAt: p.datetime(3).defaultRaw('now()'),
  },
  checks: [{ name: 'timeline_events_kind', expression: "kind in ('post', 'delete')" }],
});

export class TimelineEvent extends TimelineEventSchema.class {}
TimelineEventSchema.setClass(TimelineEvent);
