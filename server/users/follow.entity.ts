import { defineEntity, p } from '@mikro-orm/core';
import { User } from './user.entity.ts';

/** `follower` follows `followee`. The pair is the key, so following twice is impossible. */
export const FollowSchema = defineEntity({
  name: 'Follow',
  tableName: 'follows',
  properties: {
    follower: p.manyToOne(User).primary().deleteRule('cascade'),
    followee: p.manyToOne(User).primary().deleteRule('cascade'),
    createdAt: p.datetime(3).onCreate(() => new Date()),
  },
  primaryKeys: ['follower', 'followee'],
  // The timeline adds the caller's own posts to those of whom they follow: a self-follow would
  // list them twice. users.follow refuses it; this keeps any other writer from making one.
  checks: [{ name: 'follows_not_self', expression: 'follower_id <> followee_id' }],
  indexes: [
    // Followers of a user, most recent first; the primary key already leads with follower_id for
    // "whom does X follow" in timelines, this one also orders it for the following list.
    {
      name: 'follows_followee_recent',
      expression:
        'create index "follows_followee_recent" on "follows" ("followee_id", "created_at" desc, "follower_id" desc)',
    },
    {
      name: 'follows_follower_recent',
      expression:
        'create index "follows_follower_recent" on "follows" ("follower_id", "created_at" desc, "followee_id" desc)',
    },
  ],
});

export class Follow extends FollowSchema.class {}
FollowSchema.setClass(Follow);
