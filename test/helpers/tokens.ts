// Callers, assertions and hand-made tokens shared by the access-token tests
// (auth-tokens.test.ts for HS256, auth-jwks.test.ts for ES256 and RS256).
import { createHmac, createPrivateKey, randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import jwt from 'jsonwebtoken';
import { expect } from 'vitest';
import { PASSWORD, type TokenPair } from './auth.ts';
import { mutate, query, type CallOptions, type TrpcResult } from './trpc.ts';

export interface Profile {
  id: string;
  username: string;
}

/** The claims Warble puts in an access token. */
export interface AccessClaims {
  sub: string;
  sid: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

export const ACCESS_TOKEN_TYPE = 'at+jwt';
const UNAUTHORIZED_MESSAGE = 'Invalid or missing access token';
// What jsonwebtoken (and jwks-rsa) say when they refuse a token: none of it may reach a client.
const LIBRARY_TEXT =
  /jwt (expired|malformed|not active|must be provided|signature|audience|issuer|id)|invalid (signature|algorithm|token)|signature is required|unexpected token|signing key/i;

export const me = (url: string, options: CallOptions) => query<Profile>(url, 'auth.me', undefined, options);
export const login = (url: string, username: string) =>
  mutate<TokenPair>(url, 'auth.login', { username, password: PASSWORD });
export const refresh = (url: string, refreshToken: string) => mutate<TokenPair>(url, 'auth.refresh', { refreshToken });

/** Asserts the contract's one answer to a bad credential: 401, one plain message, no library text. */
export function expectRefused(result: TrpcResult<unknown>) {
  expect(result.status).toBe(401);
  expect(result.error?.data.code).toBe('UNAUTHORIZED');
  expect(result.error?.message).toBe(UNAUTHORIZED_MESSAGE);
  expect(result.text).not.toMatch(LIBRARY_TEXT);
}

export function expectAccepted(result: TrpcResult<Profile>, userId: string) {
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(200);
  expect(result.data?.id).toBe(userId);
}

export function expectForbidden(result: TrpcResult<unknown>) {
  expect(result.status).toBe(403);
  expect(result.error?.data.code).toBe('FORBIDDEN');
}

export function claimsOf(token: string): AccessClaims {
  const payload = jwt.decode(token);
  expect(payload).toEqual(
    expect.objectContaining({ sub: expect.any(String), sid: expect.any(String), exp: expect.any(Number) }),
  );
  return payload as AccessClaims;
}

export const segment = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** A JWT HMAC-signed over exactly this header and payload: no library adds, drops or checks anything. */
export function hmacToken(
  header: object,
  payload: object,
  secret: string | Buffer,
  hash: 'sha256' | 'sha512' = 'sha256',
) {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

export const now = () => Math.floor(Date.now() / 1000);

export async function jwks(url: string) {
  const response = await fetch(`${url}/.well-known/jwks.json`);
  return { status: response.status, body: (await response.json()) as { keys: JWK[] } };
}

/** A token signed with ES256 by `privateKeyPem`, with user `claims` and this `kid`. */
export const es256Token = (privateKeyPem: string, claims: AccessClaims, keyId: string | undefined) =>
  jwt.sign({ ...claims, jti: randomUUID() }, createPrivateKey(privateKeyPem), {
    algorithm: 'ES256',
    header: { alg: 'ES256', typ: ACCESS_TOKEN_TYPE, ...(keyId ? { kid: keyId } : {}) },
  });
