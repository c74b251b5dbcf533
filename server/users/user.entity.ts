import { defineEntity, p } from '@mikro-orm/core';
import { uuidv7 } from 'uuidv7';

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    // UUIDv7: opaque to clients, yet time-ordered so inserts stay at the end of the index.
    id: p
      .uuid()
      .primary()
      .onCreate(() => uuidv7()),
    username: p.string().length(32),
    // Only the bcrypt hash; lazy and hidden so it is never loaded or serialised by accident. Null
    // once a deleted account's personal data is purged (users/account-purge.ts).
    passwordHash: p.string().lazy().hidden().nullable(),
    // Limits in code points, as PostgreSQL counts varchar lengths (users/profile-fields.ts).
    displayName: p.string().length(50).nullable(),
    bio: p.string().length(160).default(''),
    createdAt: p
      .datetime()
      .defaultRaw('now()')
      .onCreate(() => new Date()),
    // Soft delete (auth.deleteAccount): the row stays so the username stays taken; every read
    // skips it, through the filter below or, in hand-written SQL, by saying so itself.
    deletedAt: p.datetime(3).nullable(),
    // When the personal data of a deleted account was erased (users/account-purge.ts).
    purgedAt: p.datetime(3).nullable(),
  },
  // Default on: find/findOne/count never see a deleted account, and MikroORM joins `users` with
  // this condition wherever an entity refers to one (Post.author, Session.user, Follow), so a post
  // of a deleted author is not found either.
  filters: {
    liveAccount: { name: 'liveAccount', cond: { deletedAt: null }, default: true },
  },
  indexes: [
    {
      // The hourly purge's way to the deleted accounts still holding personal data.
      name: 'users_deleted_unpurged',
      expression:
        'create index "users_deleted_unpurged" on "users" ("deleted_at") where "deleted_at" is not null and "purged_at" is null',
    },
  ],
  uniques: [
    {
      name: 'users_username_lower_unique',
      // Case-insensitive uniqueness lives in the database, so concurrent signups cannot both win.
      // Deleted accounts keep their row, so their names stay taken (no one can pose as them).
      expression: 'create unique index "users_username_lower_unique" on "users" (lower("username"))',
    },
  ],
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
