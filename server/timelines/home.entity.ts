import { defineEntity, p } from '@mikro-orm/core';
import { User } from '../users/user.entity.ts';

/**
 * A user's home timeline (docs/architecture.md, "Home timelines"): the state of their entries.
 * A user without a row has no home timeline; their reads take the pull query until the worker
 * has built one. Written and read only by the SQL in this folder.
 */
export const HomeTimelineSchema = defineEntity({
  name: 'HomeTimeline',
  tableName: 'home_timelines',
  properties: {
    user: p.manyToOne(User).primary().deleteRule('cascade'),
    // Null while the build job fills the entries; reads use the table only once it is set.
    builtAt: p.datetime(3).nullable(),
    // The entries hold every fanned-out post at or above this position (created_at, id), and
    // maybe some below it: pages that reach below it take the pull query. Null: everything (the
    // cap was never reached).
    floorCreatedAt: p.datetime(3).nullable(),
    floorId: p.uuid().nullable(),
    // Last read (updated at most daily): timelines unread for HOME_TIMELINE_INACTIVE_DAYS are dropped.
    readAt: p.datetime(3).defaultRaw('now()'),
  },
});

export class HomeTimeline extends HomeTimelineSchema.class {}
HomeTimelineSchema.setClass(HomeTimeline);

/**
 * One post in one user's home timeline. The key is also the reading order (a page is one backward
 * scan of it). No foreign keys and no author: every row would pay for their checks, and a read
 * joins posts and users anyway to skip deleted posts and accounts.
 */
export const HomeTimelineEntrySchema = defineEntity({
  name: 'HomeTimelineEntry',
  tableName: 'home_timeline_entries',
  properties: {
    userId: p.uuid().primary(),
    createdAt: p.datetime(3).primary(),
    postId: p.uuid().primary(),
  },
  primaryKeys: ['userId', 'createdAt', 'postId'],
});

export class HomeTimelineEntry extends HomeTimelineEntrySchema.class {}
HomeTimelineEntrySchema.setClass(HomeTimelineEntry);

/**
 * Authors whose posts are merged into their followers' timelines when read, not fanned out
 * (more than HOME_TIMELINE_MERGE_FOLLOWERS followers when they last posted). An author stays
 * here: their older, fanned-out entries and the merge then overlap, which reads dedupe.
 */
export const MergedAuthorSchema = defineEntity({
  name: 'MergedAuthor',
  tableName: 'home_merged_authors',
  properties: {
    author: p.manyToOne(User).primary().deleteRule('cascade'),
    since: p.datetime(3).defaultRaw('now()'),
  },
});

export class MergedAuthor extends MergedAuthorSchema.class {}
MergedAuthorSchema.setClass(MergedAuthor);

/**
 * How far the fan-out has read the post log (timeline_events), as its (tx, id) place. One row.
 * The log is the fan-out's durable queue: the trigger on posts writes it in the post's own
 * transaction, and the log's purge keeps whatever the fan-out has not read yet.
 */
export const FanoutCursorSchema = defineEntity({
  name: 'FanoutCursor',
  tableName: 'home_fanout_cursor',
  properties: {
    id: p.smallint().primary().autoincrement(false),
    tx: p.bigint(),
    eventId: p.bigint(),
    updatedAt: p.datetime(3).defaultRaw('now()'),
  },
  checks: [{ name: 'home_fanout_cursor_one_row', expression: 'id = 1' }],
});

export class FanoutCursor extends FanoutCursorSchema.class {}
FanoutCursorSchema.setClass(FanoutCursor);
