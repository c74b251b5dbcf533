// Access tokens: short-lived JWTs (RFC 9068 profile) that any Warble process can verify on its own.
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Env } from '../env.ts';
import type { Keys } from './keys.ts';

// RFC 9068 §2.1: the media type marks an access token, so no other JWT (an ID token, a token
// of another system signed with the same key) can be replayed as one.
const ACCESS_TOKEN_TYPE = 'at+jwt';

export interface AccessClaims {
  userId: string;
  sessionId: string;
  /** `exp`: seconds since the epoch. */
  expiresAt: number;
}

// Media types are case-insensitive, and RFC 9068 allows the full form too.
const isAccessTokenType = (typ: unknown) =>
  typeof typ === 'string' && [ACCESS_TOKEN_TYPE, `application/${ACCESS_TOKEN_TYPE}`].includes(typ.toLowerCase());

export class CannotIssueTokensError extends Error {
  override name = 'CannotIssueTokensError';
}

export type TokenEnv = Pick<Env, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL'>;

export function issueAccessToken(keys: Keys, env: TokenEnv, claims: Omit<AccessClaims, 'expiresAt'>): string {
  if (!keys.signing) throw new CannotIssueTokensError('this process only verifies tokens');
  return jwt.sign({ sid: claims.sessionId }, keys.signing.key, {
    algorithm: keys.algorithm,
    header: { alg: keys.algorithm, typ: ACCESS_TOKEN_TYPE, ...(keys.signing.kid ? { kid: keys.signing.kid } : {}) },
    subject: claims.userId,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
    expiresIn: env.ACCESS_TOKEN_TTL,
    jwtid: randomUUID(),
  });
}

/**
 * The token's claims, or null for anything that is not a valid, current access token of ours:
 * callers answer every such failure with the same UNAUTHORIZED, so a client learns nothing about
 * why (RFC 8725 §3.1, §3.11, §3.12). Throws only when the keys cannot be fetched
 * (KeySourceUnavailableError), which is our outage, not a bad token.
 */
export async function verifyAccessToken(keys: Keys, env: TokenEnv, token: string): Promise<AccessClaims | null> {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || !isAccessTokenType(decoded.header.typ) || decoded.header.alg !== keys.algorithm) return null;
  const key = await keys.verificationKey(decoded.header.kid);
  if (!key) return null;
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, key, {
      algorithms: [keys.algorithm], // pinned: never the algorithm the token names
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
    });
  } catch {
    return null;
  }
  // jsonwebtoken accepts a token without `exp`; ours always have one, and a session (`sid`) that
  // logout and reuse detection can revoke: a token without them is not one of ours.
  if (typeof payload !== 'object' || typeof payload.exp !== 'number' || typeof payload.sub !== 'string') return null;
  const sid: unknown = payload.sid;
  return typeof sid === 'string' ? { userId: payload.sub, sessionId: sid, expiresAt: payload.exp } : null;
}
