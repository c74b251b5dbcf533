// Builds the HTTP application. It never listens: main.ts does, and tests use `inject` or port 0.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import cookie from '@fastify/cookie';
import type { MikroORM } from '@mikro-orm/postgresql';
import { TRPCError, type AnyRouter } from '@trpc/server';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { loadKeys } from './auth/keys.ts';
import { createPasswordHasher } from './auth/passwords.ts';
import { createLoginLimiter } from './auth/rate-limit.ts';
import { sessionPurger, type PurgeSchedule } from './auth/session-purge.ts';
import { ViewerCache } from './auth/viewer-cache.ts';
import { pingDatabase } from './db.ts';
import type { Env } from './env.ts';
import { clientErrorHandler } from './http/client-errors.ts';
import { registerCors } from './http/cors.ts';
import { sendError } from './http/error-reply.ts';
import { replyNotFound, replyWithError, replyWithFrameworkError } from './http/fastify-errors.ts';
import { addSafeHeaders } from './http/response-headers.ts';
import { BODY_LIMIT_BYTES, MAX_BATCH_SIZE, trpcPlugin } from './http/trpc-plugin.ts';
import { admission } from './limits/admission.ts';
import { clientIdentifier } from './limits/client-key.ts';
import { FairShare } from './limits/fair-share.ts';
import { sharedQuota } from './limits/quota.ts';
import { EventLog } from './realtime/event-log.ts';
import { TimelineHub } from './realtime/timeline-hub.ts';
import { ReplicaSet } from './replicas/replica-set.ts';
import { registerDocsPage } from './rest/docs-page.ts';
import { openApiDocument } from './rest/openapi.ts';
import { restPlugin } from './rest/rest-plugin.ts';
import { REST_PREFIX } from './rest/routes.ts';
import { contextFactory, type Limits } from './trpc/context.ts';
import { appRouter } from './trpc/router.ts';
import { HomeJobs } from './timelines/home-jobs.ts';

export interface AppDeps {
  orm: MikroORM;
  env: Env;
  logger: FastifyBaseLogger;
  /** Tests mount extra procedures this way; production always serves `appRouter`. */
  router?: AnyRouter;
  /** When the purge of ended sessions runs (default: soon after start-up, then hourly); false: never. */
  sessionPurge?: Partial<PurgeSchedule> | false;
  /** Read replicas for list reads (default: DATABASE_REPLICA_URLS); main.ts adds embedded ones. */
  replicaUrls?: string[];
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

export async function buildApp({
  orm,
  env,
  logger,
  router = appRouter,
  sessionPurge = {},
  replicaUrls = env.DATABASE_REPLICA_URLS,
}: AppDeps): Promise<FastifyInstance> {
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
    // Every error in tRPC's shape, whoever detects it: a URL Fastify cannot decode, what Node's
    // parser refuses (http/client-errors.ts); and the refusal while closing is the hook below,
    // not Fastify's own 503, which it writes in its own shape.
    frameworkErrors: replyWithFrameworkError,
    clientErrorHandler,
    return503OnClosing: false,
  });

  let draining = false;
  // close() starts here: from now on readiness fails, so a load balancer stops sending traffic
  // while in-flight requests finish.
  // Connections that have not sent a byte yet (a browser's or a balancer's pre-opened ones, a
  // client's spare ones) carry no request, but Node does not count them as idle: close() would wait
  // for them until the grace period ends. They are ended when the drain starts.
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    // Accepted while draining (it reached the kernel before close() began): it would wait too.
    if (draining) return socket.destroy();
    unused.add(socket);
    const used = () => unused.delete(socket);
    socket.once('data', used).once('close', used);
  });
  app.addHook('preClose', (done) => {
    draining = true;
    for (const socket of unused) socket.destroy();
    done();
  });
  // New requests that still arrive (on an open keep-alive connection) are turned away.
  app.addHook('onRequest', async (_request, reply) => {
    if (draining)
      return sendError(reply, new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'Server is shutting down' }));
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // A keep-alive connection would outlive the drain; a call that finishes during shutdown
    // closes its connection, so close() completes as soon as the last call does.
    if (draining) reply.header('connection', 'close');
    addSafeHeaders(reply, payload);
    done(null, payload);
  });

  // Browser pages on CORS_ORIGINS; preflights are answered here, before any route sees them.
  await registerCors(app, env.CORS_ORIGINS);
  // Only the refresh cookie (auth/refresh-cookie.ts); unsigned: its value is a random token whose
  // hash the database checks.
  await app.register(cookie);

  // For every route, /trpc included (tRPC answers its own errors; these are the others).
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler(replyNotFound);

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const up = await pingDatabase(orm, READINESS_PING_TIMEOUT_MS);
    return up ? { status: 'ready' } : reply.code(503).send({ status: 'database unavailable' });
  });

  const keys = await loadKeys(env);
  // Public keys for other services (and verify-only Warble processes) to check our tokens.
  app.get('/.well-known/jwks.json', (_request, reply) => {
    if (!keys.jwks) {
      const message = 'No public keys: tokens are signed with a shared secret (HS256)';
      return sendError(reply, new TRPCError({ code: 'NOT_FOUND', message }));
    }
    return reply.header('cache-control', 'public, max-age=300').send(keys.jwks);
  });

  if (sessionPurge) {
    // Started once the app is ready, and stopped (waiting for a round in progress) before the
    // caller closes the database.
    const purger = sessionPurger(orm, {
      ...sessionPurge,
      retentionDays: env.SESSION_RETENTION_DAYS,
      accountRetentionDays: env.ACCOUNT_RETENTION_DAYS,
      logger,
    });
    app.addHook('onReady', (done) => {
      purger.start();
      done();
    });
    app.addHook('onClose', () => purger.stop());
  }
  const viewers = new ViewerCache(env.AUTH_CACHE_SECONDS);
  if (env.AUTH_CACHE_SECONDS > 0) {
    const stopListening = viewers.listen(orm.config.get('clientUrl'), logger);
    app.addHook('onClose', stopListening);
  }
  const pool = () => orm.em.getConnection().getNativeClient();
  const limits: Limits = {
    login: createLoginLimiter(pool, env),
    signups: sharedQuota(pool, {
      keyPrefix: 'signup',
      points: env.SIGNUP_MAX_PER_ADDRESS,
      durationSeconds: env.SIGNUP_WINDOW_SECONDS,
      message: 'Too many signups from this address; try again later',
    }),
    posts: sharedQuota(pool, {
      keyPrefix: 'posts',
      points: env.POSTS_PER_HOUR,
      durationSeconds: 3600,
      message: 'Too many posts this hour; try again later',
    }),
    // Each client is sure of a quarter of the pool, and takes more only while half of it is free
    // (so a newcomer finds a connection at once); two full batches may wait behind it.
    fairShare: new FairShare({
      capacity: Math.ceil(env.DATABASE_POOL_MAX / 2),
      perClient: Math.max(1, Math.floor(env.DATABASE_POOL_MAX / 4)),
      maxWaiting: 2 * MAX_BATCH_SIZE,
    }),
  };
  const passwords = createPasswordHasher({ cost: env.BCRYPT_COST, queueMax: env.BCRYPT_QUEUE_MAX });
  const timelines = new TimelineHub(new EventLog(pool), logger, {
    maxPerUser: env.STREAMS_MAX_PER_USER,
    maxPerProcess: env.STREAMS_MAX_PER_PROCESS,
  });
  app.addHook('onReady', () => timelines.start(orm.config.get('clientUrl')));
  // Open streams would hold close() until the grace ends: they end at once, and their clients
  // resume from their last event id on another process (or this one, restarted).
  app.addHook('preClose', (done) => {
    void timelines.stop().then(
      () => done(),
      () => done(),
    );
  });
  // Home timelines and their job queue (server/timelines/). The worker stops after the streams,
  // waiting for a job in progress.
  const home = new HomeJobs(orm.config.get('clientUrl'), {
    cap: env.HOME_TIMELINE_CAP,
    mergeFollowers: env.HOME_TIMELINE_MERGE_FOLLOWERS,
    inactiveDays: env.HOME_TIMELINE_INACTIVE_DAYS,
    logger,
  });
  if (env.JOB_WORKER)
    app.addHook('onReady', (done) => {
      home.startWorker();
      done();
    });
  app.addHook('onClose', () => home.stop());
  // Declared up front so every request object keeps one shape (Fastify's advice for speed).
  app.decorateRequest('clientKey', '');
  // List reads on read replicas (server/replicas/), checked from start-up until close.
  const replicas = await ReplicaSet.open(orm, replicaUrls, { env, logger });
  if (replicas) {
    replicas.start();
    app.addHook('onClose', () => replicas.close());
  }
  const createContext = contextFactory({ orm, env, keys, viewers, passwords, limits, timelines, home, replicas });
  // One door for both APIs: a client's budget counts its /trpc and /api calls together.
  const admit = admission({
    identify: clientIdentifier(keys, env, viewers),
    callsPerMinute: env.RATE_LIMIT_CALLS_PER_MINUTE,
    fairShare: limits.fairShare,
  });
  await app.register(trpcPlugin, { prefix: '/trpc', router, createContext, admit });
  // The same procedures as REST (server/rest/), described by a document made from them now.
  await app.register(restPlugin, { prefix: REST_PREFIX, router, createContext, admit });
  const document = openApiDocument(router);
  const documentJson = JSON.stringify(document);
  app.get('/openapi.json', (_request, reply) => reply.type('application/json; charset=utf-8').send(documentJson));
  await registerDocsPage(app, { document: () => document });
  return app;
}
