import { defineEntity, p } from '@mikro-orm/core';
import { uuidv7 } from 'uuidv7';
import { User } from '../users/user.entity.ts';

/** One login: every refresh token of it belongs here, and revoking it ends them all. */
export const SessionSchema = defineEntity({
  name: 'Session',
  tableName: 'sessions',
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => uuidv7()),
    user: p.manyToOne(User).deleteRule('cascade').index(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastUsedAt: p.datetime().onCreate(() => new Date()),
    // Absolute: refreshing never extends a session past REFRESH_TOKEN_TTL from its login.
    expiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    userAgent: p.string().length(512).nullable(),
    ipAddress: p.string().length(64).nullable(),
  },
});

export class Session extends SessionSchema.class {
  isLive(now = new Date()): boolean {
    return !this.revokedAt && this.expiresAt > now;
  }
}
SessionSchema.setClass(Session);
