// Brute-force protection for logins, kept in PostgreSQL so that every server process sharing the
// database enforces the same counts.
import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Env } from '../env.ts';

export const RATE_LIMIT_TABLE = 'login_attempts';

export class TooManyAttemptsError extends Error {
  override name = 'TooManyAttemptsError';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('too many failed logins');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

type LimitEnv = Pick<Env, 'LOGIN_MAX_FAILURES' | 'LOGIN_WINDOW_SECONDS' | 'LOGIN_MAX_FAILURES_PER_ADDRESS'>;

export interface LoginLimiter {
  /**
   * Counts an attempt for the username and the address before the password is checked, and
   * refuses it once either has used up its failures in the window. Counting first (one atomic
   * upsert) keeps a flood of parallel guesses from slipping past the limit before bcrypt answers.
   */
  attempt(username: string, address: string): Promise<void>;
  /** A correct password: the username's count starts over, and the attempt is not held against the address. */
  succeeded(username: string, address: string): Promise<void>;
}

function limitersOn(pool: Pool, env: LimitEnv) {
  const common = { storeClient: pool, storeType: 'pool', tableName: RATE_LIMIT_TABLE, tableCreated: true } as const;
  return {
    byUsername: new RateLimiterPostgres({
      ...common,
      keyPrefix: 'user',
      points: env.LOGIN_MAX_FAILURES,
      duration: env.LOGIN_WINDOW_SECONDS,
    }),
    byAddress: new RateLimiterPostgres({
      ...common,
      keyPrefix: 'addr',
      points: env.LOGIN_MAX_FAILURES_PER_ADDRESS,
      duration: env.LOGIN_WINDOW_SECONDS,
    }),
  };
}

/** `pool` is asked for on first use, so building the app never needs the database up. */
export function createLoginLimiter(pool: () => Promise<Pool>, env: LimitEnv): LoginLimiter {
  let limiters: Promise<ReturnType<typeof limitersOn>> | undefined;
  const get = () =>
    (limiters ??= pool().then(
      (client) => limitersOn(client, env),
      (error: unknown) => {
        limiters = undefined;
        throw error;
      },
    ));
  // Usernames are unique case-insensitively, so ADA and ada share one count.
  const userKey = (username: string) => username.toLowerCase();

  const consume = async (limiter: RateLimiterPostgres, key: string) => {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection; // the database failed
      throw new TooManyAttemptsError(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
    }
  };

  return {
    async attempt(username, address) {
      const { byUsername, byAddress } = await get();
      await Promise.all([consume(byUsername, userKey(username)), consume(byAddress, address)]);
    },
    async succeeded(username, address) {
      const { byUsername, byAddress } = await get();
      await Promise.all([byUsername.delete(userKey(username)), byAddress.reward(address, 1)]);
    },
  };
}
