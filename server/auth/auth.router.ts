import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { markWrite, protectedProcedure, publicProcedure, router, unauthorized } from '../trpc/init.ts';
import type { Context } from '../trpc/context.ts';
import { findUserByUsername, loadProfile, usernameSchema } from '../users/profile.ts';
import { User } from '../users/user.entity.ts';
import { ClientGoneError, RetryLaterError } from '../limits/retry-later.ts';
import { needsRehash, passwordSchema } from './passwords.ts';
import { createSession, liveSessions, revokeAllSessions, revokeSessionOf, rotateRefreshToken } from './sessions.ts';
import type { Session } from './session.entity.ts';
import { issueAccessToken } from './tokens.ts';
import { changePassword, confirmPassword, deleteAccount, wrongPassword } from './accounts.ts';
import {
  accountDeletedSchema,
  accountSchema,
  loggedOutSchema,
  passwordChangedSchema,
  revokedSchema,
  sessionsSchema,
  tokenPairSchema,
} from './auth.schema.ts';
import { profileSchema } from '../users/profile.schema.ts';
import { rest } from '../rest/route-meta.ts';

const credentialsInput = z.strictObject({ username: usernameSchema, password: passwordSchema });
const refreshToken = z.string().min(1).max(256);
// `refreshCookie: true`: the refresh token goes into an httpOnly cookie, not the answer (browsers).
const refreshCookie = z.boolean().optional();
const loginInput = credentialsInput.extend({ refreshCookie });
// Without `refreshToken`, refresh and logout use the cookie.
const refreshInput = z.strictObject({ refreshToken: refreshToken.optional(), refreshCookie });
const logoutInput = z.strictObject({ refreshToken: refreshToken.optional() });

const LOGIN_FAILED = 'Invalid username or password';
const REFRESH_FAILED = 'Invalid refresh token';
// For the REST document (what the procedures below can refuse).
const COOKIE_REFUSED = 'The refresh cookie was sent from an origin that may not use it';
const NOT_ISSUING = `${COOKIE_REFUSED}, or this server only verifies tokens`;
const WRONG_PASSWORD = 'Wrong password (`reason: WRONG_PASSWORD`), or no valid access token';
const PASSWORD_GUESSES = 'Too many failed password checks for this account';

/** The hash line refused the call or its caller left first: no password was hashed. */
const neverHashed = (error: unknown) => error instanceof RetryLaterError || error instanceof ClientGoneError;

function requireIssuer(ctx: Context): Buffer {
  if (!ctx.keys.signing || !ctx.keys.refreshDerivationKey) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'This server verifies tokens but does not issue them' });
  }
  return ctx.keys.refreshDerivationKey;
}

/** The answer of login and refresh; in cookie mode the refresh token goes to the cookie instead. */
function tokenPair(ctx: Context, session: Session, refreshToken: string, { inCookie = false } = {}) {
  if (inCookie) ctx.refreshCookie.set(refreshToken, session.expiresAt);
  return {
    accessToken: issueAccessToken(ctx.keys, ctx.env, { userId: session.user.id, sessionId: session.id }),
    refreshToken: inCookie ? null : refreshToken,
    tokenType: 'Bearer' as const,
    expiresIn: ctx.env.ACCESS_TOKEN_TTL,
    user: { id: session.user.id, username: session.user.username },
  };
}

export const authRouter = router({
  signup: publicProcedure
    .meta(
      rest('POST /auth/signup', {
        summary: 'Create an account',
        access: 'public',
        errors: { 409: 'Username is already taken', 429: 'Too many signups from this address' },
      }),
    )
    .input(credentialsInput)
    .output(accountSchema)
    .mutation(async ({ ctx, input, signal }) => {
      // Before bcrypt, per address and across processes: each signup costs a hash.
      await ctx.limits.signups.take(ctx.addressKey);
      let passwordHash: string;
      try {
        passwordHash = await ctx.passwords.hash(input.password, { purpose: 'signup', signal });
      } catch (error) {
        if (neverHashed(error)) await ctx.limits.signups.giveBack(ctx.addressKey);
        throw error;
      }
      // The caller left while we hashed: nobody would learn the account exists (a retry would then
      // say the name is taken), so it is not created.
      if (signal?.aborted) throw new ClientGoneError();
      const user = ctx.em.create(User, { username: input.username, passwordHash });
      try {
        await ctx.em.flush();
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) {
          throw new TRPCError({ code: 'CONFLICT', message: 'Username is already taken' });
        }
        throw error;
      }
      // Its owner's first reads (after logging in) must find the account, even on a replica.
      await markWrite(ctx, user.id);
      return { id: user.id, username: user.username, createdAt: user.createdAt.toISOString() };
    }),

  login: publicProcedure
    .meta(
      rest('POST /auth/login', {
        summary: 'Log in: a new session and its tokens',
        access: 'public',
        errors: { 401: LOGIN_FAILED, 403: NOT_ISSUING, 429: 'Too many failed logins for this username or address' },
      }),
    )
    .input(loginInput)
    .output(tokenPairSchema)
    .mutation(async ({ ctx, input, signal }) => {
      requireIssuer(ctx);
      // Refused before any work: a session whose token could not be handed over would be wasted.
      if (input.refreshCookie) ctx.refreshCookie.assertUsable();
      // Before bcrypt: a locked-out username or a flooding address costs us a query, not 250 ms.
      const attempt = await ctx.limits.login.attempt(input.username, ctx.addressKey);
      let user: User | null;
      let matches: boolean;
      try {
        user = await findUserByUsername(ctx.em, input.username, { withPassword: true });
        // Unknown user and wrong password: the same compare cost and the same answer.
        matches = await ctx.passwords.verify(input.password, user?.passwordHash ?? undefined, {
          purpose: 'login',
          signal,
        });
      } catch (error) {
        // No verdict (the line was full, the caller left, the database failed): it was no guess.
        await attempt.cancelled().catch(() => {});
        throw error;
      }
      if (!matches || !user?.passwordHash) {
        await attempt.failed();
        throw new TRPCError({ code: 'UNAUTHORIZED', message: LOGIN_FAILED });
      }
      await attempt.succeeded();
      // BCRYPT_COST was raised (or lowered) since this hash was made: the password is at hand, redo it.
      // Only if it is still the hash we checked: a password changed meanwhile is not undone.
      if (needsRehash(user.passwordHash, ctx.env.BCRYPT_COST)) {
        const rehashed = await ctx.passwords.hash(input.password, { purpose: 'login', signal });
        await ctx.em.nativeUpdate(User, { id: user.id, passwordHash: user.passwordHash }, { passwordHash: rehashed });
      }
      const { session, refreshToken } = await createSession(ctx.em, user, {
        userAgent: ctx.userAgent,
        ipAddress: ctx.clientAddress,
        ttlSeconds: ctx.env.REFRESH_TOKEN_TTL,
      });
      return tokenPair(ctx, session, refreshToken, { inCookie: input.refreshCookie });
    }),

  refresh: publicProcedure
    .meta(
      rest('POST /auth/refresh', {
        summary: 'A new token pair for a refresh token (or the cookie)',
        access: 'public',
        errors: { 401: 'Unknown, expired, revoked or reused refresh token', 403: NOT_ISSUING },
      }),
    )
    .input(refreshInput)
    .output(tokenPairSchema)
    .mutation(async ({ ctx, input }) => {
      const derivationKey = requireIssuer(ctx);
      const fromCookie = input.refreshToken === undefined;
      const presented = input.refreshToken ?? ctx.refreshCookie.read();
      if (!presented)
        throw new TRPCError({ code: 'UNAUTHORIZED', message: 'No refresh token (in the input or the cookie)' });
      const rotation = await rotateRefreshToken(ctx.em, presented, {
        graceSeconds: ctx.env.REFRESH_REUSE_GRACE_SECONDS,
        derivationKey,
      });
      // Reuse has already revoked the session (committed); the caller sees the same answer as for
      // any unknown token.
      if (rotation.outcome === 'reused') await ctx.viewers.revoked(ctx.em, { sessionId: rotation.sessionId });
      if (rotation.outcome !== 'rotated') {
        // A dead cookie would only make the browser fail the same way again.
        if (fromCookie) ctx.refreshCookie.clear();
        throw new TRPCError({ code: 'UNAUTHORIZED', message: REFRESH_FAILED });
      }
      // What came from the cookie goes back into it: the page never held the token.
      return tokenPair(ctx, rotation.session, rotation.refreshToken, { inCookie: fromCookie || input.refreshCookie });
    }),

  logout: publicProcedure
    .meta(
      rest('POST /auth/logout', {
        summary: 'End the session of a refresh token (or the cookie)',
        access: 'public',
        errors: { 403: COOKIE_REFUSED },
      }),
    )
    .input(logoutInput)
    .output(loggedOutSchema)
    .mutation(async ({ ctx, input }) => {
      const token = input.refreshToken ?? ctx.refreshCookie.read();
      if (input.refreshToken === undefined) ctx.refreshCookie.clear();
      const sessionId = token ? await revokeSessionOf(ctx.em, token) : undefined;
      if (sessionId) await ctx.viewers.revoked(ctx.em, { sessionId });
      return { ok: true as const };
    }),

  logoutAll: protectedProcedure
    .meta(rest('POST /auth/logout-all', { summary: 'End every session of the caller', access: 'token' }))
    .output(revokedSchema)
    .mutation(async ({ ctx }) => {
      const revoked = await revokeAllSessions(ctx.em, ctx.user.id);
      await ctx.viewers.revoked(ctx.em, { userId: ctx.user.id });
      // This browser's cookie belongs to one of them: it is dead, so it goes too.
      ctx.refreshCookie.clear();
      return { revoked };
    }),

  changePassword: protectedProcedure
    .meta(
      rest('POST /auth/change-password', {
        summary: 'Change the password; every other session ends',
        access: 'token',
        errors: { 401: WRONG_PASSWORD, 429: PASSWORD_GUESSES },
      }),
    )
    .input(z.strictObject({ currentPassword: passwordSchema, newPassword: passwordSchema }))
    .output(passwordChangedSchema)
    .mutation(async ({ ctx, input, signal }) => {
      const currentHash = await confirmPassword(ctx, input.currentPassword, signal);
      const newHash = await ctx.passwords.hash(input.newPassword, { purpose: 'login', signal });
      // The caller left while we hashed: they would not know which password now holds.
      if (signal?.aborted) throw new ClientGoneError();
      const revokedSessions = await changePassword(ctx.em, ctx.viewers, {
        userId: ctx.user.id,
        keepSessionId: ctx.user.sessionId,
        currentHash,
        newHash,
      });
      // Another change won the race: the password checked above no longer holds.
      if (revokedSessions === null) throw wrongPassword();
      return { revokedSessions };
    }),

  deleteAccount: protectedProcedure
    .meta(
      rest('POST /auth/delete-account', {
        summary: 'Delete the caller’s account',
        access: 'token',
        errors: { 401: WRONG_PASSWORD, 429: PASSWORD_GUESSES },
      }),
    )
    .input(z.strictObject({ password: passwordSchema }))
    .output(accountDeletedSchema)
    .mutation(async ({ ctx, input, signal }) => {
      await confirmPassword(ctx, input.password, signal);
      if (!(await deleteAccount(ctx.em, ctx.viewers, ctx.user.id))) throw unauthorized();
      ctx.refreshCookie.clear();
      return { deleted: true as const };
    }),

  sessions: protectedProcedure
    .meta(rest('GET /me/sessions', { summary: 'The caller’s live sessions', access: 'token' }))
    .output(sessionsSchema)
    .query(async ({ ctx }) =>
      (await liveSessions(ctx.em, ctx.user.id)).map((session) => ({
        id: session.id,
        createdAt: session.createdAt.toISOString(),
        lastUsedAt: session.lastUsedAt.toISOString(),
        userAgent: session.userAgent ?? null,
        current: session.id === ctx.user.sessionId,
      })),
    ),

  me: protectedProcedure
    .meta(rest('GET /me', { summary: 'The caller’s profile', access: 'token' }))
    .output(profileSchema)
    .query(async ({ ctx }) => {
      const profile = await loadProfile(ctx.em, { id: ctx.user.id }, ctx.user.id);
      // Only a user removed in the last AUTH_CACHE_SECONDS can be missing; their token is void.
      if (!profile) throw unauthorized();
      return profile;
    }),
});
