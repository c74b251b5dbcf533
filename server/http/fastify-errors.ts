// The errors Fastify detects itself (no route, a bad URL, a body too large or not parseable, a
// failing hook or plain route) answered in tRPC's error shape, in plain words of ours: a client
// parses one format everywhere, and no framework text (FST_ codes, "Route GET:/x not found")
// reaches it. Errors from Node's HTTP parser, before Fastify sees a request, are client-errors.ts.
import { STATUS_CODES } from 'node:http';
import { TRPCError } from '@trpc/server';
// tRPC's own table from HTTP status to error code; exported only here.
import { getStatusKeyFromCode, type TRPC_ERROR_CODE_KEY } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { refuseOversizedBody } from './body-limit.ts';
import { sendError } from './error-reply.ts';
import { SAFE_HEADERS } from './response-headers.ts';

// Fastify's errors that a client can cause, by code, in our words. Any other 4xx gets the plain
// name of its status ("Not Found"); a 5xx is "Internal server error" (the errorFormatter masks it).
const PLAIN_MESSAGES: Partial<Record<string, string>> = {
  FST_ERR_BAD_URL: 'Malformed URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URL is too long',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported content type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Body length does not match Content-Length',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Empty JSON body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Malformed JSON input',
  FST_ERR_VALIDATION: 'Invalid input',
};

/** tRPC's code for an HTTP status; statuses it has no name for (414, 431) count as BAD_REQUEST. */
function codeForStatus(status: number): TRPC_ERROR_CODE_KEY {
  const code = getStatusKeyFromCode(status);
  return code === 'INTERNAL_SERVER_ERROR' && status < 500 ? 'BAD_REQUEST' : code;
}

const procedurePath = (request: FastifyRequest) => (request.params as { path?: string } | null)?.path;

/**
 * The app's error handler: every error of a route, a hook or Fastify's body parsing, and (through
 * `frameworkErrors`) a URL it cannot decode or route: FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH.
 */
export function replyWithError(error: FastifyError | TRPCError, request: FastifyRequest, reply: FastifyReply) {
  const path = procedurePath(request);
  if (error instanceof TRPCError) {
    if (error.code === 'INTERNAL_SERVER_ERROR') request.log.error({ err: error.cause ?? error }, 'request failed');
    return sendError(reply, error, path);
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return refuseOversizedBody(request, reply, path);
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return sendError(reply, new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error }), path);
  }
  request.log.debug({ code: error.code, status }, 'request refused');
  const message = PLAIN_MESSAGES[error.code] ?? STATUS_CODES[status] ?? 'Bad request';
  return sendError(reply, new TRPCError({ code: codeForStatus(status), message, cause: error }), path, status);
}

/** For Fastify's `frameworkErrors`: it answers before any hook runs, onSend included. */
export function replyWithFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.headers({ ...SAFE_HEADERS, 'x-request-id': request.id });
  void replyWithError(error, request, reply);
}

/** For Fastify's `setNotFoundHandler`: no route has this method and path. */
export function replyNotFound(request: FastifyRequest, reply: FastifyReply) {
  return sendError(reply, new TRPCError({ code: 'NOT_FOUND', message: 'Not found' }));
}
