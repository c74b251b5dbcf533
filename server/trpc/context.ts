import type { MikroORM } from '@mikro-orm/postgresql';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import { authenticate, type Viewer } from '../auth/authenticate.ts';
import type { Keys } from '../auth/keys.ts';
import type { PasswordHasher } from '../auth/passwords.ts';
import { refreshCookieOf } from '../auth/refresh-cookie.ts';
import type { LoginLimiter } from '../auth/rate-limit.ts';
import type { ViewerCache } from '../auth/viewer-cache.ts';
import type { Env } from '../env.ts';
import { addressKey } from '../limits/client-key.ts';
import type { FairShare } from '../limits/fair-share.ts';
import type { Quota } from '../limits/quota.ts';
import type { TimelineHub } from '../realtime/timeline-hub.ts';
import type { ReplicaSet } from '../replicas/replica-set.ts';
import type { HomeJobs } from '../timelines/home-jobs.ts';

/** The allowances procedures use (docs/operations.md, "Limits"); the call budget runs before tRPC. */
export interface Limits {
  login: LoginLimiter;
  /** Per address, shared by all processes. */
  signups: Quota;
  /** Per user, shared by all processes. */
  posts: Quota;
  /** Per client, this process's database work. */
  fairShare: FairShare;
}

export interface ContextDeps {
  orm: MikroORM;
  env: Env;
  keys: Keys;
  viewers: ViewerCache;
  passwords: PasswordHasher;
  limits: Limits;
  timelines: TimelineHub;
  home: HomeJobs;
  /** Read replicas (undefined: none); list procedures read through `fromReplica` (trpc/init.ts). */
  replicas: ReplicaSet | undefined;
}

export function contextFactory({ orm, env, keys, viewers, passwords, limits, timelines, home, replicas }: ContextDeps) {
  // Never throws: a throw here would fail every call of a batch, so authentication is left to
  // middleware, where it fails only the procedures that need it.
  return function createContext({ req, res }: CreateFastifyContextOptions) {
    // One identity map per request; the global EntityManager is never used (allowGlobalContext is off).
    const em = orm.em.fork();
    let viewer: Promise<Viewer | null> | undefined;
    const address = addressKey(req.ip);
    return {
      em,
      env,
      keys,
      viewers,
      passwords,
      limits,
      timelines,
      home,
      replicas,
      log: req.log,
      requestId: req.id,
      clientAddress: req.ip,
      /** The address as limits count it (an IPv6 client by its /64). */
      addressKey: address,
      /** Whose fair share the calls use: set by the call budget, which runs first on /trpc. */
      clientKey: req.clientKey || `addr:${address}`,
      userAgent: req.headers['user-agent'] ?? null,
      sentCredentials: req.headers.authorization !== undefined,
      /** The browser's refresh token (auth.refresh and auth.logout only). */
      refreshCookie: refreshCookieOf(req, res, env),
      /** The caller, verified once per HTTP request however many calls a batch holds. */
      viewer: () => (viewer ??= authenticate(em, keys, env, viewers, req.headers.authorization)),
    };
  };
}

export type Context = Awaited<ReturnType<ReturnType<typeof contextFactory>>>;
