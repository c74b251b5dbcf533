// One error format for every answer, whoever detects the problem: tRPC itself, Fastify before
// tRPC runs (body too large, not JSON, bad URL), or our own limits. Clients parse one shape.
import type { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
// tRPC exports its shape builder only here; it is what its own adapters use to format errors.
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyReply } from 'fastify';
import { isRestUrl, toRestError } from '../rest/rest-errors.ts';
import { appRouter } from '../trpc/router.ts';

/**
 * `{ error: shape }` as tRPC answers it, through the router's errorFormatter (production masking).
 * `httpStatus`: for the few statuses tRPC has no code for (414, 431), sent with the nearest code.
 */
export function errorBody(error: TRPCError, path?: string, httpStatus?: number) {
  const shape = getErrorShape({
    // Every router of ours is built by the one initTRPC in trpc/init.ts: one formatter for all.
    config: appRouter._def._config,
    error,
    type: 'unknown',
    path,
    input: undefined,
    ctx: undefined,
  });
  if (httpStatus === undefined) return { error: shape };
  return { error: { ...shape, data: { ...shape.data, httpStatus } } };
}

/** Answers `error` in its API's shape: tRPC's, or under /api the REST one (rest/rest-errors.ts). */
export function sendError(reply: FastifyReply, error: TRPCError, path?: string, httpStatus?: number): FastifyReply {
  const body = errorBody(error, path, httpStatus);
  return reply
    .code(httpStatus ?? getHTTPStatusCodeFromError(error))
    .send(isRestUrl(reply.request.url) ? toRestError(body.error, error.cause) : body);
}
