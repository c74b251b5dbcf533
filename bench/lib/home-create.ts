// The home phase's writes: posts.create on Warble with home timelines and its job worker (the
// fan-out runs in the same process, as in production) against the same Warble as it was before
// issue #17 (HOME_TIMELINE_CAP=0, JOB_WORKER=false). Each run gets a fresh server of its own, alone
// on the server cores (an idle Warble process would read every new post from the log, and one with
// a worker would fan out the other's posts), and ends with its posts taken out again, so every run
// starts from the same data. With home timelines, the probe (home-probe-worker.ts) measures the
// fan-out lag and samples the queue during the run; the run ends when the fan-out has drained.
import type { EntityManager } from '@mikro-orm/postgresql';
import { cpuSeconds, type ServerChild } from './children.ts';
import { closedLoop } from './closed-loop.ts';
import type { HttpRequest } from './http-request.ts';
import { removeRunPosts } from './home-data.ts';
import type { HomeProbe } from './home-probe.ts';
import type { ProbeResult, QueueSample } from './home-probe-worker.ts';
import type { HomeServers, Mode } from './home-servers.ts';
import { openLoop } from './open-loop.ts';
import { median, num, ratio, spread, type Spread } from './stats.ts';

/** The probe author posts this often during a run. */
export const PROBE_INTERVAL_MS = 200;
/** …and this often in the quiet test (no other load). */
const QUIET_INTERVAL_MS = 100;
/** The fan-out must have read every post-log row this long after the load ended. */
const DRAIN_TIMEOUT_MS = 120_000;
const DRAIN_POLL_MS = 25;
const WARM_UP_SECONDS = 1;
/** Open loop at this share of posts.create's maximum with home timelines: a busy, sustainable rate. */
export const OPEN_LOAD = 0.5;

export interface CreateRun {
  mode: Mode;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
  /** What the run wrote: posts (the probe's included), home timeline entries, WAL. */
  posts: number;
  entries: number;
  walBytes: number;
  /** CPU per post (µs) over the load and, with home timelines, until the fan-out drained. */
  warbleCpuUs: number;
  postgresCpuUs: number;
  /** From the load's end until the fan-out had read the whole post log; null: not within the timeout. */
  drainMs: number | null;
  /** graphile-worker jobs created (its id sequence): each is one run of the fan-out task or more. */
  jobs: number;
  queue: QueueSummary | null;
  lag: ProbeResult | null;
}

export interface QueueSummary {
  samples: number;
  maxJobs: number;
  maxBehind: number;
  /** Rows behind in the last sample of the load. */
  endBehind: number;
  /** Age of the oldest unread row, highest sample: how far the fan-out fell behind in time. */
  maxOldestMs: number;
}

export interface HomeWrites {
  posters: number;
  closed: { home: CreateRun[]; pull: CreateRun[]; homeRps: Spread; pullRps: Spread; ratio: number };
  /** Home timelines at OPEN_LOAD of their own closed-loop maximum, open loop: busy but sustainable. */
  open: { rate: number; runs: CreateRun[] } | null;
  /** The probe alone, no other load. */
  quiet: ProbeResult;
}

export interface WritesOptions {
  servers: HomeServers;
  /** PostgreSQL's CPU seconds so far (children.ts postgresCpuSeconds). */
  postgresCpu: () => number;
  em: () => EntityManager;
  probe: HomeProbe;
  probeToken: string;
  /** Whose posts a run leaves behind: the posters and the probe author. */
  authorIds: string[];
  rounds: number;
  durationSeconds: number;
  connections: number;
  log: (line: string) => void;
}

async function walLsn(em: EntityManager): Promise<string> {
  const [row] = await em.getConnection().execute<{ lsn: string }[]>('select pg_current_wal_lsn()::text as lsn');
  return row!.lsn;
}

/** Jobs created so far: the last value of the jobs' id sequence (sequences are not transactional). */
async function jobsCreated(em: EntityManager): Promise<number> {
  const [row] = await em.getConnection().execute<{ jobs: string | null }[]>(
    `select last_value as jobs from pg_sequences
     where schemaname = 'graphile_worker'
       and sequencename = (parse_ident(pg_get_serial_sequence('graphile_worker._private_jobs', 'id')))[2]`,
  );
  return Number(row?.jobs ?? 0);
}

async function walSince(em: EntityManager, lsn: string): Promise<number> {
  const [row] = await em
    .getConnection()
    .execute<{ bytes: number }[]>('select pg_wal_lsn_diff(pg_current_wal_lsn(), ?)::float8 as bytes', [lsn]);
  return Number(row!.bytes);
}

/** Waits until the fan-out has read every row of the post log; ms since `from`, or null after the timeout. */
export async function drain(em: EntityManager, from: number): Promise<number | null> {
  const connection = em.getConnection();
  while (performance.now() - from < DRAIN_TIMEOUT_MS) {
    const [row] = await connection.execute<{ behind: number }[]>(
      `select count(*)::int as behind
       from home_fanout_cursor c join timeline_events e on (e.tx, e.id) > (c.tx, c.event_id)`,
    );
    if (row?.behind === 0) return performance.now() - from;
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
  return null;
}

export function queueSummary(samples: QueueSample[]): QueueSummary {
  return {
    samples: samples.length,
    maxJobs: Math.max(0, ...samples.map((s) => s.jobs)),
    maxBehind: Math.max(0, ...samples.map((s) => s.behind)),
    endBehind: samples.at(-1)?.behind ?? 0,
    maxOldestMs: Math.max(0, ...samples.map((s) => s.oldestMs)),
  };
}

export async function homeWrites(options: WritesOptions, requests: HttpRequest[]): Promise<HomeWrites> {
  const { log } = options;
  const em = options.em();
  const clear = (since: Date) => removeRunPosts(em, options.authorIds, since);

  type LoadResult = Pick<CreateRun, 'rps' | 'p50Ms' | 'p99Ms' | 'failed'>;

  /**
   * One measured run on `server`: `load` sends the requests while the probe posts beside them (and,
   * with home timelines, polls for its posts' entries and samples the queue); then the drain.
   */
  async function measured(mode: Mode, server: ServerChild, label: string, load: () => Promise<LoadResult>) {
    const since = new Date();
    const lsn = await walLsn(em);
    const jobs = await jobsCreated(em);
    const cpu = { warble: cpuSeconds(server.pid), postgres: options.postgresCpu() };
    await options.probe.start(server.origin, options.probeToken, mode === 'home', PROBE_INTERVAL_MS, label);
    const result = await load();
    const ended = performance.now();
    // Stops the probe's posts, waits for their entries; then the rest of the log.
    const probed = await options.probe.stop(DRAIN_TIMEOUT_MS);
    const drainMs = mode === 'home' ? await drain(em, ended) : null;
    const warbleCpu = cpuSeconds(server.pid) - cpu.warble;
    const postgresCpu = options.postgresCpu() - cpu.postgres;
    const walBytes = await walSince(em, lsn);
    const jobsAfter = await jobsCreated(em);
    const removed = await clear(since);
    const lag = mode === 'home' ? probed : null;
    const run: CreateRun = {
      mode,
      ...result,
      posts: removed.posts,
      entries: removed.entries,
      walBytes,
      warbleCpuUs: (warbleCpu * 1e6) / removed.posts,
      postgresCpuUs: (postgresCpu * 1e6) / removed.posts,
      drainMs,
      jobs: jobsAfter - jobs,
      queue: lag ? queueSummary(lag.samples) : null,
      lag,
    };
    log(
      `${label.padEnd(40)} ${num(run.rps).padStart(7)} req/s  p50 ${num(run.p50Ms)} ms  p99 ${num(run.p99Ms)} ms` +
        `  per post: ${num(run.walBytes / run.posts)} B WAL, CPU Warble ${num(run.warbleCpuUs)} µs, ` +
        `PostgreSQL ${num(run.postgresCpuUs)} µs` +
        (run.queue && lag
          ? `, ${num(run.entries / run.posts)} entries; ${run.jobs} jobs created; queue ≤ ${num(run.queue.maxBehind)} rows ` +
            `(oldest ≤ ${num(run.queue.maxOldestMs)} ms), ${run.queue.maxJobs} jobs; drained ` +
            `${run.drainMs === null ? 'NOT within 120 s' : `${num(run.drainMs)} ms after`}; lag p50 ` +
            `${num(median(lag.lagsMs))} ms, ${lag.missing} missing`
          : '') +
        (run.failed ? `  !! ${run.failed} failed` : ''),
    );
    return run;
  }

  /** A fresh server in `mode`, warmed up (its warm-up's posts fanned out and taken out again), for `task`. */
  async function onServer<T>(mode: Mode, task: (server: ServerChild) => Promise<T>): Promise<T> {
    const server = await options.servers.warble(mode, `warble ${mode}, posts.create`);
    try {
      const since = new Date();
      await closedLoop(server.origin, requests, { connections: options.connections, durationSeconds: WARM_UP_SECONDS });
      if (mode === 'home' && (await drain(em, performance.now())) === null) {
        throw new Error('the fan-out did not drain the warm-up');
      }
      await clear(since);
      return await task(server);
    } finally {
      await server.stop();
    }
  }

  const closedRun = (mode: Mode, round: number) =>
    onServer(mode, (server) =>
      measured(
        mode,
        server,
        `round ${round}/${options.rounds}  create ${mode === 'home' ? 'home + worker' : 'pull, no worker'}`,
        async () => {
          const r = await closedLoop(server.origin, requests, {
            connections: options.connections,
            durationSeconds: options.durationSeconds,
          });
          return { rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, failed: r.non2xx + r.errors };
        },
      ),
    );

  const home: CreateRun[] = [];
  const pull: CreateRun[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    // Alternating which goes first: a slow drift of the machine spreads over both.
    for (const mode of round % 2 ? (['home', 'pull'] as const) : (['pull', 'home'] as const)) {
      (mode === 'home' ? home : pull).push(await closedRun(mode, round));
    }
  }
  const homeRps = spread(home.map((r) => r.rps));
  const pullRps = spread(pull.map((r) => r.rps));

  // On one more server with home timelines: the probe alone, then the open-loop runs at half the
  // closed loop's rate (the closed loop's lag is that of a queue that grows while the load lasts).
  const rate = homeRps.median * OPEN_LOAD;
  const { quiet, open } = await onServer('home', async (server) => {
    const { origin } = server;
    const quietSince = new Date();
    await options.probe.start(origin, options.probeToken, true, QUIET_INTERVAL_MS, 'quiet');
    await new Promise((resolve) => setTimeout(resolve, options.durationSeconds * 1000));
    const quietResult = await options.probe.stop(DRAIN_TIMEOUT_MS);
    await clear(quietSince);
    log(
      `create, probe alone: ${quietResult.lagsMs.length} posts every ${QUIET_INTERVAL_MS} ms, lag p50 ` +
        `${num(median(quietResult.lagsMs))} ms, max ${num(Math.max(...quietResult.lagsMs))} ms, ${quietResult.missing} missing`,
    );
    const runs: CreateRun[] = [];
    if (!(rate > 0)) return { quiet: quietResult, open: null };
    for (let round = 1; round <= options.rounds; round++) {
      runs.push(
        await measured(
          'home',
          server,
          `round ${round}/${options.rounds}  create home, ${num(rate)}/s open`,
          async () => {
            const r = await openLoop(origin, requests, {
              rate,
              durationSeconds: options.durationSeconds,
              connections: options.connections,
            });
            return { rps: r.ok / options.durationSeconds, p50Ms: r.p50Ms, p99Ms: r.p99Ms, failed: r.non2xx + r.errors };
          },
        ),
      );
    }
    return { quiet: quietResult, open: { rate, runs } };
  });
  return {
    posters: requests.length,
    closed: { home, pull, homeRps, pullRps, ratio: ratio(homeRps.median, pullRps.median) },
    open,
    quiet,
  };
}
