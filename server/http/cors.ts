// Cross-origin calls from browser pages (contract: Browsers). Only the origins in CORS_ORIGINS get
// CORS headers; any other origin gets none at all, so its browser refuses to show it the answer
// (and a preflight from it falls through to the routes, which refuse OPTIONS: 405 on /trpc).
// Registered before every route, so a preflight is answered before the /trpc method check.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

// Browsers cap how long they keep a preflight (Chromium: 2 hours, Firefox: 24). Preflights are per
// URL, and every tRPC call has its own URL, so a long cache spares a page one round trip per
// procedure it calls.
export const PREFLIGHT_MAX_AGE_SECONDS = 7200;

// What pages may send: the bearer token, JSON bodies, tRPC's streaming opt-in, the event stream's
// resume id, and tracing/request ids a frontend may forward.
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'trpc-accept',
  'last-event-id',
  'x-request-id',
  'traceparent',
  'tracestate',
];
// What pages may read from an answer: when to come back after a 429/503, and the id to quote in a
// bug report. (The SDK reads the retry delay from the error body too.)
const EXPOSED_HEADERS = ['retry-after', 'x-request-id'];

/** True when `origin` (an `Origin` header) is the API's own or one of CORS_ORIGINS. */
export function isTrustedOrigin(request: FastifyRequest, origin: string, listed: readonly string[]): boolean {
  return listed.includes(origin) || origin === `${request.protocol}://${request.host}`;
}

export async function registerCors(app: FastifyInstance, corsOrigins: readonly string[]): Promise<void> {
  // No origin listed: no page may call, and the API's other clients pay nothing for CORS.
  if (corsOrigins.length === 0) return;
  const listed = new Set(corsOrigins);
  const base = {
    // A function, so an unlisted origin gets no header at all (not even Allow-Credentials).
    origin: (origin: string | undefined, done: (error: Error | null, allow: boolean) => void) =>
      done(null, origin !== undefined && listed.has(origin)),
    credentials: true,
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    // A malformed preflight gets the routes' own answer (JSON, like every error), not a text 400.
    strictPreflight: false,
  } satisfies FastifyCorsOptions;
  // tRPC takes GET and POST only; the REST routes under /api also PUT, PATCH and DELETE.
  const trpc: FastifyCorsOptions = { ...base, methods: ['GET', 'POST'] };
  const rest: FastifyCorsOptions = { ...base, methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] };
  await app.register(cors, {
    delegator: (request, done) => done(null, request.url.startsWith('/api/') ? rest : trpc),
  });
}
