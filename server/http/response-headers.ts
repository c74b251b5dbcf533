// Headers every answer carries, set in one place (the onSend hook in app.ts; client-errors.ts
// writes the same ones into the answers it builds by hand).
import type { FastifyReply } from 'fastify';

/**
 * `nosniff`: a browser must believe our Content-Type (JSON stays data, never a script or page).
 * `no-store`: login and refresh answers carry tokens (RFC 6749 §5.1) and authenticated reads are
 * private, so no cache (browser, proxy, CDN) may keep a copy of any answer.
 */
export const SAFE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/**
 * A route that serves public, cacheable data says so with its own Cache-Control (only
 * /.well-known/jwks.json does); every other answer gets `no-store`.
 */
export function addSafeHeaders(reply: FastifyReply, payload: unknown): void {
  reply.header('x-content-type-options', SAFE_HEADERS['x-content-type-options']);
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', SAFE_HEADERS['cache-control']);
  // tRPC answers with a fetch Response, whose headers Fastify copies over the reply's after this
  // hook; its event streams say "no-cache", which still lets a cache keep a copy.
  if (payload instanceof Response) {
    const noTransform = payload.headers.get('cache-control')?.includes('no-transform');
    payload.headers.set('cache-control', noTransform ? 'no-store, no-transform' : 'no-store');
  }
}
