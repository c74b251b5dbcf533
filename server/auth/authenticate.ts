import type { EntityManager } from '@mikro-orm/postgresql';
import { Session } from './session.entity.ts';
import { verifyAccessToken, type TokenEnv } from './tokens.ts';
import type { Keys } from './keys.ts';
import type { ViewerCache } from './viewer-cache.ts';

/** Who is calling: the user behind a valid access token, and the session it was issued for. */
export interface Viewer {
  id: string;
  username: string;
  /** As when the token was last verified (users.updateProfile makes every process verify again). */
  displayName: string | null;
  sessionId: string;
  /** When this token stops being valid (its `exp`, or its session's end), in ms since the epoch. */
  expiresAt: number;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return (authorization && BEARER.exec(authorization)?.[1]) || undefined;
}

/**
 * The viewer for an Authorization header, or null when there is none or it is not valid. A valid
 * signature is not enough: the user must still exist and the session must not be revoked (logout,
 * logoutAll, reuse detection) or expired. Database failures propagate: an outage is a 503, never
 * a 401 that would make clients throw their tokens away; so does an unreachable JWKS URL.
 * A caller seen within the last seconds is taken from `cache`, and concurrent requests with one
 * token share one verification (see viewer-cache.ts).
 */
export async function authenticate(
  em: EntityManager,
  keys: Keys,
  env: TokenEnv,
  cache: ViewerCache,
  authorization: string | undefined,
): Promise<Viewer | null> {
  const token = bearerToken(authorization);
  if (!token) return null;
  return cache.lookup(token, async () => {
    const claims = await verifyAccessToken(keys, env, token);
    if (!claims) return null;
    const session = await em.findOne(Session, { id: claims.sessionId, user: claims.userId }, { populate: ['user'] });
    if (!session?.isLive()) return null;
    const validUntil = Math.min(claims.expiresAt * 1000, session.expiresAt.getTime());
    return {
      viewer: {
        id: session.user.id,
        username: session.user.username,
        displayName: session.user.displayName ?? null,
        sessionId: session.id,
        expiresAt: validUntil,
      },
      validUntil,
    };
  });
}
