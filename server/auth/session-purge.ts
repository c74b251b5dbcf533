// Deletes what logins leave behind: sessions that ended (revoked or expired) more than
// SESSION_RETENTION_DAYS ago, with their refresh tokens; and erases the posts and personal data of
// accounts deleted more than ACCOUNT_RETENTION_DAYS ago (users/account-purge.ts). Runs soon after
// start-up and then hourly, in one process at a time, in short statements so that a large backlog
// never holds locks for long.
//
// Spent refresh tokens of live sessions are kept, on purpose, until their session goes. Reuse
// detection (sessions.ts) recognises a replayed token only by finding its row: when a thief rotates
// a stolen token first, the one alarm left is the rightful client coming back, whenever that is,
// with its now-spent copy; that revokes the session and locks the thief out. A purged row would
// answer "unknown token" instead: the rightful client is refused, and the thief keeps a live
// session. So any spent token may still matter while its session lives; the session's absolute
// lifetime (REFRESH_TOKEN_TTL) and the call rate limits bound how many a session can gather.
import type { MikroORM } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import type { PoolClient } from 'pg';
import { DELETE_POSTS_OF_DELETED_ACCOUNTS, ERASE_DELETED_ACCOUNTS } from '../users/account-purge.ts';

// Any constant works; every Warble process sharing a database must use the same, and it must
// differ from the migration lock's (db.ts).
export const SESSION_PURGE_LOCK_KEY = 0x7761_7270; // "warp"
// Rows per statement: each one commits on its own, so row locks are held for milliseconds.
const BATCH_SIZE = 5000;
const HOUR_MS = 60 * 60 * 1000;

export interface PurgeCounts {
  sessions: number;
  refreshTokens: number;
  /** Posts of deleted accounts, and deleted accounts whose personal data was erased. */
  posts: number;
  accounts: number;
  ms: number;
}

export interface PurgeOptions {
  retentionDays: number;
  /** ACCOUNT_RETENTION_DAYS; default 30. */
  accountRetentionDays?: number;
  logger: FastifyBaseLogger;
  batchSize?: number;
}

// A token batch first, joined through its ended session: deleting a session cascades to all its
// tokens in one statement, and a session refreshed for weeks has thousands of them.
const DELETE_TOKENS = `
  delete from refresh_tokens where id in (
    select t.id from sessions s join refresh_tokens t on t.session_id = s.id
    where s.revoked_at < $1 or s.expires_at < $1
    limit $2)`;
// Then the sessions, whose tokens are gone by now (an ended session never gains a token).
const DELETE_SESSIONS = `
  delete from sessions where id in (
    select id from sessions where revoked_at < $1 or expires_at < $1
    limit $2)`;

/** Runs `sql` until it touches fewer than `batchSize` rows; returns how many it touched. */
async function deleteInBatches(client: PoolClient, sql: string, cutoff: Date, batchSize: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await client.query(sql, [cutoff, batchSize]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) return total;
  }
}

/**
 * One purge round. Returns what it deleted, or null when another process holds the purge lock
 * (that process is doing the work). Database errors propagate to the caller.
 */
export async function purgeEndedSessions(orm: MikroORM, options: PurgeOptions): Promise<PurgeCounts | null> {
  const { retentionDays, accountRetentionDays = 30, logger, batchSize = BATCH_SIZE } = options;
  const started = Date.now();
  const pool = await orm.em.getConnection().getNativeClient();
  const client = await pool.connect();
  let failed = true;
  try {
    // Session-level and non-blocking: a process that finds the lock taken skips this round rather
    // than waiting to repeat the work.
    const { rows } = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [
      SESSION_PURGE_LOCK_KEY,
    ]);
    if (!rows[0]?.locked) {
      failed = false;
      logger.debug('session purge skipped: another process is purging');
      return null;
    }
    // The database's clock, read once: every process agrees on it, and a session counted out by
    // the token batches cannot be counted in by the session batches a moment later.
    const [cutoffs] = (
      await client.query<{ sessions: Date; accounts: Date }>(
        'select now() - make_interval(days => $1) as sessions, now() - make_interval(days => $2) as accounts',
        [retentionDays, accountRetentionDays],
      )
    ).rows;
    const refreshTokens = await deleteInBatches(client, DELETE_TOKENS, cutoffs!.sessions, batchSize);
    const sessions = await deleteInBatches(client, DELETE_SESSIONS, cutoffs!.sessions, batchSize);
    const posts = await deleteInBatches(client, DELETE_POSTS_OF_DELETED_ACCOUNTS, cutoffs!.accounts, batchSize);
    const accounts = await deleteInBatches(client, ERASE_DELETED_ACCOUNTS, cutoffs!.accounts, batchSize);
    await client.query('select pg_advisory_unlock($1)', [SESSION_PURGE_LOCK_KEY]);
    failed = false;

    const counts = { sessions, refreshTokens, posts, accounts, ms: Date.now() - started };
    if (sessions || refreshTokens || posts || accounts)
      logger.info(counts, 'purged ended sessions and deleted accounts');
    else logger.debug(counts, 'purge: nothing to delete');
    return counts;
  } finally {
    // After an error the connection is destroyed, not pooled: it may still hold the lock, which
    // ending the database session releases.
    client.release(failed);
  }
}

export interface PurgeSchedule {
  /** Before the first round; by default a random 5–25 s, so a cluster's workers do not all try at once. */
  firstDelayMs: number;
  /** Between the end of one round and the start of the next. */
  intervalMs: number;
}

export interface SessionPurger {
  start(): void;
  /** Stops the timers and waits for a round in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `purgeEndedSessions` on a schedule. A failed round (database down) is a warning; the next
 * round tries again. Timers are unref'd: they never keep a process alive.
 */
export function sessionPurger(orm: MikroORM, options: PurgeOptions & Partial<PurgeSchedule>): SessionPurger {
  const { firstDelayMs = 5000 + Math.random() * 20_000, intervalMs = HOUR_MS, ...purge } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const round = async () => {
    try {
      await purgeEndedSessions(orm, purge);
    } catch (error) {
      // Message and code only: a pg error can carry far more than the log needs.
      const { message, code } = error as Error & { code?: string };
      purge.logger.warn({ err: { message, code } }, 'session purge failed; trying again next round');
    }
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delayMs).unref();
  };

  return {
    start: () => {
      if (!timer && !stopped) schedule(firstDelayMs);
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
