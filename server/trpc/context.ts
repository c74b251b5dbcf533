import type { MikroORM } from '@mikro-orm/postgresql';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { authenticate, type Viewer } from '../auth/authenticate.ts';
import type { Keys } from '../auth/keys.ts';
import type { LoginLimiter } from '../auth/rate-limit.ts';
import type { ViewerCache } from '../auth/viewer-cache.ts';
import type { Env } from '../env.ts';

export interface ContextDeps {
  orm: MikroORM;
  env: Env;
  keys: Keys;
  loginLimiter: LoginLimiter;
  viewers: ViewerCache;
}

export function contextFactory({ orm, env, keys, loginLimiter, viewers }: ContextDeps) {
  // Never throws: a throw here would fail every call of a batch, so authentication is left to
  // middleware, where it fails only the procedures that need it.
  return function createContext({ req }: CreateFastifyContextOptions) {
    // One identity map per request; the global EntityManager is never used (allowGlobalContext is off).
    const em = orm.em.fork();
    let viewer: Promise<Viewer | null> | undefined;
    return {
      em,
      env,
      keys,
      loginLimiter,
      viewers,
      log: req.log,
      requestId: req.id,
      clientAddress: req.ip,
      userAgent: req.headers['user-agent'] ?? null,
      sentCredentials: req.headers.authorization !== undefined,
      /** The caller, verified once per HTTP request however many calls a batch holds. */
      viewer: () => (viewer ??= authenticate(em, keys, env, viewers, req.headers.authorization)),
    };
  };
}

export type Context = Awaited<ReturnType<ReturnType<typeof contextFactory>>>;
