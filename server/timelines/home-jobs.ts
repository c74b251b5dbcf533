// The job queue of home timelines: graphile-worker, which keeps its jobs in PostgreSQL (schema
// graphile_worker, migrated with ours: db.ts) and picks them up by LISTEN/NOTIFY. Three tasks:
//
// - home_fanout: moves the post log's new rows into followers' home timelines (home-writes.ts).
//   One job at a time: a job key keeps one waiting, and the cursor's row lock makes a second
//   runner wait (no named queue: graphile-worker would keep a queue locked for hours after a
//   worker crashed mid-job, while a crashed session's row lock ends with it); a process wakes it after
//   posts.create or posts.restore commits, and a cron entry every minute catches a wake lost to a
//   crash. Why posts.create does not add the job in its own transaction: graphile-worker's
//   add_job NOTIFYs, and PostgreSQL serialises the commits of notifying transactions (measured:
//   posts.create at a sixth, docs/benchmarks.md). The post's durable record is the log row its
//   trigger writes; the job is only the wake-up.
// - home_build: builds a user's home timeline when they read without one (new or back from
//   inactivity); their reads take the pull query meanwhile.
// - home_expire: daily, drops home timelines unread for HOME_TIMELINE_INACTIVE_DAYS.
//
// Every process runs a worker unless JOB_WORKER=false (docs/operations.md, "Job queue").
import type { FastifyBaseLogger } from 'fastify';
import { Logger, makeWorkerUtils, run, type Runner, type TaskList, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import { build, expireInactive, fanOutOnce, isDuplicate, type HomeSettings } from './home-writes.ts';

export interface HomeJobsOptions extends HomeSettings {
  inactiveDays: number;
  logger: FastifyBaseLogger;
}

const FANOUT = 'home_fanout';
// When the log's newest rows wait for an older transaction, the fan-out looks again this soon.
const HELD_RETRY_MS = 50;
// How long one fan-out job keeps reading while posts keep coming.
const JOB_MAX_MS = 60_000;
// A user whose build was asked for is not asked for again by this process for this long.
const BUILD_ASKED_MS = 60_000;
const WORKER_CONCURRENCY = 2;
// Between two wake-ups sent by one process: adds at most this much to the fan-out's lag.
const WAKE_GAP_MS = 100;
const START_RETRY_MS = 5000;
// Before a worker that stopped on an error is replaced (no tight loop on an error that repeats).
const RESTART_GAP_MS = 1000;

/**
 * A pool for graphile-worker. Ours, not one it makes: a connection the server ends (a restart, a
 * failover, pg_terminate_backend) reports an error on its client even after graphile-worker has
 * stopped listening to that client, and an error nobody listens to ends the process.
 */
function jobPool(clientUrl: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: clientUrl, max, application_name: 'warble-jobs' });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * graphile-worker records a job's end (done, or failed for a retry) in a promise its worker does not
 * await. Unbatched (its default), a database that refuses connections at that moment rejects that
 * promise, and an unhandled rejection ends the process: any outage could take a server down. Batched,
 * the same failure goes to graphile-worker's error path: logged, the worker pool stops, its
 * `runner.promise` settles, and `#start` runs a new worker (test/home-jobs-outage.test.ts). The job
 * whose end was not recorded stays locked; its job key lets the next wake-up add a fresh one.
 */
const RECORD_ENDS_BATCHED = { completeJobBatchDelay: 0, failJobBatchDelay: 0 };

const CRONTAB = [
  `* * * * * ${FANOUT} ?jobKey=${FANOUT}&max=5`,
  '17 4 * * * home_expire ?jobKey=home_expire&max=3',
].join('\n');

// graphile-worker's lines into ours: its info lines (every job done) are debug here.
function workerLogger(logger: FastifyBaseLogger) {
  return new Logger(() => (level, message, meta) => {
    const line = { component: 'jobs', ...(meta as object) };
    if (level === 'error') logger.error(line, message);
    else if (level === 'warning') logger.warn(line, message);
    else logger.debug(line, message);
  });
}

export class HomeJobs {
  readonly #options: HomeJobsOptions;
  readonly #clientUrl: string;
  #utils: Promise<WorkerUtils> | undefined;
  #utilsPool: pg.Pool | undefined;
  #runnerPool: pg.Pool | undefined;
  #runner: Runner | undefined;
  #waking = false;
  #stopped = false;
  #wakeAgain = false;
  #lastWake = 0;
  readonly #buildAsked = new Map<string, number>();

  /** Adding jobs takes a pool of two connections, opened on first use; a worker one of its own. */
  constructor(clientUrl: string, options: HomeJobsOptions) {
    this.#clientUrl = clientUrl;
    this.#options = options;
  }

  get settings(): HomeSettings {
    return { cap: this.#options.cap, mergeFollowers: this.#options.mergeFollowers };
  }

  /**
   * Runs a worker in this process until `stop`. Never throws: while the database cannot be reached
   * it tries again every few seconds (reads meanwhile take the pull query, or slightly stale entries).
   */
  startWorker(): void {
    void this.#start(this.#clientUrl);
  }

  async #start(clientUrl: string): Promise<void> {
    while (!this.#stopped) {
      // A small pool of its own: jobs never wait for a connection behind requests, nor requests
      // behind jobs.
      const pool = jobPool(clientUrl, WORKER_CONCURRENCY + 2);
      try {
        const runner = await run({
          pgPool: pool,
          taskList: this.#tasks(),
          crontab: CRONTAB,
          concurrency: WORKER_CONCURRENCY,
          noHandleSignals: true,
          pollInterval: 2000,
          logger: workerLogger(this.#options.logger),
          preset: { worker: RECORD_ENDS_BATCHED },
        });
        this.#runner = runner;
        this.#runnerPool = pool;
        // A worker pool that stops on an error (graphile-worker has logged it) resolves this
        // promise in graphile-worker 0.18 rather than rejecting it: either way, unless we stopped
        // it, a new worker takes over (once the database answers again).
        const ended = async () => {
          if (this.#stopped || this.#runner !== runner) return;
          this.#options.logger.warn('job worker stopped; starting a new one');
          this.#runner = undefined;
          this.#runnerPool = undefined;
          await pool.end().catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, RESTART_GAP_MS).unref());
          void this.#start(clientUrl);
        };
        void runner.promise.then(ended, ended);
        if (this.#stopped) await this.stop();
        // Whatever was logged while no worker ran.
        else this.wake();
        return;
      } catch (error) {
        await pool.end().catch(() => {});
        this.#options.logger.warn(
          { err: { message: (error as Error).message } },
          'job worker could not start; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS).unref());
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const runner = this.#runner;
    this.#runner = undefined;
    await runner?.stop().catch(() => {});
    await this.#runnerPool?.end().catch(() => {});
    this.#runnerPool = undefined;
    const utils = this.#utils;
    this.#utils = undefined;
    await (await utils?.catch(() => undefined))?.release();
    await this.#utilsPool?.end().catch(() => {});
    this.#utilsPool = undefined;
  }

  /**
   * The post log grew: make sure a fan-out runs. Coalesced: one wake-up in flight per process, and
   * at most one per WAKE_GAP_MS (each is a transaction that NOTIFYs; those commit one at a time).
   */
  wake(): void {
    if (this.#waking) {
      this.#wakeAgain = true;
      return;
    }
    this.#waking = true;
    const wait = this.#lastWake + WAKE_GAP_MS - Date.now();
    const send = () => {
      this.#lastWake = Date.now();
      void this.#addJob(FANOUT, {}, { jobKey: FANOUT }).finally(() => {
        this.#waking = false;
        if (this.#wakeAgain) {
          this.#wakeAgain = false;
          this.wake();
        }
      });
    };
    if (wait > 0) setTimeout(send, wait).unref();
    else send();
  }

  /** `userId` read without a home timeline: have one built (once per minute per process at most). */
  requestBuild(userId: string): void {
    const now = Date.now();
    const asked = this.#buildAsked.get(userId);
    if (asked !== undefined && now - asked < BUILD_ASKED_MS) return;
    if (this.#buildAsked.size > 10_000) this.#buildAsked.clear();
    this.#buildAsked.set(userId, now);
    void this.#addJob('home_build', { userId }, { jobKey: `home_build:${userId}`, maxAttempts: 5 });
  }

  async #addJob(task: string, payload: object, spec: { jobKey: string; maxAttempts?: number }) {
    if (this.#stopped) return;
    try {
      this.#utilsPool ??= jobPool(this.#clientUrl, 2);
      this.#utils ??= makeWorkerUtils({
        pgPool: this.#utilsPool,
        logger: workerLogger(this.#options.logger),
      });
      await (await this.#utils).addJob(task, payload, spec);
    } catch (error) {
      // Made again next time (its first connection may be what failed); the pool stays.
      const utils = this.#utils;
      this.#utils = undefined;
      void utils?.then((made) => made.release()).catch(() => {});
      // The database is down: the cron entry (fan-out) or the next read (build) asks again.
      this.#options.logger.warn({ err: { message: (error as Error).message }, task }, 'could not add a job');
    }
  }

  #tasks(): TaskList {
    const settings = this.settings;
    return {
      [FANOUT]: async (_payload, helpers) => {
        const started = Date.now();
        for (;;) {
          const round = await helpers.withPgClient(async (client) => {
            try {
              return await fanOutOnce(client, settings, 'fail');
            } catch (error) {
              if (!isDuplicate(error)) throw error;
              return fanOutOnce(client, settings, 'skip');
            }
          });
          // Posts written meanwhile are read at once: under a steady stream of posts one job keeps
          // running, instead of a job (and its queue bookkeeping) per wake-up.
          // A job hands over to a fresh one after a while (a job locked for hours counts as crashed).
          const handOver = Date.now() - started > JOB_MAX_MS;
          if (round.events > 0 && !handOver) continue;
          if (round.held || handOver) {
            const runAt = new Date(Date.now() + (handOver ? 0 : HELD_RETRY_MS));
            await helpers.addJob(FANOUT, {}, { jobKey: FANOUT, runAt });
          }
          return;
        }
      },
      home_build: async (payload, helpers) => {
        const { userId } = payload as { userId: string };
        await helpers.withPgClient((client) => build(client, settings, userId));
      },
      home_expire: async (_payload, helpers) => {
        const users = await helpers.withPgClient((client) => expireInactive(client, this.#options.inactiveDays));
        if (users > 0) this.#options.logger.info({ users }, 'dropped home timelines of inactive users');
      },
    };
  }
}
