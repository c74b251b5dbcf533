// Mounts the tRPC router on Fastify, behind the transport checks that run before tRPC does (the
// method, the content type), which answer in tRPC's error shape like every other error. Errors
// Fastify raises itself (a body too large) go to the app's error handler (fastify-errors.ts).
import { TRPCError, type AnyRouter } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { retryAfterOf } from '../limits/retry-later.ts';
import type { Context } from '../trpc/context.ts';
import { sendError } from './error-reply.ts';

export { BODY_LIMIT_BYTES } from './body-limit.ts';

export const MAX_BATCH_SIZE = 50;

export interface TrpcPluginOptions {
  router: AnyRouter;
  createContext: (options: CreateFastifyContextOptions) => Context;
  /** Runs after the transport checks, before tRPC: the budget and the door (limits/admission.ts). */
  admit: onRequestAsyncHookHandler;
}

// Queries are GETs, mutations POSTs; any other method is refused, with this `Allow` header.
const ALLOWED_METHODS = 'GET, POST';

const procedurePath = (request: FastifyRequest) => (request.params as { path?: string }).path;

/** The request says its body is JSON (the only body /trpc and /api read). */
export function isJson(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type);
}

export async function trpcPlugin(scope: FastifyInstance, { router, createContext, admit }: TrpcPluginOptions) {
  // The one place that decides which methods /trpc answers (405 for PUT, DELETE, HEAD, OPTIONS…).
  // CORS preflights from listed origins never get here: http/cors.ts answers them first.
  scope.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'POST') {
      reply.header('allow', ALLOWED_METHODS);
      const error = new TRPCError({
        code: 'METHOD_NOT_SUPPORTED',
        message: 'Only GET (queries) and POST (mutations) are supported',
      });
      return sendError(reply, error, procedurePath(request));
    }
  });

  // JSON only (no form posts, no octet streams): a POST with any other body type is refused
  // before anything reads it.
  scope.addHook('onRequest', async (request, reply) => {
    if (request.method === 'POST' && !isJson(request)) {
      const error = new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json' });
      return sendError(reply, error, procedurePath(request));
    }
  });

  scope.addHook('onRequest', admit);

  await scope.register(fastifyTRPCPlugin<AnyRouter>, {
    trpcOptions: {
      router,
      createContext,
      maxBatchSize: MAX_BATCH_SIZE,
      responseMeta({ errors }) {
        // A limit tells the client when to come back (RFC 9110 §10.2.3); in a batch, the latest.
        const retryAfter = Math.max(0, ...errors.map(retryAfterOf));
        return retryAfter ? { headers: { 'retry-after': String(retryAfter) } } : {};
      },
      onError({ error, path, req }) {
        // Client mistakes are routine; only failures of ours deserve an error line with the cause.
        // A caller that left (CLIENT_CLOSED_REQUEST) is routine too.
        if (error.code === 'INTERNAL_SERVER_ERROR')
          req.log.error({ err: error.cause ?? error, path }, 'procedure failed');
        else req.log.debug({ code: error.code, path }, error.message);
      },
    },
  });
}
