import { createHmac, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import jwt from 'jsonwebtoken';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { PASSWORD, signupAndLogin, type TokenPair } from './helpers/auth.ts';
import { ecKeyPair, publicJwk, rsaKeyPair } from './helpers/keys.ts';
import { mutate, query, type CallOptions, type TrpcResult } from './helpers/trpc.ts';

interface Profile {
  id: string;
  username: string;
}

/** The claims Warble puts in an access token. */
interface AccessClaims {
  sub: string;
  sid: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

const ACCESS_TOKEN_TYPE = 'at+jwt';
const UNAUTHORIZED_MESSAGE = 'Invalid or missing access token';
// What jsonwebtoken (and jwks-rsa) say when they refuse a token: none of it may reach a client.
const LIBRARY_TEXT =
  /jwt (expired|malformed|not active|must be provided|signature|audience|issuer|id)|invalid (signature|algorithm|token)|signature is required|unexpected token|signing key/i;

const me = (url: string, options: CallOptions) => query<Profile>(url, 'auth.me', undefined, options);
const login = (url: string, username: string) => mutate<TokenPair>(url, 'auth.login', { username, password: PASSWORD });
const refresh = (url: string, refreshToken: string) => mutate<TokenPair>(url, 'auth.refresh', { refreshToken });

/** Asserts the contract's one answer to a bad credential: 401, one plain message, no library text. */
function expectRefused(result: TrpcResult<unknown>) {
  expect(result.status).toBe(401);
  expect(result.error?.data.code).toBe('UNAUTHORIZED');
  expect(result.error?.message).toBe(UNAUTHORIZED_MESSAGE);
  expect(result.text).not.toMatch(LIBRARY_TEXT);
}

function expectAccepted(result: TrpcResult<Profile>, userId: string) {
  expect(result.error).toBeUndefined();
  expect(result.status).toBe(200);
  expect(result.data?.id).toBe(userId);
}

function expectForbidden(result: TrpcResult<unknown>) {
  expect(result.status).toBe(403);
  expect(result.error?.data.code).toBe('FORBIDDEN');
}

function claimsOf(token: string): AccessClaims {
  const payload = jwt.decode(token);
  expect(payload).toEqual(
    expect.objectContaining({ sub: expect.any(String), sid: expect.any(String), exp: expect.any(Number) }),
  );
  return payload as AccessClaims;
}

const segment = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** A JWT HMAC-signed over exactly this header and payload: no library adds, drops or checks anything. */
function hmacToken(header: object, payload: object, secret: string | Buffer, hash: 'sha256' | 'sha512' = 'sha256') {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

async function jwks(url: string) {
  const response = await fetch(`${url}/.well-known/jwks.json`);
  return { status: response.status, body: (await response.json()) as { keys: JWK[] } };
}

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

describe('access tokens (ES256)', () => {
  const pair = ecKeyPair();
  const t = useTestApp({ env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: pair.privateKey }) });
  const kid = () => calculateJwkThumbprint(publicJwk(pair.publicKey));

  /** A token signed with ES256 by `privateKeyPem`, with user `claims` and this `kid`. */
  const es256Token = (privateKeyPem: string, claims: AccessClaims, keyId: string | undefined) =>
    jwt.sign({ ...claims, jti: randomUUID() }, createPrivateKey(privateKeyPem), {
      algorithm: 'ES256',
      header: { alg: 'ES256', typ: ACCESS_TOKEN_TYPE, ...(keyId ? { kid: keyId } : {}) },
    });

  it('signs with ES256 and names the key by its RFC 7638 thumbprint', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    expect(decodeProtectedHeader(tokens.accessToken)).toEqual({
      alg: 'ES256',
      typ: ACCESS_TOKEN_TYPE,
      kid: await kid(),
    });
    expectAccepted(await me(t.url, { token: tokens.accessToken }), user.id);
  });

  it('publishes the public key, and only it, at /.well-known/jwks.json', async () => {
    const { status, body } = await jwks(t.url);
    expect(status).toBe(200);
    const { x, y } = publicJwk(pair.publicKey);
    // toEqual: no private member (d) and nothing else either.
    expect(body).toEqual({ keys: [{ kty: 'EC', crv: 'P-256', x, y, kid: await kid(), alg: 'ES256', use: 'sig' }] });
  });

  it('issues tokens an outside JOSE library verifies with the published JWKS', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const { payload, protectedHeader } = await jwtVerify(
      tokens.accessToken,
      createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`)),
      { issuer: 'warble', audience: 'warble-api', typ: ACCESS_TOKEN_TYPE, algorithms: ['ES256'] },
    );
    expect(protectedHeader.kid).toBe(await kid());
    expect(payload).toEqual({
      sub: user.id,
      sid: expect.any(String),
      iss: 'warble',
      aud: 'warble-api',
      iat: expect.any(Number),
      exp: payload.iat! + t.env.ACCESS_TOKEN_TTL,
      jti: expect.any(String),
    });
  });

  it('refuses a token signed by another key, whether under its kid or under the other key’s own', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const claims = claimsOf(tokens.accessToken);
    // The control: forged with its own key, the same way, the token is good.
    expectAccepted(await me(t.url, { token: es256Token(pair.privateKey, claims, await kid()) }), user.id);

    const intruder = ecKeyPair();
    const intruderKid = await calculateJwkThumbprint(publicJwk(intruder.publicKey));
    expectRefused(await me(t.url, { token: es256Token(intruder.privateKey, claims, await kid()) }));
    expectRefused(await me(t.url, { token: es256Token(intruder.privateKey, claims, intruderKid) }));
  });

  it('refuses an HS256 token keyed with its public key (algorithm confusion)', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const header = { alg: 'HS256', typ: ACCESS_TOKEN_TYPE, kid: await kid() };
    const payload = { ...claimsOf(tokens.accessToken), jti: randomUUID() };
    expectRefused(await me(t.url, { token: hmacToken(header, payload, pair.publicKey) }));
    expectRefused(await me(t.url, { token: hmacToken(header, payload, pair.publicKey.trim()) }));
  });

  it('is verified by a verify-only process given the public key (PEM), which will not issue tokens', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const verifier = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_PUBLIC_KEYS: pair.publicKey }),
    });
    try {
      expectAccepted(await me(verifier.url, { token: tokens.accessToken }), user.id);
      expectForbidden(await login(verifier.url, user.username));
      expectForbidden(await refresh(verifier.url, tokens.refreshToken));
    } finally {
      await verifier.close();
    }
    // The verifier spent nothing: the refresh token it refused still works where tokens are issued.
    expect((await refresh(t.url, tokens.refreshToken)).status).toBe(200);
  });

  it('is verified by a verify-only process given the JWKS document as JWT_PUBLIC_KEYS', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const document = JSON.stringify((await jwks(t.url)).body);
    const verifier = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_PUBLIC_KEYS: document }),
    });
    try {
      expectAccepted(await me(verifier.url, { token: tokens.accessToken }), user.id);
      expectForbidden(await login(verifier.url, user.username));
    } finally {
      await verifier.close();
    }
  });

  it('is verified by a verify-only process given JWT_JWKS_URL, which refuses keys the JWKS does not list', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const verifier = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_JWKS_URL: `${t.url}/.well-known/jwks.json` }),
    });
    try {
      expectAccepted(await me(verifier.url, { token: tokens.accessToken }), user.id);
      expectForbidden(await login(verifier.url, user.username));
      expectForbidden(await refresh(verifier.url, tokens.refreshToken));

      const intruder = ecKeyPair();
      const intruderKid = await calculateJwkThumbprint(publicJwk(intruder.publicKey));
      const claims = claimsOf(tokens.accessToken);
      expectRefused(await me(verifier.url, { token: es256Token(intruder.privateKey, claims, intruderKid) }));
      expectRefused(await me(verifier.url, { token: es256Token(intruder.privateKey, claims, await kid()) }));
    } finally {
      await verifier.close();
    }
  });

  it('answers SERVICE_UNAVAILABLE, not UNAUTHORIZED, while its JWKS URL does not answer', async () => {
    const { tokens } = await signupAndLogin(t.url);
    const verifier = await startTestApp({
      databaseUrl: t.db.url,
      // Port 1 on loopback: nothing listens, so the key cannot be fetched.
      env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_JWKS_URL: 'http://127.0.0.1:1/.well-known/jwks.json' }),
    });
    try {
      const result = await me(verifier.url, { token: tokens.accessToken });
      // A 401 would make clients throw away tokens that are fine.
      expect(result.status).toBe(503);
      expect(result.error?.data.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await verifier.close();
    }
  });

  it('is refused by an HS256 process on the same database', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const other = await startTestApp({ databaseUrl: t.db.url, env: testEnv() });
    try {
      expectRefused(await me(other.url, { token: tokens.accessToken }));
      // The user and session exist there too: only the algorithm stands in the way.
      const hs256 = await login(other.url, user.username);
      expectAccepted(await me(other.url, { token: hs256.data!.accessToken }), user.id);
    } finally {
      await other.close();
    }
  });
});

describe('access tokens (RS256)', () => {
  const pair = rsaKeyPair();
  const t = useTestApp({ env: testEnv({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: pair.privateKey }) });

  it('signs with RS256 under a kid, publishes the key, and an outside JOSE library verifies the token', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const { n, e } = publicJwk(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk(pair.publicKey));
    expect(decodeProtectedHeader(tokens.accessToken)).toEqual({ alg: 'RS256', typ: ACCESS_TOKEN_TYPE, kid });
    expectAccepted(await me(t.url, { token: tokens.accessToken }), user.id);

    const { status, body } = await jwks(t.url);
    expect(status).toBe(200);
    expect(body).toEqual({ keys: [{ kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' }] });

    const { payload } = await jwtVerify(
      tokens.accessToken,
      createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`)),
      { issuer: 'warble', audience: 'warble-api', typ: ACCESS_TOKEN_TYPE, algorithms: ['RS256'] },
    );
    expect(payload.sub).toBe(user.id);
  });

  it('is verified by a verify-only process given the public key, which will not issue tokens', async () => {
    const { user, tokens } = await signupAndLogin(t.url);
    const verifier = await startTestApp({
      databaseUrl: t.db.url,
      env: testEnv({ JWT_ALGORITHM: 'RS256', JWT_PUBLIC_KEYS: pair.publicKey }),
    });
    try {
      expectAccepted(await me(verifier.url, { token: tokens.accessToken }), user.id);
      expectForbidden(await login(verifier.url, user.username));
    } finally {
      await verifier.close();
    }
  });
});
