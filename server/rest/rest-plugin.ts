// REST under /api (contract: "Open to every client"): a route for every procedure whose meta
// names one (route-meta.ts), answering with the procedure's plain output, or `{ message, code,
// issues? }` and tRPC's HTTP status. Behind the same door as /trpc: JSON only, then the call
// budget and fair share (limits/admission.ts); the same createContext, so bearer tokens and the
// refresh cookie work alike.
//
// Our own adapter rather than trpc-to-openapi's Fastify plugin (we use its meta convention and its
// document generator): its handler switches zod's coercion on in the procedures' own input schemas
// (so /trpc would start turning "false" into true), answers errors with tRPC's `data` and zod's raw
// issues, refuses a body-less PUT without a content type, passes no abort signal to procedures,
// and routes everything through one catch-all route that rewrites the request's URL.
import { TRPCError, type AnyRouter } from '@trpc/server';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { sendError } from '../http/error-reply.ts';
import { isJson } from '../http/trpc-plugin.ts';
import { retryAfterOf } from '../limits/retry-later.ts';
import type { Context } from '../trpc/context.ts';
import { restInput } from './rest-input.ts';
import { toRestError } from './rest-errors.ts';
import { restRoutes, type RestRoute } from './routes.ts';

export interface RestPluginOptions {
  router: AnyRouter;
  createContext: (options: CreateFastifyContextOptions) => Context;
  /** The budget and the door, shared with /trpc (one allowance per client for both). */
  admit: onRequestAsyncHookHandler;
}

// Every method a REST path can be asked with; OPTIONS here only when it is not a CORS preflight
// (http/cors.ts answers those first).
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;

/** `/posts/{id}` as Fastify writes it: `/posts/:id`. */
const fastifyPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

const hasBody = (request: FastifyRequest) =>
  request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;

/**
 * JSON only: a request that sends a body says it is JSON. One that sends none (`PUT …/follow`,
 * `POST /api/auth/logout-all`) needs no content type, or may name JSON and send nothing.
 */
async function jsonOnly(request: FastifyRequest, reply: FastifyReply) {
  if (request.method === 'GET' || request.method === 'DELETE' || request.method === 'HEAD') return;
  if (request.headers['content-type'] === undefined ? !hasBody(request) : isJson(request)) return;
  return sendError(
    reply,
    new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/json' }),
  );
}

export function restPlugin(
  scope: FastifyInstance,
  { router, createContext, admit }: RestPluginOptions,
  done: (error?: Error) => void,
) {
  scope.addHook('onRequest', jsonOnly);
  scope.addHook('onRequest', admit);
  // An empty body named JSON is no body (Fastify's own parser refuses it); anything else is parsed
  // by that parser, with its guards against prototype poisoning.
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text === '') done(null, undefined);
    else void parseJson(request, text, done);
  });

  const routes = restRoutes(router);
  for (const route of routes) {
    scope.route({
      method: route.method,
      url: fastifyPath(route.path),
      handler: (request, reply) => answer(route, request, reply),
    });
  }
  // A known path with another method: 405 and what it does take (Fastify alone would say 404).
  const methodsByPath = Map.groupBy(routes, (route) => fastifyPath(route.path));
  for (const [url, served] of methodsByPath) {
    const taken = new Set<string>(served.map((route) => route.method));
    // Fastify answers HEAD wherever there is a GET.
    if (taken.has('GET')) taken.add('HEAD');
    const allow = METHODS.filter((method) => taken.has(method));
    scope.route({
      method: METHODS.filter((method) => !taken.has(method)),
      url,
      handler: async (_request, reply) => {
        reply.header('allow', allow.join(', '));
        return sendError(
          reply,
          new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `This path takes ${allow.join(', ')}` }),
        );
      },
    });
  }

  done();

  async function answer(route: RestRoute, request: FastifyRequest, reply: FastifyReply) {
    // Aborts when the client goes away before its answer: the procedure may then skip its work
    // (a bcrypt hash, a turn in the fair share), as over /trpc.
    const abort = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const type = route.procedure._def.type;
    let ctx: Context | undefined;
    let input: unknown;
    try {
      input = restInput(route, request);
      const info = {
        accept: null,
        type,
        isBatchCall: false,
        calls: [],
        connectionParams: null,
        signal: abort.signal,
        url: null,
      };
      ctx = createContext({ req: request, res: reply, info });
      const output: unknown = await route.procedure({
        ctx,
        getRawInput: () => Promise.resolve(input),
        path: route.procedurePath,
        type,
        signal: abort.signal,
        batchIndex: 0,
      });
      return reply.send(output);
    } catch (cause) {
      const error = cause instanceof TRPCError ? cause : new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause });
      if (error.code === 'INTERNAL_SERVER_ERROR')
        request.log.error({ err: error.cause ?? error, path: route.procedurePath }, 'procedure failed');
      else request.log.debug({ code: error.code, path: route.procedurePath }, error.message);
      // Through the router's errorFormatter, with the context: the same message as over /trpc
      // (masked outside development).
      const shape = getErrorShape({
        config: router._def._config,
        error,
        type,
        path: route.procedurePath,
        input,
        ctx,
      }) as Parameters<typeof toRestError>[0];
      const retryAfter = retryAfterOf(error);
      if (retryAfter) reply.header('retry-after', String(retryAfter));
      return reply.code(getHTTPStatusCodeFromError(error)).send(toRestError(shape, error.cause));
    }
  }
}
