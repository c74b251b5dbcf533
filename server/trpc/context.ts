import type { MikroORM } from '@mikro-orm/postgresql';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { Env } from '../env.ts';

export interface ContextDeps {
  orm: MikroORM;
  env: Env;
}

export function contextFactory({ orm, env }: ContextDeps) {
  // Never throws: a throw here would fail every call of a batch, so authentication is left to
  // middleware, where it fails only the procedures that need it.
  return function createContext({ req }: CreateFastifyContextOptions) {
    return {
      // One identity map per request; the global EntityManager is never used (allowGlobalContext is off).
      em: orm.em.fork(),
      env,
      log: req.log,
      requestId: req.id,
      clientAddress: req.ip,
      userAgent: req.headers['user-agent'] ?? null,
    };
  };
}

export type Context = Awaited<ReturnType<ReturnType<typeof contextFactory>>>;
