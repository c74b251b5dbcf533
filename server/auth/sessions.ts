// Sessions and refresh-token rotation: the database side of login, refresh and logout.
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { User } from '../users/user.entity.ts';
import { RefreshToken } from './refresh-token.entity.ts';
import { hashRefreshToken, newRefreshToken, successorOf } from './refresh-tokens.ts';
import { Session } from './session.entity.ts';

export interface NewSession {
  session: Session;
  refreshToken: string;
}

export async function createSession(
  em: EntityManager,
  user: User,
  details: { userAgent: string | null; ipAddress: string | null; ttlSeconds: number },
): Promise<NewSession> {
  const refreshToken = newRefreshToken();
  const session = em.create(Session, {
    user,
    expiresAt: new Date(Date.now() + details.ttlSeconds * 1000),
    userAgent: details.userAgent?.slice(0, 512) ?? null,
    ipAddress: details.ipAddress?.slice(0, 64) ?? null,
  });
  em.create(RefreshToken, { session, tokenHash: hashRefreshToken(refreshToken) });
  await em.flush();
  return { session, refreshToken };
}

export type Rotation =
  | { outcome: 'rotated'; session: Session; refreshToken: string }
  | { outcome: 'invalid' }
  | { outcome: 'reused'; sessionId: string };

/**
 * Spends `presented` and returns its one successor. The token's row is locked for the whole
 * transaction, so concurrent refreshes of one token queue up: the first rotates, the rest find it
 * spent. Within the grace period, while the successor is still unspent, they get that same
 * successor (retries and parallel tabs of one client). Any other use of a spent token is reuse:
 * the session is revoked, and that is committed although the caller then fails.
 */
export async function rotateRefreshToken(
  em: EntityManager,
  presented: string,
  options: { graceSeconds: number; derivationKey: Buffer },
): Promise<Rotation> {
  return em.transactional(async (tx): Promise<Rotation> => {
    const token = await tx.findOne(
      RefreshToken,
      { tokenHash: hashRefreshToken(presented) },
      { lockMode: LockMode.PESSIMISTIC_WRITE },
    );
    if (!token) return { outcome: 'invalid' };
    // Locked too: a reuse detected through another token of this session, or a logout, cannot
    // commit between this check and the new successor.
    // Without the users filter's join (which would lock the user row too); a deleted account's
    // sessions are revoked with it, so isLive() below turns them away.
    const session = await tx.findOneOrFail(Session, token.session.id, {
      lockMode: LockMode.PESSIMISTIC_WRITE,
      filters: false,
    });
    if (!session.isLive()) return { outcome: 'invalid' };
    await tx.populate(session, ['user']);

    const now = new Date();
    const successor = successorOf(presented, options.derivationKey);
    if (!token.spentAt) {
      token.spentAt = now;
      tx.create(RefreshToken, { session, tokenHash: hashRefreshToken(successor) });
      session.lastUsedAt = now;
      return { outcome: 'rotated', session, refreshToken: successor };
    }

    const withinGrace = now.getTime() - token.spentAt.getTime() <= options.graceSeconds * 1000;
    const next = withinGrace
      ? await tx.findOne(RefreshToken, { tokenHash: hashRefreshToken(successor), session, spentAt: null })
      : null;
    if (next) return { outcome: 'rotated', session, refreshToken: successor };

    // Reuse: an old token came back after its successor was used or its grace ran out. Someone
    // else may hold a copy, so nothing of this login may keep working.
    session.revokedAt = now;
    return { outcome: 'reused', sessionId: session.id };
  });
}

/** Revokes the session a refresh token belongs to and returns its id; unknown tokens are ignored. */
export async function revokeSessionOf(em: EntityManager, refreshToken: string): Promise<string | undefined> {
  const token = await em.findOne(RefreshToken, { tokenHash: hashRefreshToken(refreshToken) });
  if (!token) return undefined;
  await em.nativeUpdate(Session, { id: token.session.id, revokedAt: null }, { revokedAt: new Date() });
  return token.session.id;
}

/** Revokes every live session of a user; returns how many. */
export function revokeAllSessions(em: EntityManager, userId: string): Promise<number> {
  return em.nativeUpdate(
    Session,
    { user: userId, revokedAt: null, expiresAt: { $gt: new Date() } },
    { revokedAt: new Date() },
  );
}

// auth.sessions lists this many at most: a script that logs in over and over must not make the
// list (and its answer) grow without bound. The newest are the ones a person recognises.
export const LISTED_SESSIONS_MAX = 50;

/** The user's live sessions, most recently used first, at most LISTED_SESSIONS_MAX of them. */
export function liveSessions(em: EntityManager, userId: string): Promise<Session[]> {
  return em.find(
    Session,
    { user: userId, revokedAt: null, expiresAt: { $gt: new Date() } },
    { orderBy: { lastUsedAt: 'desc', id: 'desc' }, limit: LISTED_SESSIONS_MAX },
  );
}
