// The answers of the auth procedures as zod schemas: tRPC checks every answer against them, and
// the OpenAPI document describes the REST routes with them. Plain shapes, no transforms.
import { z } from 'zod';

// ISO-8601 in UTC (toISOString). Documented as a date-time, not checked as one: the check would
// cost three times the rest of a timeline page's, for strings our own code writes.
const timestamp = z.string().meta({ format: 'date-time' });

/** auth.signup: the new account. */
export const accountSchema = z
  .object({ id: z.string(), username: z.string(), createdAt: timestamp })
  .meta({ id: 'Account' });

/** auth.login and auth.refresh. */
export const tokenPairSchema = z
  .object({
    accessToken: z.string().meta({ description: 'Send as `Authorization: Bearer <accessToken>`.' }),
    refreshToken: z.string().nullable().meta({
      description: 'For auth.refresh and auth.logout; null when `refreshCookie` put it into the warble_refresh cookie.',
    }),
    tokenType: z.literal('Bearer'),
    expiresIn: z.int().positive().meta({ description: 'Seconds until the access token expires.' }),
    user: z.object({ id: z.string(), username: z.string() }),
  })
  .meta({ id: 'TokenPair' });

export const loggedOutSchema = z.object({ ok: z.literal(true) });

export const revokedSchema = z.object({ revoked: z.int().nonnegative() });

export const passwordChangedSchema = z.object({
  revokedSessions: z.int().nonnegative().meta({ description: 'The other sessions, now ended.' }),
});

export const accountDeletedSchema = z.object({ deleted: z.literal(true) });

export const sessionSchema = z
  .object({
    id: z.string(),
    createdAt: timestamp,
    lastUsedAt: timestamp,
    userAgent: z.string().nullable(),
    current: z.boolean().meta({ description: 'The session of the token that asks.' }),
  })
  .meta({ id: 'Session' });

export const sessionsSchema = z.array(sessionSchema);
