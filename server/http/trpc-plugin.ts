// Mounts the tRPC router on Fastify and makes the failures that Fastify detects before tRPC runs
// (body too large, not JSON) answer in tRPC's error shape, so every client sees one format.
import { TRPCError, type AnyRouter } from '@trpc/server';
import { fastifyTRPCPlugin, type CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
// tRPC exports its shape builder only here; it is what its own adapters use to format errors.
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TooManyAttemptsError } from '../auth/rate-limit.ts';
import type { Context } from '../trpc/context.ts';

const MAX_BATCH_SIZE = 50;
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface TrpcPluginOptions {
  router: AnyRouter;
  createContext: (options: CreateFastifyContextOptions) => Context;
}

const FASTIFY_STATUS_TO_CODE: Partial<Record<number, TRPCError['code']>> = {
  400: 'BAD_REQUEST',
  408: 'TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

function isJson(request: FastifyRequest): boolean {
  const type = request.headers['content-type'];
  return typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type);
}

export async function trpcPlugin(scope: FastifyInstance, { router, createContext }: TrpcPluginOptions) {
  const sendError = (request: FastifyRequest, reply: FastifyReply, error: TRPCError) => {
    const path = (request.params as { path?: string } | undefined)?.path;
    // The router's errorFormatter runs here too, so these errors look like every other one.
    const shape: unknown = getErrorShape({
      config: router._def._config,
      error,
      type: 'unknown',
      path,
      input: undefined,
      ctx: undefined,
    });
    return reply.code(getHTTPStatusCodeFromError(error)).send({ error: shape });
  };

  // JSON only (no form posts, no octet streams): a POST with any other body type is refused
  // before anything reads it.
  scope.addHook('onRequest', async (request, reply) => {
    if (request.method === 'POST' && !isJson(request)) {
      return sendError(
        request,
        reply,
        new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json' }),
      );
    }
  });

  scope.setErrorHandler((error: FastifyError, request, reply) => {
    const code = error.statusCode === undefined ? undefined : FASTIFY_STATUS_TO_CODE[error.statusCode];
    if (!code) request.log.error({ err: error }, 'unexpected error outside tRPC');
    const message =
      code === 'PAYLOAD_TOO_LARGE' ? `Request body is larger than ${BODY_LIMIT_BYTES} bytes` : error.message;
    return sendError(request, reply, new TRPCError({ code: code ?? 'INTERNAL_SERVER_ERROR', message, cause: error }));
  });

  await scope.register(fastifyTRPCPlugin<AnyRouter>, {
    trpcOptions: {
      router,
      createContext,
      maxBatchSize: MAX_BATCH_SIZE,
      responseMeta({ errors }) {
        // TOO_MANY_REQUESTS tells the client when to come back (RFC 9110 §10.2.3).
        const retryAfter = errors
          .map((error) => (error.cause instanceof TooManyAttemptsError ? error.cause.retryAfterSeconds : 0))
          .reduce((longest, seconds) => Math.max(longest, seconds), 0);
        return retryAfter ? { headers: { 'retry-after': String(retryAfter) } } : {};
      },
      onError({ error, path, req }) {
        // Client mistakes are routine; only failures of ours deserve an error line with the cause.
        if (error.code === 'INTERNAL_SERVER_ERROR')
          req.log.error({ err: error.cause ?? error, path }, 'procedure failed');
        else req.log.debug({ code: error.code, path }, error.message);
      },
    },
  });
}
