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
    // Only the bcrypt hash; lazy and hidden so it is never loaded or serialised by accident.
    passwordHash: p.string().lazy().hidden(),
    createdAt: p
      .datetime()
      .defaultRaw('now()')
      .onCreate(() => new Date()),
  },
  uniques: [
    {
      name: 'users_username_lower_unique',
      // Case-insensitive uniqueness lives in the database, so concurrent signups cannot both win.
      expression: 'create unique index "users_username_lower_unique" on "users" (lower("username"))',
    },
  ],
});

export class User extends UserSchema.class {}
UserSchema.setClass(User);
