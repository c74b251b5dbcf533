import { randomBytes, randomUUID } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import {
  ACCESS_TOKEN_TYPE,
  claimsOf,
  expectAccepted,
  expectRefused,
  hmacToken,
  jwks,
  login,
  me,
  now,
  segment,
  type AccessClaims,
} from './helpers/tokens.ts';
import type { CallOptions } from './helpers/trpc.ts';

describe('access tokens (HS256)', () => {
  const t = useTestApp();

  /** A real login of user A (whose token every forgery copies) and of user B (the victim of tampering). */
  interface Forgery {
    secret: string;
    token: string;
    refreshToken: string;
    claims: AccessClaims;
    other: AccessClaims;
  }
  let f: Forgery;
  beforeAll(async () => {
    const a = await signupAndLogin(t.url);
    const b = await signupAndLogin(t.url);
    expect(t.env.JWT_SECRET).toEqual(expect.any(String));
    f = {
      secret: t.env.JWT_SECRET!,
      token: a.tokens.accessToken,
      refreshToken: a.tokens.refreshToken,
      claims: claimsOf(a.tokens.accessToken),
      other: claimsOf(b.tokens.accessToken),
    };
  });

  const header = { alg: 'HS256', typ: ACCESS_TOKEN_TYPE };
  /** User A's claims with a new jti, and the changes under test. */
  const claims = (changes: Partial<AccessClaims> & { nbf?: number } = {}) => ({
    ...f.claims,
    jti: randomUUID(),
    ...changes,
  });

  it('accepts the access token it issued', async () => {
    expect(decodeProtectedHeader(f.token)).toEqual(header);
    expect(f.claims).toEqual({
      sub: expect.any(String),
      sid: expect.any(String),
      iss: 'warble',
      aud: 'warble-api',
      iat: expect.any(Number),
      exp: f.claims.iat + t.env.ACCESS_TOKEN_TTL,
      jti: expect.any(String),
    });
    expectAccepted(await me(t.url, { token: f.token }), f.claims.sub);
  });

  it('accepts a token forged with the real secret and nothing wrong in it (the control for every refusal below)', async () => {
    expectAccepted(await me(t.url, { token: hmacToken(header, claims(), f.secret) }), f.claims.sub);
  });

  it('accepts the long form of the media type in typ, in any case (RFC 9068)', async () => {
    const token = hmacToken({ ...header, typ: 'application/AT+JWT' }, claims(), f.secret);
    expectAccepted(await me(t.url, { token }), f.claims.sub);
  });

  // Each case differs from the control above in one thing only.
  const refusals: [string, () => CallOptions][] = [
    [
      'a token signed with alg none',
      () => ({ token: `${segment({ alg: 'none', typ: ACCESS_TOKEN_TYPE })}.${segment(claims())}.` }),
    ],
    [
      'a token signed with HS512 and the right secret',
      () => ({ token: hmacToken({ ...header, alg: 'HS512' }, claims(), f.secret, 'sha512') }),
    ],
    [
      'a token signed with HS256 and another secret',
      () => ({ token: hmacToken(header, claims(), randomBytes(32).toString('base64url')) }),
    ],
    [
      'an expired token',
      () => ({ token: hmacToken(header, claims({ iat: now() - 1000, exp: now() - 100 }), f.secret) }),
    ],
    [
      'a token that is not valid yet (nbf in the future)',
      () => ({ token: hmacToken(header, claims({ nbf: now() + 600 }), f.secret) }),
    ],
    ['a token of another issuer', () => ({ token: hmacToken(header, claims({ iss: 'someone-else' }), f.secret) })],
    ['a token for another audience', () => ({ token: hmacToken(header, claims({ aud: 'another-api' }), f.secret) })],
    [
      'a token typed as a plain JWT (typ JWT)',
      () => ({ token: hmacToken({ ...header, typ: 'JWT' }, claims(), f.secret) }),
    ],
    ['a token without typ', () => ({ token: hmacToken({ alg: 'HS256' }, claims(), f.secret) })],
    [
      'a token without exp',
      () => {
        const { exp: _exp, ...rest } = claims();
        return { token: hmacToken(header, rest, f.secret) };
      },
    ],
    [
      "a token whose payload was changed to another user's, signature kept",
      () => {
        const [head, , signature] = f.token.split('.');
        const payload = { ...f.claims, sub: f.other.sub, sid: f.other.sid };
        return { token: `${head}.${segment(payload)}.${signature}` };
      },
    ],
    [
      'a correctly signed token of a user that does not exist',
      () => {
        const { sid: _sid, ...rest } = claims({ sub: randomUUID() });
        return { token: hmacToken(header, rest, f.secret) };
      },
    ],
    [
      'a correctly signed token of a real user without a session (no sid, so nothing could revoke it)',
      () => {
        const { sid: _sid, ...rest } = claims();
        return { token: hmacToken(header, rest, f.secret) };
      },
    ],
    ['a refresh token used as the bearer token', () => ({ token: f.refreshToken })],
    ['a garbage string', () => ({ token: 'not-a-token' })],
    ['three garbage segments', () => ({ token: 'eyJub3Q.anNvbg.x' })],
    ['the access token under the Basic scheme', () => ({ headers: { authorization: `Basic ${f.token}` } })],
    ['no Authorization header', () => ({})],
  ];

  it.each(refusals)('refuses %s with 401 and one plain message', async (_title, forge) => {
    expectRefused(await me(t.url, forge()));
  });

  it('serves no JWKS: /.well-known/jwks.json is 404', async () => {
    expect((await jwks(t.url)).status).toBe(404);
  });

  it('accepts its tokens on another instance with the same JWT_SECRET, and not on one with another secret', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const twin = await startTestApp({ databaseUrl: t.db.url, env: testEnv({ JWT_SECRET: t.env.JWT_SECRET! }) });
    try {
      expectAccepted(await me(twin.url, { token: tokens.accessToken }), user.id);
      // And the other way round: the twin issues tokens the first instance accepts.
      const twinLogin = await login(twin.url, user.username);
      expect(twinLogin.status).toBe(200);
      expectAccepted(await me(t.url, { token: twinLogin.data!.accessToken }), user.id);
    } finally {
      await twin.close();
    }
    const stranger = await startTestApp({ databaseUrl: t.db.url, env: testEnv() });
    try {
      expectRefused(await me(stranger.url, { token: tokens.accessToken }));
    } finally {
      await stranger.close();
    }
  });
});
