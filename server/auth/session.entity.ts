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
  triggers: [
    {
      // A live session deleted outside the app's revocation path (above all by deleting its user,
      // which cascades) tells every process's token cache to forget it, as a revocation does
      // (auth/viewer-cache.ts, same channel and payload), when the deleting transaction commits.
      // Ended sessions cannot be cached: their purge (auth/session-purge.ts) sends nothing.
      name: 'notify_deleted',
      timing: 'after',
      events: ['delete'],
      forEach: 'row',
      // As PostgreSQL prints it back, so that the schema diff finds nothing to change.
      when: '((old.revoked_at IS NULL) AND (old.expires_at > now()))',
      body: "perform pg_notify('warble_sessions_revoked', json_build_object('sessionId', old.id)::text); return null;",
    },
  ],
});

export class Session extends SessionSchema.class {
  isLive(now = new Date()): boolean {
    return !this.revokedAt && this.expiresAt > now;
  }
}
SessionSchema.setClass(Session);
