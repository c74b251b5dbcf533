// The refresh token's home in a browser (contract: Browsers): an httpOnly cookie that no script on
// the page can read, sent only to this API, only from same-site pages. It authorises exactly two
// calls, auth.refresh and auth.logout; every other call needs the bearer access token.
import { TRPCError } from '@trpc/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Env } from '../env.ts';
import { isTrustedOrigin } from '../http/cors.ts';

export const REFRESH_COOKIE = 'warble_refresh';

// A refresh token is 43 base64url characters; anything longer is not one of ours.
const MAX_TOKEN_LENGTH = 256;
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface RefreshCookie {
  /** Throws when this request may not use the cookie (a foreign page, a streamed batch). */
  assertUsable(): void;
  /** The token the browser sent, if any. Throws when this request may not use the cookie. */
  read(): string | undefined;
  /** Hands the token to the browser until the session's absolute end. */
  set(token: string, sessionExpiresAt: Date): void;
  /** Tells the browser to drop the cookie (only if it sent one). */
  clear(): void;
}

export function refreshCookieOf(request: FastifyRequest, reply: FastifyReply, env: Env): RefreshCookie {
  // Worked out only when a cookie is written (most requests never touch it).
  const attributes = () =>
    ({
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      // `Secure` everywhere but plain-HTTP development on this machine, where there is no TLS.
      secure: !(env.NODE_ENV !== 'production' && request.protocol === 'http' && LOCAL_HOSTS.has(request.hostname)),
    }) as const;
  const sent = () => request.cookies[REFRESH_COOKIE];

  /** Refuses what a cookie cannot safely or usefully do. */
  function mayUse() {
    // Cross-site request forgery: SameSite=Strict keeps the cookie off other sites' requests, and
    // JSON-only POSTs need a preflight that unlisted origins fail; this is the third wall, for
    // same-site pages we do not trust (another subdomain's) and browsers without SameSite.
    const origin = request.headers.origin;
    if (origin !== undefined && !isTrustedOrigin(request, origin, env.CORS_ORIGINS)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: 'The refresh cookie cannot be used from this origin' });
    }
    // A streamed batch has sent its headers before any call finishes: a cookie set then would be
    // lost, and with it the session.
    if (request.headers['trpc-accept'] === 'application/jsonl') {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: 'The refresh cookie needs a non-streamed request (httpBatchLink or httpLink)',
      });
    }
  }

  return {
    assertUsable: mayUse,
    read() {
      const token = sent();
      if (token === undefined || token === '') return undefined;
      mayUse();
      return token.length <= MAX_TOKEN_LENGTH ? token : undefined;
    },
    set(token, sessionExpiresAt) {
      mayUse();
      const maxAge = Math.max(0, Math.floor((sessionExpiresAt.getTime() - Date.now()) / 1000));
      reply.setCookie(REFRESH_COOKIE, token, { ...attributes(), maxAge });
    },
    clear() {
      if (sent() !== undefined) reply.clearCookie(REFRESH_COOKIE, attributes());
    },
  };
}
