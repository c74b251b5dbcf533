// Refresh tokens are opaque random strings. Only their SHA-256 is stored: a database leak gives
// no usable token, and a fast hash is enough because the input has 256 bits of entropy.
import { createHash, createHmac, randomBytes } from 'node:crypto';

export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A token's one successor, computed from the token itself with a server-side key. Rotation and
 * every retry within the grace period compute the same string, so a retried refresh can return
 * the successor again although only its hash was ever stored.
 */
export function successorOf(token: string, derivationKey: Buffer): string {
  return createHmac('sha256', derivationKey).update(token).digest('base64url');
}
