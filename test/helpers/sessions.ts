// Callers, assertions and database inspection shared by the session tests
// (auth-refresh.test.ts and auth-sessions.test.ts).
import pg from 'pg';
import { expect } from 'vitest';
import type { TokenPair } from './auth.ts';
import { refresh } from './tokens.ts';
import { query } from './trpc.ts';

// The one auth.refresh caller, shared with the access-token tests.
export { refresh };

export interface RefreshTokenRow {
  id: string;
  session_id: string;
  token_hash: string;
  created_at: Date;
  spent_at: Date | null;
}

export interface SessionRow {
  id: string;
  user_id: string;
  revoked_at: Date | null;
  expires_at: Date;
}

export const me = (url: string, token: string) =>
  query<{ id: string; username: string }>(url, 'auth.me', undefined, { token });

/** One statement on the test database, on a connection of its own (not the app's). */
export async function sql<R extends pg.QueryResultRow>(databaseUrl: string, text: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The `sid` claim of an access token (the session it belongs to). */
export function sessionIdOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sid?: unknown;
  };
  expect(payload.sid).toEqual(expect.any(String));
  return payload.sid as string;
}

export const refreshTokensOf = (databaseUrl: string, sessionId: string) =>
  sql<RefreshTokenRow>(databaseUrl, 'select * from refresh_tokens where session_id = $1 order by created_at, id', [
    sessionId,
  ]);

export const sessionRow = async (databaseUrl: string, sessionId: string) =>
  (await sql<SessionRow>(databaseUrl, 'select * from sessions where id = $1', [sessionId]))[0];

/** Asserts a successful refresh and returns its pair. */
export async function refreshed(url: string, refreshToken: string): Promise<TokenPair> {
  const result = await refresh(url, refreshToken);
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(200);
  return result.data!;
}

/** Asserts the call was refused as UNAUTHORIZED (401). */
export function expectUnauthorized(result: { status: number; error?: { data: { code: string } } | undefined }) {
  expect(result.status).toBe(401);
  expect(result.error?.data.code).toBe('UNAUTHORIZED');
}
