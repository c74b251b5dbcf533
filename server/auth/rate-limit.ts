// Brute-force protection for logins, kept in PostgreSQL so that every server process sharing the
// database enforces the same counts.
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Env } from '../env.ts';
import { lazyLimiter, refusal, type PoolSource } from '../limits/quota.ts';

const TOO_MANY = 'Too many failed logins; try again later';

type LimitEnv = Pick<Env, 'LOGIN_MAX_FAILURES' | 'LOGIN_WINDOW_SECONDS' | 'LOGIN_MAX_FAILURES_PER_ADDRESS'>;

/** One login attempt that passed the limits; exactly one of its methods ends it. */
export interface LoginAttempt {
  /** Wrong password or unknown user: the attempt stays counted. */
  failed(): Promise<void>;
  /** Correct password: the username's count starts over; the address gets its attempt back. */
  succeeded(): Promise<void>;
  /** The password was never checked (server busy, caller gone): both counts get it back. */
  cancelled(): Promise<void>;
}

/**
 * Every attempt is counted *before* bcrypt runs, per username and per address, by one atomic
 * upsert each: however many guesses arrive at once, at most LOGIN_MAX_FAILURES of them reach the
 * password check. A correct password gives the attempt back (and clears the username's count), so
 * only failures add up. Attempts over the limit while others for the same username are still being
 * checked in this process wait for those to finish and then count again: one user's devices logging
 * in together all get through, because the first success clears the count for the rest.
 */
export interface LoginLimiter {
  /** Before the password is checked; throws RetryLaterError (TOO_MANY_REQUESTS) when a count is used up. */
  attempt(username: string, address: string): Promise<LoginAttempt>;
}

export function createLoginLimiter(pool: PoolSource, env: LimitEnv): LoginLimiter {
  const byUsername = lazyLimiter(pool, {
    keyPrefix: 'user',
    points: env.LOGIN_MAX_FAILURES,
    durationSeconds: env.LOGIN_WINDOW_SECONDS,
  });
  const byAddress = lazyLimiter(pool, {
    keyPrefix: 'addr',
    points: env.LOGIN_MAX_FAILURES_PER_ADDRESS,
    durationSeconds: env.LOGIN_WINDOW_SECONDS,
  });
  // Attempts of this process whose password check has not finished, per username.
  const inFlight = new Map<string, Set<Promise<void>>>();

  /** Counts one attempt for the username, waiting while this process still checks earlier ones. */
  async function countUsername(key: string): Promise<void> {
    for (;;) {
      const rejection = await (
        await byUsername()
      )
        .consume(key)
        .then(() => undefined)
        .catch((error: unknown) => {
          if (error instanceof RateLimiterRes) return error;
          throw error; // the database failed
        });
      if (!rejection) return;
      const pending = inFlight.get(key);
      if (!pending?.size) refusal(rejection, TOO_MANY);
      await Promise.allSettled(pending);
    }
  }

  /** Marks an attempt of `key` as being checked until `end` runs (waiters above look at these). */
  function track(key: string) {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const pending = inFlight.get(key) ?? new Set();
    inFlight.set(key, pending.add(done));
    return async (work: () => Promise<unknown>) => {
      try {
        await work();
      } finally {
        pending.delete(done);
        if (!pending.size && inFlight.get(key) === pending) inFlight.delete(key);
        settle();
      }
    };
  }

  return {
    async attempt(username, address) {
      // Usernames are unique case-insensitively, so ADA and ada share one count.
      const key = username.toLowerCase();
      await countUsername(key);
      // At once, before anything else can wait: attempts refused meanwhile must see this one.
      const end = track(key);
      try {
        await (await byAddress()).consume(address);
      } catch (rejection) {
        await end(async () => (await byUsername()).reward(key, 1));
        refusal(rejection, TOO_MANY);
      }
      const both = () => Promise.all([byUsername(), byAddress()]);
      return {
        failed: () => end(async () => {}),
        succeeded: () =>
          end(async () => {
            const [user, addr] = await both();
            await Promise.all([user.delete(key), addr.reward(address, 1)]);
          }),
        cancelled: () =>
          end(async () => {
            const [user, addr] = await both();
            await Promise.all([user.reward(key, 1), addr.reward(address, 1)]);
          }),
      };
    },
  };
}
