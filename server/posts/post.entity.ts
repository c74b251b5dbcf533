import { defineEntity, p } from '@mikro-orm/core';
import { uuidv7 } from 'uuidv7';
import { User } from '../users/user.entity.ts';

export const PostSchema = defineEntity({
  name: 'Post',
  tableName: 'posts',
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => uuidv7()),
    author: p.manyToOne(User).deleteRule('cascade'),
    body: p.text(),
    // Millisecond precision, as JavaScript dates have: a keyset cursor built from a Date must
    // compare equal to the stored value, whoever wrote the row.
    createdAt: p.datetime(3).onCreate(() => new Date()),
    // Soft delete: the row stays for moderation and audits; every read skips it (filter below).
    deletedAt: p.datetime(3).nullable(),
  },
  filters: {
    live: { name: 'live', cond: { deletedAt: null }, default: true },
  },
  triggers: [
    {
      // Live timelines (realtime/): a post that appears (insert, restore) or disappears (soft
      // delete) is logged in timeline_events with its transaction's id, at commit (readers take
      // the log in commit-safe order: event-log.ts). No NOTIFY here: PostgreSQL serialises the
      // commits of notifying transactions, which cut posts.create to a sixth; the app announces
      // after the commit instead (timeline-hub.ts). Bulk loaders opt out with
      // `set warble.timeline_events = off`.
      name: 'timeline_event',
      timing: 'after',
      events: ['insert', 'update'],
      forEach: 'row',
      when: "(current_setting('warble.timeline_events'::text, true) IS DISTINCT FROM 'off'::text)",
      body: `if tg_op = 'INSERT' and new.deleted_at is not null then return null; end if;
if tg_op = 'UPDATE' and (old.deleted_at is null) = (new.deleted_at is null) then return null; end if;
insert into timeline_events (tx, kind, post_id, author_id) values (pg_current_xact_id()::text::bigint, case when new.deleted_at is null then 'post' else 'delete' end, new.id, new.author_id);
return null;`,
    },
  ],
  indexes: [
    {
      name: 'posts_author_live_recent',
      // Serves every list of posts: per author, newest first, only live rows, and (created_at, id)
      // inside the index so a page of a timeline is an index-only scan per followed author.
      expression:
        'create index "posts_author_live_recent" on "posts" ("author_id", "created_at" desc, "id" desc) where "deleted_at" is null',
    },
    {
      name: 'posts_live_recent',
      // All live posts, newest first, with their authors: the timeline of a viewer who follows
      // thousands reads it index-only and keeps the followed authors' posts (post-queries.ts).
      expression:
        'create index "posts_live_recent" on "posts" ("created_at" desc, "id" desc) include ("author_id") where "deleted_at" is null',
    },
  ],
});

export class Post extends PostSchema.class {}
PostSchema.setClass(Post);
