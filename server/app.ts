// Builds the HTTP application. It never listens: main.ts does, and tests use `inject` or port 0.
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { AnyRouter } from '@trpc/server';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { loadKeys } from './auth/keys.ts';
import { createLoginLimiter } from './auth/rate-limit.ts';
import { ViewerCache } from './auth/viewer-cache.ts';
import { pingDatabase } from './db.ts';
import type { Env } from './env.ts';
import { BODY_LIMIT_BYTES, trpcPlugin } from './http/trpc-plugin.ts';
import { contextFactory } from './trpc/context.ts';
import { appRouter } from './trpc/router.ts';

export interface AppDeps {
  orm: MikroORM;
  env: Env;
  logger: FastifyBaseLogger;
  /** Tests mount extra procedures this way; production always serves `appRouter`. */
  router?: AnyRouter;
}

const HEADERS_TIMEOUT_MS = 10_000;
const READINESS_PING_TIMEOUT_MS = 1000;
// Accept a caller's request id (from a proxy or a client) only if it is short and plain.
const REQUEST_ID = /^[\w.:-]{1,64}$/;

// A hop count means "believe that many proxies in front of us", which is what Fastify does with
// a number; its types only accept the function form.
function trustProxy(setting: Env['TRUST_PROXY']) {
  if (typeof setting !== 'number') return setting ?? false;
  return (_address: string, hop: number) => hop < setting;
}

export async function buildApp({ orm, env, logger, router = appRouter }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Bounds slow clients: the whole request must arrive within this time, its headers sooner.
    // A connection that sends nothing, or trickles its headers, is closed by the same timers.
    requestTimeout: env.REQUEST_TIMEOUT_MS,
    http: {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, env.REQUEST_TIMEOUT_MS),
      // How often Node looks for connections past those limits (its default is 30 s).
      connectionsCheckingInterval: 1000,
    },
    trustProxy: trustProxy(env.TRUST_PROXY),
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // tRPC batches put every procedure name into one path segment ("a,b,c"): 50 calls exceed the
    // default limit of 100 characters, which would turn a valid batch into a 404.
    routerOptions: { maxParamLength: 5000 },
  });

  let draining = false;
  // close() starts here: from now on readiness fails, so a load balancer stops sending traffic
  // while in-flight requests finish.
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // A keep-alive connection would outlive the drain; a call that finishes during shutdown
    // closes its connection, so close() completes as soon as the last call does.
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });

  // Outside /trpc: only the health routes can fail, and a 5xx never carries internals.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send({ error: status >= 500 ? 'Internal server error' : error.message });
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (draining) return reply.code(503).send({ status: 'shutting down' });
    const up = await pingDatabase(orm, READINESS_PING_TIMEOUT_MS);
    return up ? { status: 'ready' } : reply.code(503).send({ status: 'database unavailable' });
  });

  const keys = await loadKeys(env);
  // Public keys for other services (and verify-only Warble processes) to check our tokens.
  app.get('/.well-known/jwks.json', (_request, reply) => {
    if (!keys.jwks)
      return reply.code(404).send({ error: 'No public keys: tokens are signed with a shared secret (HS256)' });
    return reply.header('cache-control', 'public, max-age=300').send(keys.jwks);
  });

  const loginLimiter = createLoginLimiter(() => orm.em.getConnection().getNativeClient(), env);
  const viewers = new ViewerCache(env.AUTH_CACHE_SECONDS);
  if (env.AUTH_CACHE_SECONDS > 0) {
    const stopListening = viewers.listen(orm.config.get('clientUrl'), logger);
    app.addHook('onClose', stopListening);
  }
  await app.register(trpcPlugin, {
    prefix: '/trpc',
    router,
    createContext: contextFactory({ orm, env, keys, loginLimiter, viewers }),
  });
  return app;
}
