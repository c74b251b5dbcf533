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

/**
 * Two counts with two jobs. Per address, every attempt is counted *before* bcrypt runs (one
 * atomic upsert) and given back on success: a flood from one client is shed at the limit however
 * many requests it has in flight. Per username, only *failures* count, checked before bcrypt:
 * several devices of one user logging in at once must not lock the account out.
 */
export interface LoginLimiter {
  /** Before the password is checked: TooManyAttemptsError when either count is used up. */
  attempt(username: string, address: string): Promise<void>;
  /** A wrong password (or unknown user). */
  failed(username: string): Promise<void>;
  /** A correct password: the username's count starts over, and the attempt is given back to the address. */
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

  const refuse = (state: RateLimiterRes) => new TooManyAttemptsError(Math.max(1, Math.ceil(state.msBeforeNext / 1000)));

  return {
    async attempt(username, address) {
      const { byUsername, byAddress } = await get();
      const failures = await byUsername.get(userKey(username));
      if (failures && failures.consumedPoints >= env.LOGIN_MAX_FAILURES) throw refuse(failures);
      try {
        await byAddress.consume(address);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection; // the database failed
        throw refuse(rejection);
      }
    },
    async failed(username) {
      const { byUsername } = await get();
      // Over the limit it "rejects", which only means the count is full: this attempt is already a 401.
      await byUsername.consume(userKey(username)).catch((rejection: unknown) => {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
      });
    },
    async succeeded(username, address) {
      const { byUsername, byAddress } = await get();
      await Promise.all([byUsername.delete(userKey(username)), byAddress.reward(address, 1)]);
    },
  };
}
