// The Warble processes of the home phase: the same app (bench/servers/warble.ts) with home
// timelines on (the run's settings, the job worker in the process) or as it was before them
// (HOME_TIMELINE_CAP=0: the pull query only, JOB_WORKER=false: no fan-out). One JWT secret for the
// whole phase, so a token from one login works on each of them.
import { randomBytes } from 'node:crypto';
import { freePort } from '../../test/helpers/free-port.ts';
import { startServer, type ServerChild } from './children.ts';
import type { SoloPhaseOptions } from './phases.ts';

export type Mode = 'home' | 'pull';

/** What each mode changes in the run's Warble configuration. */
export const MODE_ENV: Record<Mode, Record<string, string>> = {
  home: { JOB_WORKER: 'true' },
  pull: { HOME_TIMELINE_CAP: '0', JOB_WORKER: 'false' },
};

export class HomeServers {
  readonly #options: SoloPhaseOptions;
  readonly #secret = randomBytes(32).toString('base64url');
  readonly #started = new Set<ServerChild>();

  constructor(options: SoloPhaseOptions) {
    this.#options = options;
  }

  /** Warble in `mode`, pinned with PostgreSQL, or to `cores` (the load generator's: "beside the load"). */
  async warble(mode: Mode, name: string, cores?: string | null): Promise<ServerChild> {
    const port = await freePort();
    return this.#start({
      name,
      script: 'warble.ts',
      port,
      env: {
        ...this.#options.warbleEnv,
        ...MODE_ENV[mode],
        PORT: String(port),
        DATABASE_URL: this.#options.databaseUrl,
        JWT_SECRET: this.#secret,
      },
      readyPath: '/readyz',
      cores,
    });
  }

  /** The yardsticks of the main table: bare node:http (the ceiling) and tRPC + Fastify hello (the peer). */
  async yardstick(which: 'ceiling' | 'peer'): Promise<ServerChild> {
    const port = await freePort();
    return this.#start({
      name: which,
      script: which === 'ceiling' ? 'bare-http.ts' : 'trpc-hello.ts',
      port,
      env: { NODE_ENV: 'production' },
      readyPath: which === 'ceiling' ? '/' : '/trpc/hello',
    });
  }

  async #start(spec: Parameters<typeof startServer>[0]): Promise<ServerChild> {
    const server = await startServer(spec, this.#options.pinning);
    this.#started.add(server);
    const stop = server.stop.bind(server);
    return {
      ...server,
      stop: async () => {
        this.#started.delete(server);
        await stop();
        if (this.#started.size === 0) await this.unlockJobs();
      },
    };
  }

  /**
   * Frees the jobs that a stopped process's worker still holds: a process killed while a job ran
   * (its stop waits 15 s) leaves the job and its queue locked for graphile-worker's four hours, and
   * home_fanout runs one job at a time. Only when none of the phase's processes runs: every worker
   * on the bench database is one of ours.
   */
  async unlockJobs(): Promise<void> {
    const pool = await this.#options.em().getConnection().getNativeClient();
    const { rows } = await pool.query<{ workers: string[] }>(
      `select array(select locked_by from graphile_worker._private_jobs where locked_by is not null
                    union select locked_by from graphile_worker._private_job_queues where locked_by is not null) as workers`,
    );
    const workers = rows[0]?.workers ?? [];
    if (workers.length === 0) return;
    this.#options.log(`home  unlocking the jobs of ${workers.length} stopped job worker(s)`);
    await pool.query('select graphile_worker.force_unlock_workers($1::text[])', [workers]);
  }

  /** Stops whatever is still running (also on Ctrl-C, through the run's clean-ups). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#started].map((server) => server.stop()));
    this.#started.clear();
  }
}
