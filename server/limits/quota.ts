// Allowances that every server process sharing the database enforces together (signups per
// address, posts per user, failed logins): counts live in one PostgreSQL table, updated by one
// atomic upsert per use (rate-limiter-flexible's RateLimiterPostgres, fixed windows).
import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { RetryLaterError } from './retry-later.ts';

// The table is older than the other allowances (migration "auth"); every kind keeps its own
// key prefix in it.
export const RATE_LIMIT_TABLE = 'login_attempts';

export type PoolSource = () => Promise<Pool>;

export interface WindowOptions {
  keyPrefix: string;
  points: number;
  durationSeconds: number;
}

/** A limiter built on first use, so building the app never needs the database up. */
export function lazyLimiter(pool: PoolSource, options: WindowOptions): () => Promise<RateLimiterPostgres> {
  let limiter: Promise<RateLimiterPostgres> | undefined;
  return () =>
    (limiter ??= pool().then(
      (client) =>
        new RateLimiterPostgres({
          storeClient: client,
          storeType: 'pool',
          tableName: RATE_LIMIT_TABLE,
          tableCreated: true,
          keyPrefix: options.keyPrefix,
          points: options.points,
          duration: options.durationSeconds,
        }),
      (error: unknown) => {
        limiter = undefined; // the database was down: try again on the next use
        throw error;
      },
    ));
}

/** Turns a limiter's "used up" answer into our error; anything else (the database failed) passes. */
export function refusal(rejection: unknown, message: string): never {
  if (rejection instanceof RateLimiterRes)
    throw new RetryLaterError('TOO_MANY_REQUESTS', message, rejection.msBeforeNext);
  throw rejection;
}

export interface Quota {
  /** Uses one unit for `key`, or throws RetryLaterError (TOO_MANY_REQUESTS) when none is left. */
  take(key: string): Promise<void>;
  /** Returns a unit whose work never happened (the server refused it, or the caller left first). */
  giveBack(key: string): Promise<void>;
}

/** `points` per `durationSeconds` for each key, across all processes; 0 points = no limit. */
export function sharedQuota(pool: PoolSource, options: WindowOptions & { message: string }): Quota {
  if (options.points === 0) return { take: async () => {}, giveBack: async () => {} };
  const limiter = lazyLimiter(pool, options);
  return {
    async take(key) {
      await (await limiter()).consume(key).catch((rejection: unknown) => refusal(rejection, options.message));
    },
    async giveBack(key) {
      await (await limiter()).reward(key, 1);
    },
  };
}
