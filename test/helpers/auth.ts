import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { mutate, type CallOptions } from './trpc.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  user: { id: string; username: string };
}

export const PASSWORD = 'correct horse battery';

/** A username no other test uses (tests in a file share a database). */
export function uniqueUsername(prefix = 'u'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function signup(baseUrl: string, username = uniqueUsername(), password = PASSWORD) {
  const result = await mutate<{ id: string; username: string; createdAt: string }>(baseUrl, 'auth.signup', {
    username,
    password,
  });
  expect(result.error).toBeUndefined();
  return result.data!;
}

export async function login(baseUrl: string, username: string, password = PASSWORD, options: CallOptions = {}) {
  const result = await mutate<TokenPair>(baseUrl, 'auth.login', { username, password }, options);
  expect(result.error).toBeUndefined();
  return result.data!;
}

/** A new user, logged in once. */
export async function signupAndLogin(baseUrl: string, options: CallOptions = {}) {
  const user = await signup(baseUrl);
  return { user, tokens: await login(baseUrl, user.username, PASSWORD, options) };
}
