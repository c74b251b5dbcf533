// The database side of auth.changePassword and auth.deleteAccount. Each is one transaction, and
// each tells every process's token cache to forget the user's sessions when it commits
// (viewer-cache.ts): a revoked token stops working everywhere within milliseconds.
import type { EntityManager } from '@mikro-orm/postgresql';
import { TRPCError } from '@trpc/server';
import type { Context } from '../trpc/context.ts';
import { User } from '../users/user.entity.ts';
import type { Viewer } from './authenticate.ts';
import type { ViewerCache } from './viewer-cache.ts';

type ProtectedContext = Context & { user: Viewer };

/** The cause of a wrong-password UNAUTHORIZED: the error formatter marks it `reason: 'WRONG_PASSWORD'`. */
export class WrongPasswordError extends Error {
  constructor() {
    super('Wrong password');
    this.name = 'WrongPasswordError';
  }
}

// Distinct from a bad token (the SDK refreshes and retries on that, which cannot help here).
export const wrongPassword = () =>
  new TRPCError({ code: 'UNAUTHORIZED', message: 'Wrong password', cause: new WrongPasswordError() });

const REVOKE_OTHER_SESSIONS = `
  update sessions set revoked_at = now()
  where user_id = ? and id <> ? and revoked_at is null and expires_at > now()`;

/**
 * Replaces the password hash, if it is still `currentHash` (of two concurrent changes, only the
 * first wins; the second was checked against a password that no longer holds), and revokes every
 * other live session of the user. Returns how many sessions were revoked, or null when the hash
 * had changed meanwhile or the account is gone.
 */
export function changePassword(
  em: EntityManager,
  viewers: ViewerCache,
  change: { userId: string; keepSessionId: string; currentHash: string; newHash: string },
): Promise<number | null> {
  return em.transactional(async (tx) => {
    const changed = await tx.execute<{ id: string }[]>(
      'update users set password_hash = ? where id = ? and password_hash = ? and deleted_at is null returning id',
      [change.newHash, change.userId, change.currentHash],
    );
    if (changed.length === 0) return null;
    const revoked = await tx.execute<{ id: string }[]>(`${REVOKE_OTHER_SESSIONS} returning id`, [
      change.userId,
      change.keepSessionId,
    ]);
    // All of the user's cached tokens, the caller's included: its next call re-reads its session.
    await viewers.revoked(tx, { userId: change.userId });
    return revoked.length;
  });
}

/**
 * Soft-deletes the account: marks the user row (filters and hand-written SQL then skip it and its
 * posts everywhere), revokes every session, and deletes its follows in both directions, so that
 * every list and count of follows stays a plain index read. The row, its posts and its personal
 * data stay for ACCOUNT_RETENTION_DAYS (users/account-purge.ts). False if it was already deleted.
 *
 * The user row is updated first: that lock makes a concurrent users.follow (which takes FOR SHARE
 * on both accounts, users/follow-queries.ts) either finish before the follows are deleted or wait
 * and then find the account gone.
 */
export function deleteAccount(em: EntityManager, viewers: ViewerCache, userId: string): Promise<boolean> {
  return em.transactional(async (tx) => {
    const marked = await tx.execute<{ id: string }[]>(
      'update users set deleted_at = now() where id = ? and deleted_at is null returning id',
      [userId],
    );
    if (marked.length === 0) return false;
    await tx.execute('update sessions set revoked_at = now() where user_id = ? and revoked_at is null', [userId]);
    await tx.execute('delete from follows where follower_id = ? or followee_id = ?', [userId, userId]);
    await viewers.revoked(tx, { userId });
    return true;
  });
}

/**
 * Checks the caller's password as a login does: counted by the login limits (a wrong one is a
 * failed login for the username and the address), one bcrypt compare in the hash line. Returns the
 * hash it matched, for `changePassword`'s compare-and-set.
 */
export async function confirmPassword(ctx: ProtectedContext, password: string, signal?: AbortSignal): Promise<string> {
  const attempt = await ctx.limits.login.attempt(ctx.user.username, ctx.addressKey);
  let hash: string | null | undefined;
  let matches: boolean;
  try {
    hash = (await ctx.em.findOne(User, ctx.user.id, { populate: ['passwordHash'] }))?.passwordHash;
    // The account went (deleted meanwhile): compare anyway, so the answer takes the usual time.
    matches = await ctx.passwords.verify(password, hash ?? undefined, { purpose: 'login', signal });
  } catch (error) {
    await attempt.cancelled().catch(() => {});
    throw error;
  }
  if (!matches || !hash) {
    await attempt.failed();
    throw wrongPassword();
  }
  await attempt.succeeded();
  return hash;
}
