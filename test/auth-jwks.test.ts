import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { ecKeyPair, publicJwk, rsaKeyPair } from './helpers/keys.ts';
import {
  ACCESS_TOKEN_TYPE,
  claimsOf,
  es256Token,
  expectAccepted,
  expectForbidden,
  expectRefused,
  hmacToken,
  jwks,
  login,
  me,
  refresh,
} from './helpers/tokens.ts';

describe('access tokens (ES256)', () => {
  const pair = ecKeyPair();
  const t = useTestApp({ env: testEnv({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: pair.privateKey }) });
  const kid = () => calculateJwkThumbprint(publicJwk(pair.publicKey));

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
